"""The engine's stages chained: layer stream -> unpack -> analyzers -> LayerResult, and
LayerResults -> catalog -> Inventory. No Django, no network: callers hand in streams."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager
from typing import BinaryIO

from .analyzers import ANALYZERS, Analyzer, claimant
from .catalog import catalog
from .types import AnalyzerOutput, Inventory, LayerResult, Limits
from .unpack import Budget, walk_layer

__all__ = ["analyze_layer", "scan_layers"]

Opener = Callable[[], AbstractContextManager[BinaryIO]]


def analyze_layer(
    digest: str,
    stream: BinaryIO,
    *,
    limits: Limits,
    budget: Budget | None = None,
    analyzers: tuple[Analyzer, ...] = ANALYZERS,
) -> LayerResult:
    """Stream one layer once and run each analyzer on the files it claims.

    Raises ScanError for hostile or corrupt layers; stream errors pass through."""
    budget = budget or Budget(limits.max_image_bytes)
    result = LayerResult(digest=digest)
    stats: dict = {}
    claimed: dict[str, Analyzer] = {}

    def claims(path: str) -> bool:
        analyzer = claimant(path, analyzers)
        if analyzer is not None:
            claimed[path] = analyzer
        return analyzer is not None

    for entry in walk_layer(stream, claims, limits, budget, stats):
        if entry.kind == "file":
            result.files[entry.path] = claimed[entry.path].analyze(entry.path, entry.content)
        elif entry.kind == "link":
            result.files[entry.path] = result.files.get(entry.target) or _unread_link(
                claimed[entry.path], entry.path, entry.target
            )
        elif entry.kind == "opaque":
            result.opaque_dirs.append(entry.path)
        else:  # whiteout, or shadow (a claimed path that is a symlink)
            result.files.pop(entry.path, None)
            result.whiteouts.append(entry.path)
    result.uncompressed_bytes = stats.get("uncompressed_bytes", 0)
    result.entries = stats.get("entries", 0)
    return result


def _unread_link(analyzer: Analyzer, path: str, target: str) -> AnalyzerOutput:
    """A hard link to a file no analyzer read (its data has streamed past): say so."""
    return AnalyzerOutput(
        analyzer.name,
        warnings=[
            f"/{path} is a hard link to /{target}, which was not read: its packages are missing."
        ],
    )


def scan_layers(layers: Iterable[tuple[str, Opener]], *, limits: Limits) -> Inventory:
    """Analyze every layer (bottom first) from its opener and return the image's inventory."""
    budget = Budget(limits.max_image_bytes)
    results: list[LayerResult] = []
    for digest, opener in layers:
        with opener() as stream:
            results.append(analyze_layer(digest, stream, limits=limits, budget=budget))
    return build_inventory(results)


def build_inventory(results: Sequence[LayerResult]) -> Inventory:
    """The inventory of an image made of ``results`` (bottom layer first)."""
    return catalog(results)
