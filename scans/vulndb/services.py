"""ORM <-> matching glue: match stored SBOMs and keep Finding rows current.

Findings stay current without pulling images: after an import, ``rematch_all(changed_keys)``
re-matches only the SBOM packages named by the changed records (their ``(ecosystem, name)``
lookup keys, old and new), opening new findings and resolving those whose advisory no longer
applies (range changed, record withdrawn). ``first_seen`` is kept across re-matches; a finding
that comes back after being resolved is re-opened with its original ``first_seen``.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from scans.models import Image, Package, Sbom

from .matchers import Distro, PackageRef, matcher_for_osv_ecosystem
from .matchers.base import AffectedData
from .matching import MatchList, VulnInfo, lookup_keys, match_packages
from .models import (
    Affected,
    Finding,
    FindingStatus,
    ImportSource,
    Vulnerability,
)
from .priority import (
    load_epss,
    load_kev,
    recompute_priority,
    refresh_enrichment,
)

__all__ = [
    "ImportReport",
    "SyncResult",
    "data_as_of",
    "data_as_of_by_source",
    "import_sources",
    "match_sbom",
    "recompute_priority",
    "refresh_enrichment",
    "rematch_all",
    "sync_findings",
]

log = logging.getLogger(__name__)
Key = tuple[str, str]
_CHUNK = 500
_FINDING_FIELDS = [
    "status",
    "last_seen",
    "resolved_at",
    "fixed_version",
    "severity",
    "cvss_score",
    "aliases",
    "kev",
    "kev_due",
    "epss",
    "epss_percentile",
    "package_name",
    "package_version",
    "ecosystem",
    "purl",
    "source_name",
]


@dataclass
class SyncResult:
    opened: int = 0
    resolved: int = 0
    unchanged: int = 0
    images: int = 0
    sboms: int = 0
    coverage_warnings: list[str] = field(default_factory=list)
    #: Vulnerability pks whose findings were written (their priorities need recomputing).
    touched: set[int] = field(default_factory=set, repr=False)

    def __add__(self, other: SyncResult) -> SyncResult:
        return SyncResult(
            self.opened + other.opened,
            self.resolved + other.resolved,
            self.unchanged + other.unchanged,
            self.images + other.images,
            self.sboms + other.sboms,
            list(dict.fromkeys(self.coverage_warnings + other.coverage_warnings)),
            self.touched | other.touched,
        )

    def as_dict(self) -> dict:
        return {
            "opened": self.opened,
            "resolved": self.resolved,
            "unchanged": self.unchanged,
            "images": self.images,
            "sboms": self.sboms,
            "coverage_warnings": self.coverage_warnings,
        }


# --- Loading ---


def distro_of(sbom: Sbom) -> Distro:
    return Distro(
        id=(sbom.os_id or "").lower(),
        version=sbom.os_version or "",
        codename=(sbom.os_codename or "").lower(),
    )


def package_refs(sbom: Sbom) -> list[PackageRef]:
    rows = Package.objects.filter(sbom=sbom).values_list(
        "name", "version", "ecosystem", "purl", "source_name", "source_version"
    )
    return [PackageRef(*row) for row in rows]


def known_ecosystems() -> set[str]:
    """OSV ecosystems with at least one live (not withdrawn) record."""
    return set(
        Affected.objects.filter(vulnerability__withdrawn__isnull=True)
        .values_list("ecosystem", flat=True)
        .distinct()
    )


def _load_advisories(keys: set[Key]) -> dict[Key, list[AffectedData]]:
    by_ecosystem: dict[str, list[str]] = defaultdict(list)
    for ecosystem, name in keys:
        by_ecosystem[ecosystem].append(name)
    out: dict[Key, list[AffectedData]] = defaultdict(list)
    for ecosystem, names in by_ecosystem.items():
        for i in range(0, len(names), _CHUNK):
            rows = Affected.objects.filter(
                ecosystem=ecosystem,
                normalized_name__in=names[i : i + _CHUNK],
                vulnerability__withdrawn__isnull=True,
            ).values_list("vulnerability_id", "ecosystem", "normalized_name", "ranges", "versions")
            for pk, eco, name, ranges, versions in rows:
                out[(eco, name)].append(AffectedData(pk, eco, name, ranges, versions))
    return out


def _load_vulns(pks: Iterable[int]) -> dict[int, VulnInfo]:
    rows = Vulnerability.objects.filter(pk__in=list(pks)).values_list(
        "pk", "osv_id", "aliases", "upstream", "severity", "cvss_score", "cvss_vector", "summary"
    )
    return {
        pk: VulnInfo(pk, osv_id, tuple(al), tuple(up), sev, score, vector, summary)
        for pk, osv_id, al, up, sev, score, vector, summary in rows
    }


# --- Matching ---


def match_sbom(
    sbom: Sbom,
    prefer: dict[str, set[int]] | None = None,
    only_keys: set[Key] | None = None,
    known: set[str] | None = None,
) -> MatchList:
    """Match an SBOM against the stored advisories (a pure read).

    Returns a MatchList of FindingData (one per package and alias group) whose
    ``coverage_warnings`` name data sets with no data (e.g. "no vulnerability data for
    Debian 13"). ``only_keys`` limits matching to packages looked up under those keys.
    """
    plan = lookup_keys(
        package_refs(sbom), distro_of(sbom), known if known is not None else known_ecosystems()
    )
    if only_keys is not None:
        plan.by_package = {
            p: (m, keys) for p, (m, keys) in plan.by_package.items() if only_keys & set(keys)
        }
    wanted = {key for _m, keys in plan.by_package.values() for key in keys}
    advisories = _load_advisories(wanted)
    vulns = _load_vulns({a.vulnerability_id for rows in advisories.values() for a in rows})
    cves = set().union(*(v.cves for v in vulns.values())) if vulns else set()
    return match_packages(plan, advisories, vulns, load_kev(cves), load_epss(cves), prefer)


def _prefer_for(images: list[Image], package_keys: set[str] | None) -> dict[str, set[int]]:
    qs = Finding.objects.filter(image__in=images)
    if package_keys is not None:
        qs = qs.filter(package_key__in=package_keys)
    prefer: dict[str, set[int]] = defaultdict(set)
    for key, pk in qs.values_list("package_key", "vulnerability_id"):
        prefer[key].add(pk)
    return prefer


def sync_findings(image: Image, now: datetime | None = None) -> SyncResult:
    """Create/resolve the Finding rows of one image from its SBOM (idempotent).

    Returns the counts; ``coverage_warnings`` say when a data set was missing. An image
    without an SBOM changes nothing.
    """
    if image.sbom_id is None:
        return SyncResult()
    result = _sync_sbom(image.sbom, [image], None, None, now or timezone.now())
    if result.touched:
        # Only the vulnerabilities written here changed their spread over the organization.
        recompute_priority(image.registry.organization_id, result.touched)
    return result


def _sync_sbom(sbom, images, only_keys, known, now) -> SyncResult:
    subset_keys = None
    if only_keys is not None:
        # The changed ecosystems count as known here even when their last live record was
        # just withdrawn: the packages they name must be re-matched so findings resolve.
        with_changed = (known or known_ecosystems()) | {eco for eco, _name in only_keys}
        plan = lookup_keys(package_refs(sbom), distro_of(sbom), with_changed)
        subset_keys = {p.key for p, (_m, keys) in plan.by_package.items() if only_keys & set(keys)}
        if not subset_keys:
            return SyncResult(sboms=1)
    prefer = _prefer_for(images, subset_keys)
    matches = match_sbom(sbom, prefer=prefer, only_keys=only_keys, known=known)
    result = SyncResult(sboms=1, coverage_warnings=list(matches.coverage_warnings))
    for image in images:
        result = result + _apply(image, matches, subset_keys, now)
    return result


def _values(match) -> dict:
    return {
        "fixed_version": match.fixed_version,
        "severity": match.severity,
        "cvss_score": match.cvss_score,
        "aliases": match.aliases,
        "kev": match.kev,
        "kev_due": match.kev_due,
        "epss": match.epss,
        "epss_percentile": match.epss_percentile,
        "package_name": match.package,
        "package_version": match.version,
        "ecosystem": match.ecosystem,
        "purl": match.purl,
        "source_name": match.source_name,
    }


def _apply(image: Image, matches: MatchList, subset_keys, now: datetime) -> SyncResult:
    existing = Finding.objects.filter(image=image)
    if subset_keys is not None:
        existing = existing.filter(package_key__in=subset_keys)
    by_key = {(f.package_key, f.vulnerability_id): f for f in existing}
    result = SyncResult(images=1)
    creates, updates, seen = [], [], set()
    for match in matches:
        key = (match.package_key, match.vulnerability_pk)
        seen.add(key)
        values = _values(match)
        finding = by_key.get(key)
        if finding is None:
            creates.append(
                Finding(
                    image=image,
                    vulnerability_id=match.vulnerability_pk,
                    package_key=match.package_key,
                    first_seen=now,
                    last_seen=now,
                    **values,
                )
            )
            result.opened += 1
            continue
        changed = any(getattr(finding, k) != v for k, v in values.items())
        for k, v in values.items():
            setattr(finding, k, v)
        if finding.status == FindingStatus.RESOLVED:
            finding.status, finding.resolved_at = FindingStatus.OPEN, None
            result.opened += 1
            changed = True
        else:
            result.unchanged += 1
        if changed:
            finding.last_seen = now
            updates.append(finding)
    for key, finding in by_key.items():
        if key not in seen and finding.status == FindingStatus.OPEN:
            finding.status, finding.resolved_at = FindingStatus.RESOLVED, now
            updates.append(finding)
            result.resolved += 1
    result.touched = {f.vulnerability_id for f in [*creates, *updates]}
    with transaction.atomic():
        # ignore_conflicts: a concurrent sync of the same image may have created the row.
        Finding.objects.bulk_create(creates, batch_size=500, ignore_conflicts=True)
        Finding.objects.bulk_update(updates, _FINDING_FIELDS, batch_size=500)
    return result


def _candidate_sboms(changed_keys: set[Key]) -> set[int]:
    """SBOM ids holding a package that any of these lookup keys could name."""
    names_by_matcher: dict[str, set[str]] = defaultdict(set)
    matchers = {}
    for ecosystem, name in changed_keys:
        matcher = matcher_for_osv_ecosystem(ecosystem)
        if matcher is not None:
            names_by_matcher[matcher.name].add(name)
            matchers[matcher.name] = matcher
    wanted: dict[str, set[str]] = defaultdict(set)  # package ecosystem -> package names
    for m_name, matcher in matchers.items():
        triples = (
            Package.objects.filter(ecosystem__in=matcher.package_ecosystems)
            .values_list("ecosystem", "name", "source_name")
            .distinct()
        )
        for eco, name, source in triples:
            ref = PackageRef(name=name, version="", ecosystem=eco, source_name=source)
            names = {matcher.normalize_name(n) for n in matcher.query_names(ref)}
            if names & names_by_matcher[m_name]:
                wanted[eco].add(name)
    sbom_ids: set[int] = set()
    for eco, names in wanted.items():
        names = sorted(names)
        for i in range(0, len(names), _CHUNK):
            sbom_ids.update(
                Package.objects.filter(ecosystem=eco, name__in=names[i : i + _CHUNK])
                .values_list("sbom_id", flat=True)
                .distinct()
            )
    return sbom_ids


def rematch_all(changed_keys: set[Key] | None = None, now: datetime | None = None) -> SyncResult:
    """Re-match stored SBOMs of every image (all packages, or only those named by
    ``changed_keys``, a set of ``(osv ecosystem, normalized name)``) and sync findings.

    Returns the summed SyncResult. Priorities are recomputed at the end.
    """
    now = now or timezone.now()
    known = known_ecosystems()
    sboms = Sbom.objects.filter(images__isnull=False).distinct()
    if changed_keys is not None:
        sboms = sboms.filter(pk__in=_candidate_sboms(set(changed_keys)))
    result = SyncResult()
    images_by_sbom: dict[int, list[Image]] = defaultdict(list)
    for image in Image.objects.filter(sbom__in=sboms).order_by("pk"):
        images_by_sbom[image.sbom_id].append(image)
    for sbom in sboms.order_by("pk"):
        keys = set(changed_keys) if changed_keys is not None else None
        result = result + _sync_sbom(sbom, images_by_sbom[sbom.pk], keys, known, now)
    recompute_priority()
    return result


# --- Data freshness ---


def data_as_of() -> datetime | None:
    """Time of the newest import across all sources, or None before the first import."""
    return ImportSource.objects.aggregate(t=Max("last_imported_at"))["t"]


def data_as_of_by_source() -> dict[str, datetime | None]:
    """``{source name: last import time}`` for every imported location."""
    return dict(ImportSource.objects.values_list("name", "last_imported_at"))


# --- Import + re-match ---


@dataclass
class ImportReport:
    """What ``import_sources`` did: one SourceReport per location, the re-match result, and
    the errors (``format_errors``: refused inputs; ``unavailable``: unreadable locations)."""

    sources: list = field(default_factory=list)
    rematch: SyncResult | None = None
    format_errors: list[str] = field(default_factory=list)
    unavailable: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.format_errors and not self.unavailable

    def as_dict(self) -> dict:
        as_of = data_as_of()
        return {
            "sources": [s.as_dict() for s in self.sources],
            "rematch": self.rematch.as_dict() if self.rematch else None,
            "errors": self.format_errors + self.unavailable,
            "data_as_of": as_of.isoformat() if as_of else None,
        }


def import_sources(locations: list[str], rematch: bool = True) -> ImportReport:
    """Import every location (paths or URLs), then re-match the SBOM packages named by
    changed records and refresh KEV/EPSS on open findings.

    Never raises for a bad location: it is listed in ``format_errors`` or ``unavailable``
    (messages name the location without credentials) and the others are still imported.
    """
    from .importers import ImportFormatError, SourceUnavailable, import_location

    report = ImportReport()
    changed: set[Key] = set()
    enrichment = False
    for location in locations:
        try:
            source = import_location(location)
        except ImportFormatError as exc:
            report.format_errors.append(str(exc))
            continue
        except SourceUnavailable as exc:
            report.unavailable.append(str(exc))
            continue
        for part in (source, *source.also):
            report.sources.append(part)
            changed |= part.changed_keys
            enrichment = enrichment or (part.kind in ("kev", "epss") and part.records > 0)
    if rematch:
        report.rematch = rematch_all(changed) if changed else SyncResult()
        if enrichment:
            refresh_enrichment()
    return report
