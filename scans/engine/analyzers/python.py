"""Python distributions from ``*.dist-info/METADATA`` and ``*.egg-info`` (a PKG-INFO inside the
directory, or the file itself) anywhere: site-packages, dist-packages, vendored copies."""

from __future__ import annotations

import re

from ..types import AnalyzerOutput, OsInfo, Package
from .base import Analyzer, build_purl, decode_field


def normalize_name(name: str) -> str:
    """PEP 503 normalised project name."""
    return re.sub(r"[-_.]+", "-", name).lower()


def parse_metadata_headers(content: bytes) -> dict[str, bytes]:
    """The ``Name`` and ``Version`` headers of core metadata (RFC 822 style, header block only)."""
    headers: dict[str, bytes] = {}
    for line in content.splitlines():
        if not line.strip():
            break
        key, sep, value = line.partition(b":")
        key_text = key.decode("ascii", "replace").strip().lower()
        if sep and key_text in ("name", "version") and key_text not in headers:
            headers[key_text] = value
    return headers


class PythonAnalyzer(Analyzer):
    name = "python"
    version = 1
    required_globs = ("*.dist-info/METADATA", "*.egg-info/PKG-INFO", "*.egg-info")

    def claims(self, path: str) -> bool:
        if path.endswith("/METADATA"):
            return path[: -len("/METADATA")].endswith(".dist-info")
        if path.endswith("/PKG-INFO"):
            return path[: -len("/PKG-INFO")].endswith(".egg-info")
        return path.endswith(".egg-info")

    def analyze(self, path: str, content: bytes) -> AnalyzerOutput:
        headers = parse_metadata_headers(content)
        name = decode_field(headers.get("name", b""), path)
        version = decode_field(headers.get("version", b""), path)
        if not name or not version:
            return AnalyzerOutput(self.name)
        package = Package(name=normalize_name(name), version=version, ecosystem="pypi")
        return AnalyzerOutput(self.name, packages=[package])

    def purl(self, package: Package, os: OsInfo | None) -> str:
        return build_purl("pypi", "", package.name, package.version, {})
