"""Debian packages from ``/var/lib/dpkg/status`` and distroless ``/var/lib/dpkg/status.d/*``.

The source package (``Source: name (version)``; absent means the binary's own name and
version) is what Debian and Ubuntu advisories are keyed by.
"""

from __future__ import annotations

import re

from ..types import AnalyzerOutput, OsInfo, Package
from .base import Analyzer, build_purl, decode_field

_SOURCE = re.compile(r"^(\S+)(?:\s+\((\S+)\))?$")
_WANTED = {b"package", b"version", b"architecture", b"source", b"status"}


def parse_paragraphs(content: bytes, wanted: set[bytes]) -> list[dict[bytes, bytes]]:
    """deb822 paragraphs as ``{lowercased field: raw value}``, only the ``wanted`` fields."""
    paragraphs: list[dict[bytes, bytes]] = []
    current: dict[bytes, bytes] = {}
    for line in content.splitlines():
        if not line.strip():
            if current:
                paragraphs.append(current)
                current = {}
            continue
        if line[:1] in (b" ", b"\t"):
            continue  # continuation of a field we don't use
        key, sep, value = line.partition(b":")
        if sep and key.lower() in wanted:
            current[key.lower()] = value
    if current:
        paragraphs.append(current)
    return paragraphs


def _is_installed(status: str | None) -> bool:
    # status.d files (distroless) carry no Status field: everything there is installed.
    return status is None or status.split()[-1:] == ["installed"]


class DpkgAnalyzer(Analyzer):
    name = "dpkg"
    version = 1
    required_paths = ("var/lib/dpkg/status",)
    required_globs = ("var/lib/dpkg/status.d/*",)

    def claims(self, path: str) -> bool:
        if path.startswith("var/lib/dpkg/status.d/"):
            rest = path[len("var/lib/dpkg/status.d/") :]
            return "/" not in rest and not rest.endswith(".md5sums")
        return path in self.required_paths

    def analyze(self, path: str, content: bytes) -> AnalyzerOutput:
        packages = []
        for para in parse_paragraphs(content, _WANTED):
            fields = {k.decode(): decode_field(v, path) for k, v in para.items()}
            if not fields.get("package") or not fields.get("version"):
                continue
            if not _is_installed(fields.get("status")):
                continue
            packages.append(_package(fields))
        return AnalyzerOutput(self.name, packages=packages)

    def purl(self, package: Package, os: OsInfo | None) -> str:
        upstream = ""
        if package.source_name and package.source_name != package.name:
            upstream = package.source_name
        if package.source_version and package.source_version != package.version:
            upstream = f"{package.source_name}@{package.source_version}"
        return build_purl(
            "deb",
            (os.id if os and os.id else "debian"),
            package.name,
            package.version,
            {"arch": package.arch, "distro": os.distro if os else "", "upstream": upstream},
        )


def _package(fields: dict[str, str]) -> Package:
    source_name, source_version = fields["package"], fields["version"]
    if fields.get("source") and (m := _SOURCE.match(fields["source"])):
        source_name = m.group(1)
        source_version = m.group(2) or source_version
    return Package(
        name=fields["package"],
        version=fields["version"],
        ecosystem="deb",
        source_name=source_name,
        source_version=source_version,
        arch=fields.get("architecture", ""),
    )
