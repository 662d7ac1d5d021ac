"""OS identification from os-release(5): Debian, Ubuntu, Alpine, RHEL/UBI, Fedora, Amazon
Linux, distroless (a Debian os-release with PRETTY_NAME "Distroless")."""

from __future__ import annotations

import re

from ..types import AnalyzerOutput, OsInfo, Package
from .base import Analyzer

_CODENAME_IN_VERSION = re.compile(r"\(([A-Za-z]+)\)")


def parse_os_release(text: str) -> dict[str, str]:
    """KEY=value pairs with shell-style quotes removed; comments and junk lines are ignored."""
    values: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.strip().partition("=")
        if not sep or not key.isidentifier():
            continue
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        values[key] = re.sub(r"\\(.)", r"\1", value)
    return values


class OsReleaseAnalyzer(Analyzer):
    name = "os-release"
    version = 1
    required_paths = ("etc/os-release", "usr/lib/os-release")

    def analyze(self, path: str, content: bytes) -> AnalyzerOutput:
        values = parse_os_release(content.decode("utf-8", "replace"))
        codename = values.get("VERSION_CODENAME") or values.get("UBUNTU_CODENAME", "")
        if not codename and (m := _CODENAME_IN_VERSION.search(values.get("VERSION", ""))):
            codename = m.group(1).lower()
        info = OsInfo(
            id=values.get("ID", "").lower(),
            version_id=values.get("VERSION_ID", ""),
            codename=codename,
            name=values.get("NAME", ""),
            pretty_name=values.get("PRETTY_NAME", ""),
        )
        return AnalyzerOutput(self.name, os=info)

    def purl(self, package: Package, os: OsInfo | None) -> str:
        return ""
