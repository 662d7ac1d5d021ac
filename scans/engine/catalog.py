"""Fold per-layer results into the image's final view, then build its inventory.

The fold follows overlay semantics: a layer's opaque directories and whiteouts delete what lower
layers had, then its own files replace lower ones at the same path. Because it works on cached
per-layer results, a layer shared by many images is analyzed once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from .analyzers import ANALYZERS, Analyzer
from .types import AnalyzerOutput, Inventory, LayerResult, OsInfo, Package

__all__ = ["catalog", "fold"]

OS_RELEASE_PREFERENCE = ("etc/os-release", "usr/lib/os-release")


def _under(path: str, directory: str) -> bool:
    return path == directory or path.startswith(directory + "/") or not directory


def fold(layers: Sequence[LayerResult]) -> dict[str, tuple[str, AnalyzerOutput]]:
    """``{path: (layer digest, output)}`` of the files visible in the final image."""
    view: dict[str, tuple[str, AnalyzerOutput]] = {}
    for layer in layers:
        for target in [*layer.opaque_dirs, *layer.whiteouts]:
            for path in [p for p in view if _under(p, target)]:
                del view[path]
        for path, output in layer.files.items():
            view[path] = (layer.digest, output)
    return view


def catalog(layers: Sequence[LayerResult], analyzers: Sequence[Analyzer] = ANALYZERS) -> Inventory:
    """The image's OS, packages (purl, layer and path filled in) and warnings."""
    view = fold(layers)
    os = _os_info(view)
    by_name = {a.name: a for a in analyzers}
    grouped: dict[str, list[Package]] = {a.name: [] for a in analyzers}
    warnings: list[str] = []
    for path, (digest, output) in sorted(view.items()):
        warnings.extend(output.warnings)
        analyzer = by_name.get(output.analyzer)
        if analyzer is None:
            continue
        for package in output.packages:
            package = replace(package, layer_digest=digest, path="/" + path)
            grouped[analyzer.name].append(replace(package, purl=analyzer.purl(package, os)))
    packages = [p for name, found in grouped.items() for p in by_name[name].finalize(found)]
    packages.sort(key=lambda p: (p.ecosystem, p.name, p.version, p.path))
    return Inventory(os=os, packages=packages, warnings=warnings)


def _os_info(view: dict[str, tuple[str, AnalyzerOutput]]) -> OsInfo | None:
    for path in OS_RELEASE_PREFERENCE:
        if path in view and view[path][1].os is not None:
            return view[path][1].os
    return None
