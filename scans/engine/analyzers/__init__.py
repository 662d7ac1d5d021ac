"""Analyzers: one module each, shaped alike. Each declares the paths it reads; central code
(``claimant``) decides which analyzer gets a file, and the catalog folds their outputs.

Adding an analyzer: copy a sibling module, give it a ``name``, a ``version`` (bump it whenever
its output changes: cached layer results of other versions are analyzed again) and its paths,
then list it in ``ANALYZER_CLASSES``.
"""

from __future__ import annotations

from .apk import ApkAnalyzer
from .base import Analyzer
from .dpkg import DpkgAnalyzer
from .npm import NpmAnalyzer
from .os_release import OsReleaseAnalyzer
from .python import PythonAnalyzer
from .rpm import RpmAnalyzer

__all__ = ["ANALYZERS", "Analyzer", "analyzer_versions", "claimant", "get_analyzer"]

ANALYZER_CLASSES: tuple[type[Analyzer], ...] = (
    OsReleaseAnalyzer,
    DpkgAnalyzer,
    ApkAnalyzer,
    RpmAnalyzer,
    PythonAnalyzer,
    NpmAnalyzer,
)
ANALYZERS: tuple[Analyzer, ...] = tuple(cls() for cls in ANALYZER_CLASSES)
_BY_NAME = {a.name: a for a in ANALYZERS}
_BY_PATH = {path: a for a in ANALYZERS for path in a.required_paths}


def analyzer_versions(analyzers: tuple[Analyzer, ...] = ANALYZERS) -> dict[str, int]:
    """``{name: version}`` of the analyzers, stored with every cached result."""
    return {a.name: a.version for a in analyzers}


def get_analyzer(name: str) -> Analyzer:
    """The analyzer called ``name``; KeyError when there is none."""
    return _BY_NAME[name]


def claimant(path: str, analyzers: tuple[Analyzer, ...] = ANALYZERS) -> Analyzer | None:
    """The analyzer that wants ``path`` (exact paths first, then globs), or None."""
    if analyzers is ANALYZERS:
        found = _BY_PATH.get(path)
        if found is not None:
            return found
    for analyzer in analyzers:
        if analyzer.claims(path):
            return analyzer
    return None
