"""The analyzer base class and helpers shared by the analyzer modules."""

from __future__ import annotations

from abc import ABC, abstractmethod
from fnmatch import fnmatchcase
from typing import ClassVar

from packageurl import PackageURL

from ..types import AnalyzerOutput, OsInfo, Package, ScanError

__all__ = ["Analyzer", "build_purl", "decode_field"]


class Analyzer(ABC):
    """Reads the files it declares and returns what it found in them.

    ``required_paths`` are exact root-relative paths; ``required_globs`` are ``fnmatch``
    patterns (``*`` crosses directories), used only where exact paths can't work."""

    name: ClassVar[str] = ""
    version: ClassVar[int] = 1
    required_paths: ClassVar[tuple[str, ...]] = ()
    required_globs: ClassVar[tuple[str, ...]] = ()

    def claims(self, path: str) -> bool:
        return path in self.required_paths or any(
            fnmatchcase(path, glob) for glob in self.required_globs
        )

    @abstractmethod
    def analyze(self, path: str, content: bytes) -> AnalyzerOutput:
        """Parse one claimed file. Raises ScanError for hostile content (see decode_field)."""

    @abstractmethod
    def purl(self, package: Package, os: OsInfo | None) -> str:
        """The package URL of ``package`` in an image whose OS is ``os``."""

    def finalize(self, packages: list[Package]) -> list[Package]:
        """Last pass over this analyzer's packages of the whole image (e.g. de-duplication)."""
        return packages


def decode_field(raw: bytes, path: str) -> str:
    """Decode a package-identity field as UTF-8; ScanError (naming the file) when it isn't."""
    try:
        return raw.decode("utf-8").strip()
    except UnicodeDecodeError:
        raise ScanError(f"{path!r} has a package field that is not valid UTF-8.") from None


def build_purl(
    kind: str, namespace: str, name: str, version: str, qualifiers: dict[str, str]
) -> str:
    """A purl string; empty qualifiers are dropped."""
    return PackageURL(
        type=kind,
        namespace=namespace or None,
        name=name,
        version=version or None,
        qualifiers={k: v for k, v in qualifiers.items() if v} or None,
    ).to_string()
