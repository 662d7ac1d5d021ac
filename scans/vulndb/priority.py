"""Triage priority of open findings, and KEV/EPSS enrichment after a KEV or EPSS import.

The components (severity, KEV and its due date, EPSS, running in a cluster, fix available,
images and ``latest`` tags affected in the organization) are stored on each finding so the UI
can show why it ranks where it does.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import date

from django.db.models import Count

from .models import EpssScore, Finding, FindingStatus, KevEntry

__all__ = ["load_epss", "load_kev", "priority_of", "recompute_priority", "refresh_enrichment"]

_CHUNK = 500


def load_kev(cves: set[str]) -> dict[str, date | None]:
    """``{cve: KEV due date or None}`` for the CVEs in the KEV catalog."""
    return dict(KevEntry.objects.filter(cve__in=list(cves)).values_list("cve", "due_date"))


def load_epss(cves: set[str]) -> dict[str, tuple[float, float]]:
    """``{cve: (EPSS score, percentile)}`` for the CVEs that have one."""
    rows = EpssScore.objects.filter(cve__in=list(cves)).values_list("cve", "score", "percentile")
    return {cve: (score, pct) for cve, score, pct in rows}


SEVERITY_WEIGHT = {"critical": 40, "high": 30, "medium": 20, "low": 10, "unknown": 15}


def priority_of(components: dict) -> float:
    """Triage score, higher first (0-115).

    Severity weighs most (critical 40 ... low 10; unknown 15, as unknown is not safe);
    known exploitation (KEV) adds 30; EPSS adds up to 20 (its probability x 20); running in a
    Kubernetes cluster (k8sdiscover) adds 10; a fix adds 5 (actionable now); spread adds up
    to 5 for images (saturating at 20) and 5 for ``latest`` tags (saturating at 5).
    """
    score = SEVERITY_WEIGHT.get(components["severity"], 15)
    score += 30 if components["kev"] else 0
    score += 20 * (components["epss"] or 0)
    score += 10 if components.get("running") else 0
    score += 5 if components["fix_available"] else 0
    score += 5 * min(components["images"], 20) / 20
    score += 5 * min(components["latest_tags"], 5) / 5
    return round(score, 3)


def recompute_priority(
    org_id: int | None = None, vulnerability_ids: Iterable[int] | None = None
) -> int:
    """Recompute spread counts and priority of open findings (of one organization or all;
    of some vulnerabilities or all), in bulk. Returns the number of rows changed."""
    open_qs = Finding.objects.filter(status=FindingStatus.OPEN)
    if org_id is not None:
        open_qs = open_qs.filter(image__registry__organization_id=org_id)
    if vulnerability_ids is not None:
        open_qs = open_qs.filter(vulnerability_id__in=list(vulnerability_ids))
    group = ("vulnerability_id", "image__registry__organization_id")
    images = {
        (r["vulnerability_id"], r["image__registry__organization_id"]): r["n"]
        for r in open_qs.values(*group).annotate(n=Count("image_id", distinct=True))
    }
    latest = {
        (r["vulnerability_id"], r["image__registry__organization_id"]): r["n"]
        for r in open_qs.filter(image__tags__name="latest")
        .values(*group)
        .annotate(n=Count("image__tags", distinct=True))
    }
    running = _running_digests(org_id)
    # Rows with the same new values are written with one UPDATE ... WHERE id IN (...):
    # there are few distinct combinations, and bulk_update's CASE per row is slow.
    groups: dict[str, tuple[dict, list[int]]] = {}
    rows = open_qs.values_list(
        "pk",
        "vulnerability_id",
        "image__registry__organization_id",
        "image__digest",
        "image__index_digest",
        *_PRIORITY_FIELDS,
    )
    for pk, vuln_id, org, digest, index_digest, *current in rows.iterator(chunk_size=2000):
        fields = dict(zip(_PRIORITY_FIELDS, current, strict=True))
        fields["running"] = bool(running.get(org, set()) & {digest, index_digest})
        values = _priority_values(
            fields, images.get((vuln_id, org), 0), latest.get((vuln_id, org), 0)
        )
        if all(fields[k] == v for k, v in values.items() if k in fields):
            continue
        key = json.dumps(values, sort_keys=True, default=str)
        groups.setdefault(key, (values, []))[1].append(pk)
    changed = 0
    for values, pks in groups.values():
        for i in range(0, len(pks), _CHUNK):
            changed += Finding.objects.filter(pk__in=pks[i : i + _CHUNK]).update(**values)
    return changed


_PRIORITY_FIELDS = (
    "severity",
    "kev",
    "kev_due",
    "epss",
    "fixed_version",
    "images_affected",
    "latest_tags_affected",
    "priority",
    "priority_components",
)


def _running_digests(org_id: int | None) -> dict[int, set[str]]:
    """``{org id: digests running in a cluster}`` from k8sdiscover's records."""
    from scans.k8s.running import running_digests_by_org

    return running_digests_by_org(org_id)


def _priority_values(fields: dict, images: int, latest: int) -> dict:
    components = {
        "severity": fields["severity"],
        "kev": fields["kev"],
        "kev_due": fields["kev_due"].isoformat() if fields["kev_due"] else None,
        "epss": fields["epss"],
        "fix_available": bool(fields["fixed_version"]),
        "running": fields["running"],
        "images": images,
        "latest_tags": latest,
    }
    return {
        "priority_components": components,
        "priority": priority_of(components),
        "images_affected": images,
        "latest_tags_affected": latest,
    }


def refresh_enrichment() -> int:
    """Re-read KEV and EPSS for every open finding (after a KEV or EPSS import).

    Returns the number of findings changed; priorities are recomputed.
    """
    findings = list(
        Finding.objects.filter(status=FindingStatus.OPEN).select_related("vulnerability")
    )
    cves_of = {
        f.pk: set(f.vulnerability.cve_ids) | {a for a in f.aliases if a.startswith("CVE-")}
        for f in findings
    }
    every = set().union(*cves_of.values()) if cves_of else set()
    kev, epss = load_kev(every), load_epss(every)
    changed = []
    for f in findings:
        hits = sorted(c for c in cves_of[f.pk] if c in kev)
        dues = [kev[c] for c in hits if kev[c]]
        scores = [epss[c] for c in cves_of[f.pk] if c in epss]
        new = (
            bool(hits),
            min(dues) if dues else None,
            max((s for s, _ in scores), default=None),
            max((p for _, p in scores), default=None),
        )
        if new != (f.kev, f.kev_due, f.epss, f.epss_percentile):
            f.kev, f.kev_due, f.epss, f.epss_percentile = new
            changed.append(f)
    Finding.objects.bulk_update(changed, ["kev", "kev_due", "epss", "epss_percentile"], 500)
    recompute_priority()
    return len(changed)
