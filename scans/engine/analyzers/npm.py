"""npm packages from ``node_modules/**/package.json`` (name and version; files without both
are skipped) and from the ``package-lock.json`` of applications (lockfile v1, v2 and v3)."""

from __future__ import annotations

import json
import posixpath

from ..types import AnalyzerOutput, OsInfo, Package
from .base import Analyzer, build_purl

LOCKFILE = "package-lock.json"


class NpmAnalyzer(Analyzer):
    name = "npm"
    version = 1
    required_globs = (
        "*node_modules/*/package.json",
        "*node_modules/@*/*/package.json",
        "*package-lock.json",
    )

    def claims(self, path: str) -> bool:
        if path.endswith("/package.json"):
            head, _, tail = path.rpartition("node_modules/")
            if not head and not path.startswith("node_modules/"):
                return False
            parts = tail.split("/")
            return len(parts) == 2 or (len(parts) == 3 and parts[0].startswith("@"))
        return posixpath.basename(path) == LOCKFILE and "node_modules" not in path.split("/")

    def analyze(self, path: str, content: bytes) -> AnalyzerOutput:
        try:
            data = json.loads(content)
        except (UnicodeDecodeError, ValueError):
            return AnalyzerOutput(self.name, warnings=[f"/{path} is not valid JSON; skipped."])
        if not isinstance(data, dict):
            return AnalyzerOutput(self.name)
        if posixpath.basename(path) == LOCKFILE:
            return AnalyzerOutput(self.name, packages=_lockfile_packages(data))
        name, version = data.get("name"), data.get("version")
        if not isinstance(name, str) or not isinstance(version, str) or not name or not version:
            return AnalyzerOutput(self.name)
        return AnalyzerOutput(self.name, packages=[Package(name, version, "npm")])

    def purl(self, package: Package, os: OsInfo | None) -> str:
        scope, _, bare = package.name.rpartition("/")
        return build_purl("npm", scope, bare, package.version, {})

    def finalize(self, packages: list[Package]) -> list[Package]:
        """Drop lockfile entries for packages also found installed (or listed twice)."""
        installed = {p.purl for p in packages if not p.path.endswith(LOCKFILE)}
        kept, seen = [], set()
        for p in packages:
            if p.path.endswith(LOCKFILE):
                if p.purl in installed or p.purl in seen:
                    continue
                seen.add(p.purl)
            kept.append(p)
        return kept


def _lockfile_packages(data: dict) -> list[Package]:
    found: dict[tuple[str, str], Package] = {}
    packages = data.get("packages")
    if isinstance(packages, dict):  # lockfile v2/v3
        for key, entry in packages.items():
            if not key or not isinstance(entry, dict) or entry.get("link"):
                continue
            name = entry.get("name") or key.rpartition("node_modules/")[2]
            version = entry.get("version")
            if isinstance(name, str) and isinstance(version, str) and name and version:
                found[(name, version)] = Package(name, version, "npm")
    else:  # lockfile v1: nested "dependencies"
        _walk_v1(data.get("dependencies"), found)
    return list(found.values())


def _walk_v1(dependencies: object, found: dict[tuple[str, str], Package], depth: int = 0) -> None:
    if not isinstance(dependencies, dict) or depth > 64:
        return
    for name, entry in dependencies.items():
        if isinstance(entry, dict) and isinstance(entry.get("version"), str):
            found[(name, entry["version"])] = Package(name, entry["version"], "npm")
            _walk_v1(entry.get("dependencies"), found, depth + 1)
