"""Severity of an OSV record: CVSS vectors first (scored by the ``cvss`` package), else the
database's own rating, else "unknown".

Vector preference: CVSS v3.x, then v4.0, then v2. v3 is what NVD, GitHub and KEV triage are
calibrated on today; where both exist (GHSA-qw6h-vgh9-j6wx) the v4 base score of the same
advisory is often much lower, and mixing the two scales in one list misleads triage.
"""

from __future__ import annotations

from typing import Any

from cvss import CVSS2, CVSS3, CVSS4

__all__ = ["label_for_score", "severity_of"]

_PREFERENCE = ("CVSS_V3", "CVSS_V4", "CVSS_V2")
_RATINGS = {
    "critical": "critical",
    "high": "high",
    "important": "high",
    "moderate": "medium",
    "medium": "medium",
    "low": "low",
    "negligible": "low",
    "unimportant": "low",
}


def label_for_score(score: float) -> str:
    """CVSS qualitative rating (v3/v4 bands; 0.0 "none" is reported as low)."""
    if score >= 9.0:
        return "critical"
    if score >= 7.0:
        return "high"
    if score >= 4.0:
        return "medium"
    return "low"


def _score(kind: str, vector: str) -> float | None:
    try:
        if kind == "CVSS_V4":
            return float(CVSS4(vector).base_score)
        if kind == "CVSS_V3":
            return float(CVSS3(vector).base_score)
        if kind == "CVSS_V2":
            return float(CVSS2(vector).base_score)
    except Exception:  # the cvss package raises its own error types for bad vectors
        return None
    return None


def severity_of(record: dict[str, Any]) -> tuple[str, float | None, str]:
    """Return ``(label, score or None, vector or "")`` for an OSV record."""
    entries = list(record.get("severity") or [])
    for affected in record.get("affected") or []:
        entries.extend(affected.get("severity") or [])
    for kind in _PREFERENCE:
        for entry in entries:
            if entry.get("type") == kind and entry.get("score"):
                score = _score(kind, entry["score"])
                if score is not None:
                    return label_for_score(score), score, entry["score"]
    return _rating(record), None, ""


def _rating(record: dict[str, Any]) -> str:
    candidates = [(record.get("database_specific") or {}).get("severity")]
    for affected in record.get("affected") or []:
        candidates.append((affected.get("ecosystem_specific") or {}).get("severity"))
        candidates.append((affected.get("database_specific") or {}).get("severity"))
    for value in candidates:
        if isinstance(value, str) and value.strip().lower() in _RATINGS:
            return _RATINGS[value.strip().lower()]
    return "unknown"
