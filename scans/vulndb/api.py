"""The public API of the vulnerability database, for the scan engine, the UI and the CLI.

- ``match_sbom(sbom) -> MatchList[FindingData]``: a pure read; ``.coverage_warnings``.
- ``sync_findings(image) -> SyncResult``: create/resolve one image's findings (idempotent).
- ``rematch_all(changed_keys=None) -> SyncResult``: re-match stored SBOMs after an import.
- ``import_sources(locations) -> ImportReport``: import paths/URLs, then re-match.
- ``data_as_of()`` / ``data_as_of_by_source()``: "vulnerability data as of".
- ``recompute_priority()``: refresh the stored priority components of open findings.
"""

from __future__ import annotations

from .matching import FindingData, MatchList
from .services import (
    ImportReport,
    SyncResult,
    data_as_of,
    data_as_of_by_source,
    import_sources,
    match_sbom,
    recompute_priority,
    refresh_enrichment,
    rematch_all,
    sync_findings,
)

__all__ = [
    "FindingData",
    "ImportReport",
    "MatchList",
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
