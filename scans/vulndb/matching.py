"""Pure matching: SBOM packages + advisories -> findings (no ORM, no clock, no settings).

``services.py`` loads what is needed from the database (the ``Affected`` rows for the
packages' lookup keys, vulnerability facts, KEV and EPSS entries) and hands it in here.

De-duplication rule (one vulnerability reported under several ids shows once): for one
package of one image, matched records whose ids/aliases overlap (A's id is among B's aliases,
or they share an alias such as a CVE) form one alias group and produce one finding. Its
representative is, in order: a record that already has a finding for this package (so a new
alias never churns an existing finding), then a record with a CVSS vector, then the smallest
id. The other ids go into the finding's ``aliases``; severity falls back to another member's
when the representative has none; KEV and EPSS consider every CVE of the group (ids,
aliases and ``upstream``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from .matchers import Distro, Matcher, PackageRef, matcher_for_package
from .matchers.base import AffectedData, fix_candidates, is_affected

__all__ = [
    "FindingData",
    "MatchList",
    "VulnInfo",
    "expand_ecosystems",
    "lookup_keys",
    "match_packages",
]

SEVERITY_ORDER = {"critical": 4, "high": 3, "medium": 2, "low": 1, "unknown": 0}


@dataclass(frozen=True)
class VulnInfo:
    """The facts of one Vulnerability row that a finding carries."""

    pk: int
    osv_id: str
    aliases: tuple[str, ...] = ()
    upstream: tuple[str, ...] = ()
    severity: str = "unknown"
    cvss_score: float | None = None
    cvss_vector: str = ""
    summary: str = ""

    @property
    def cves(self) -> set[str]:
        return {i for i in (self.osv_id, *self.aliases, *self.upstream) if i.startswith("CVE-")}


@dataclass
class FindingData:
    """One finding as matching produced it; ``as_dict`` gives the DESIGN.md finding object."""

    package: str
    version: str
    ecosystem: str
    purl: str
    source_name: str
    package_key: str
    vulnerability: str
    vulnerability_pk: int
    aliases: list[str]
    severity: str
    cvss_score: float | None
    fixed_version: str
    summary: str = ""
    kev: bool = False
    kev_due: date | None = None
    epss: float | None = None
    epss_percentile: float | None = None
    status: str = "open"

    def as_dict(self, image_ref: str, digest: str) -> dict[str, Any]:
        return {
            "image": image_ref,
            "digest": digest,
            "package": self.package,
            "version": self.version,
            "ecosystem": self.ecosystem,
            "purl": self.purl,
            "source_name": self.source_name,
            "vulnerability": self.vulnerability,
            "aliases": list(self.aliases),
            "summary": self.summary,
            "severity": self.severity,
            "cvss_score": self.cvss_score,
            "fixed_version": self.fixed_version,
            "status": self.status,
            "kev": self.kev,
            "kev_due": self.kev_due.isoformat() if self.kev_due else None,
            "epss": self.epss,
            "epss_percentile": self.epss_percentile,
        }


class MatchList(list):
    """A list of FindingData plus ``coverage_warnings`` (e.g. "no vulnerability data for
    Debian 13"): an SBOM with such a warning is not clean, it is unknown."""

    def __init__(self, items: Iterable[FindingData] = (), warnings: Iterable[str] = ()):
        super().__init__(items)
        self.coverage_warnings: list[str] = list(warnings)


def expand_ecosystems(patterns: list[str], known: set[str]) -> list[str]:
    """Exact ecosystems plus every known ecosystem starting with a ``"Prefix:"`` pattern."""
    out: list[str] = []
    for pattern in patterns:
        if pattern.endswith(":"):
            out.extend(sorted(e for e in known if e.startswith(pattern)))
        elif pattern in known:
            out.append(pattern)
    return list(dict.fromkeys(out))


@dataclass
class _Plan:
    by_package: dict[PackageRef, tuple[Matcher, list[tuple[str, str]]]] = field(
        default_factory=dict
    )
    warnings: list[str] = field(default_factory=list)


def lookup_keys(packages: Iterable[PackageRef], distro: Distro, known: set[str]) -> _Plan:
    """Decide, per package, its matcher and the ``(ecosystem, normalized name)`` keys to look
    up; collect coverage warnings for data sets that have no data at all."""
    plan = _Plan()
    uncovered: dict[str, int] = defaultdict(int)
    unsupported: dict[str, int] = defaultdict(int)
    for package in packages:
        matcher = matcher_for_package(package.ecosystem)
        if matcher is None:
            unsupported[package.ecosystem or "unknown"] += 1
            continue
        ecosystems = expand_ecosystems(matcher.osv_ecosystems(distro), known)
        if not ecosystems:
            label = matcher.release_label(distro) if matcher.is_distro else matcher.name
            uncovered[label] += 1
            continue
        names = [matcher.normalize_name(n) for n in matcher.query_names(package)]
        plan.by_package[package] = (matcher, [(e, n) for e in ecosystems for n in names])
    for label, count in sorted(uncovered.items()):
        plan.warnings.append(f"no vulnerability data for {label} ({count} packages not matched)")
    for eco, count in sorted(unsupported.items()):
        plan.warnings.append(f"{count} {eco} packages not matched: ecosystem not supported")
    return plan


def match_packages(
    plan: _Plan,
    advisories: Mapping[tuple[str, str], list[AffectedData]],
    vulns: Mapping[int, VulnInfo],
    kev: Mapping[str, date | None] | None = None,
    epss: Mapping[str, tuple[float, float]] | None = None,
    prefer: Mapping[str, set[int]] | None = None,
) -> MatchList:
    """Match every planned package; one FindingData per (package key, alias group).

    ``advisories`` maps lookup keys to affected entries of live (not withdrawn) records;
    ``prefer`` maps package keys to vulnerability pks that already have findings there.
    """
    out = MatchList(warnings=plan.warnings)
    seen_keys: set[tuple[str, int]] = set()
    for package, (matcher, keys) in plan.by_package.items():
        hits: dict[int, list[AffectedData]] = defaultdict(list)
        for key in keys:
            for entry in advisories.get(key, ()):
                if entry.vulnerability_id in vulns:
                    hits[entry.vulnerability_id].append(entry)
        version = matcher.installed_version(package)
        matched = {
            pk: entries
            for pk, entries in hits.items()
            if any(is_affected(matcher, version, e) for e in entries)
        }
        preferred = (prefer or {}).get(package.key, set())
        for group in _alias_groups([vulns[pk] for pk in matched]):
            rep = _representative(group, preferred)
            if (package.key, rep.pk) in seen_keys:
                continue  # the same package listed twice in one SBOM (same purl)
            seen_keys.add((package.key, rep.pk))
            fixed = _fixed_version(matcher, version, matched[rep.pk])
            if not fixed:
                fixed = next(
                    (f for m in group if (f := _fixed_version(matcher, version, matched[m.pk]))),
                    "",
                )
            out.append(_finding(package, rep, group, fixed, kev or {}, epss or {}))
    return out


def _fixed_version(matcher: Matcher, version: str, entries: list[AffectedData]) -> str:
    """The smallest ``fixed`` above the installed version that the record does not itself
    list as affected (overlapping ranges: GHSA-r683-j2x4-v87g); else the smallest one."""
    candidates = fix_candidates(matcher, version, entries)
    for candidate in candidates:
        if not any(is_affected(matcher, candidate, e) for e in entries):
            return candidate
    return candidates[0] if candidates else ""


def _alias_groups(infos: list[VulnInfo]) -> list[list[VulnInfo]]:
    parent = list(range(len(infos)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    owner: dict[str, int] = {}
    for i, info in enumerate(infos):
        for name in (info.osv_id, *info.aliases):
            if name in owner:
                parent[find(i)] = find(owner[name])
            else:
                owner[name] = i
    groups: dict[int, list[VulnInfo]] = defaultdict(list)
    for i, info in enumerate(infos):
        groups[find(i)].append(info)
    return list(groups.values())


def _representative(group: list[VulnInfo], preferred: set[int]) -> VulnInfo:
    return min(group, key=lambda v: (v.pk not in preferred, not v.cvss_vector, v.osv_id))


def _finding(package, rep, group, fixed, kev, epss) -> FindingData:
    names = {n for m in group for n in (m.osv_id, *m.aliases)} - {rep.osv_id}
    rated = [m for m in [rep, *group] if m.severity != "unknown"]
    best = rated[0] if rated else rep
    cves = set().union(*(m.cves for m in group))
    kev_hits = [cve for cve in sorted(cves) if cve in kev]
    epss_hits = [epss[cve] for cve in cves if cve in epss]
    due_dates = [kev[c] for c in kev_hits if kev[c]]
    return FindingData(
        package=package.name,
        version=package.version,
        ecosystem=package.ecosystem,
        purl=package.purl,
        source_name=package.source_name,
        package_key=package.key,
        vulnerability=rep.osv_id,
        vulnerability_pk=rep.pk,
        aliases=sorted(names),
        severity=best.severity,
        cvss_score=best.cvss_score,
        fixed_version=fixed,
        summary=rep.summary,
        kev=bool(kev_hits),
        kev_due=min(due_dates) if due_dates else None,
        epss=max(s for s, _p in epss_hits) if epss_hits else None,
        epss_percentile=max(p for _s, p in epss_hits) if epss_hits else None,
    )
