"""Alpine packages from the apk database (``/lib/apk/db/installed``): P name, V version,
A arch, o origin (the source package Alpine's advisories are keyed by)."""

from __future__ import annotations

from ..types import AnalyzerOutput, OsInfo, Package
from .base import Analyzer, build_purl, decode_field

_FIELDS = {b"P": "name", b"V": "version", b"A": "arch", b"o": "origin"}


class ApkAnalyzer(Analyzer):
    name = "apk"
    version = 1
    required_paths = ("lib/apk/db/installed", "usr/lib/apk/db/installed")

    def analyze(self, path: str, content: bytes) -> AnalyzerOutput:
        packages = []
        for record in _records(content):
            fields = {
                name: decode_field(record[key], path)
                for key, name in _FIELDS.items()
                if key in record
            }
            if fields.get("name") and fields.get("version"):
                packages.append(
                    Package(
                        name=fields["name"],
                        version=fields["version"],
                        ecosystem="apk",
                        source_name=fields.get("origin") or fields["name"],
                        source_version=fields["version"],
                        arch=fields.get("arch", ""),
                    )
                )
        return AnalyzerOutput(self.name, packages=packages)

    def purl(self, package: Package, os: OsInfo | None) -> str:
        upstream = package.source_name if package.source_name != package.name else ""
        return build_purl(
            "apk",
            (os.id if os and os.id else "alpine"),
            package.name,
            package.version,
            {"arch": package.arch, "distro": os.distro if os else "", "upstream": upstream},
        )


def _records(content: bytes) -> list[dict[bytes, bytes]]:
    records: list[dict[bytes, bytes]] = []
    current: dict[bytes, bytes] = {}
    for line in content.splitlines():
        if not line.strip():
            if current:
                records.append(current)
            current = {}
            continue
        key, sep, value = line.partition(b":")
        if sep and key in _FIELDS:
            current[key] = value
    if current:
        records.append(current)
    return records
