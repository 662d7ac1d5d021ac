"""Typed hand-offs between the engine's stages (unpack -> analyzers -> catalog).

Everything here is plain data: layer results are serialised with :meth:`LayerResult.to_dict`
so ``scans.services`` can cache them per layer digest and fold them again later.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

__all__ = [
    "AnalyzerOutput",
    "Inventory",
    "LayerResult",
    "Limits",
    "OsInfo",
    "Package",
    "ScanError",
]


class ScanError(Exception):
    """The image can't be scanned safely or at all; the message tells a person why.

    Raised for hostile or broken input (path traversal, links out of the root, decompression
    bombs, oversized files, invalid UTF-8 names, a tar that isn't one). It fails that image only.
    """


@dataclass(frozen=True)
class Limits:
    """Caps that keep hostile layers from exhausting memory, disk or time."""

    max_layer_bytes: int = 8 << 30  # uncompressed bytes of one layer
    max_image_bytes: int = 32 << 30  # uncompressed bytes of all layers streamed for one image
    max_file_bytes: int = 64 << 20  # one file read into memory for an analyzer
    max_entries: int = 2_000_000  # tar entries per layer
    max_header_bytes: int = 1 << 20  # one pax / GNU long-name header


@dataclass(frozen=True)
class OsInfo:
    id: str = ""
    version_id: str = ""
    codename: str = ""
    name: str = ""
    pretty_name: str = ""

    @property
    def distro(self) -> str:
        """The purl ``distro`` qualifier value, e.g. ``debian-12``; "" when unknown."""
        if not self.id:
            return ""
        return f"{self.id}-{self.version_id}" if self.version_id else self.id


@dataclass(frozen=True)
class Package:
    """One installed package. ``purl`` is filled by the catalog once the OS is known."""

    name: str
    version: str
    ecosystem: str  # deb, apk, rpm, pypi, npm
    purl: str = ""
    source_name: str = ""
    source_version: str = ""
    arch: str = ""
    layer_digest: str = ""
    path: str = ""
    epoch: str = ""  # rpm only; dpkg keeps the epoch inside ``version``

    def to_dict(self) -> dict:
        return {k: v for k, v in asdict(self).items() if v}

    @classmethod
    def from_dict(cls, data: dict) -> Package:
        return cls(**data)


@dataclass
class AnalyzerOutput:
    """What one analyzer found in one file: packages, an OS, or warnings for the image."""

    analyzer: str
    packages: list[Package] = field(default_factory=list)
    os: OsInfo | None = None
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        data: dict = {"analyzer": self.analyzer}
        if self.packages:
            data["packages"] = [p.to_dict() for p in self.packages]
        if self.os is not None:
            data["os"] = asdict(self.os)
        if self.warnings:
            data["warnings"] = list(self.warnings)
        return data

    @classmethod
    def from_dict(cls, data: dict) -> AnalyzerOutput:
        return cls(
            analyzer=data["analyzer"],
            packages=[Package.from_dict(p) for p in data.get("packages", ())],
            os=OsInfo(**data["os"]) if data.get("os") else None,
            warnings=list(data.get("warnings", ())),
        )


@dataclass
class LayerResult:
    """The analysis of one layer: analyzer outputs keyed by path, and what it deletes below it.

    ``whiteouts`` are paths deleted from lower layers (``.wh.<name>``, or a non-regular entry
    such as a symlink replacing a package database); ``opaque_dirs`` hide everything lower
    layers had in them (``.wh..wh..opq``). Paths are relative to the root, without a leading /.
    """

    digest: str
    files: dict[str, AnalyzerOutput] = field(default_factory=dict)
    whiteouts: list[str] = field(default_factory=list)
    opaque_dirs: list[str] = field(default_factory=list)
    uncompressed_bytes: int = 0
    entries: int = 0

    def to_dict(self) -> dict:
        return {
            "files": {path: out.to_dict() for path, out in self.files.items()},
            "whiteouts": list(self.whiteouts),
            "opaque_dirs": list(self.opaque_dirs),
            "uncompressed_bytes": self.uncompressed_bytes,
            "entries": self.entries,
        }

    @classmethod
    def from_dict(cls, digest: str, data: dict) -> LayerResult:
        return cls(
            digest=digest,
            files={p: AnalyzerOutput.from_dict(o) for p, o in data.get("files", {}).items()},
            whiteouts=list(data.get("whiteouts", ())),
            opaque_dirs=list(data.get("opaque_dirs", ())),
            uncompressed_bytes=data.get("uncompressed_bytes", 0),
            entries=data.get("entries", 0),
        )


@dataclass
class Inventory:
    """The final view of an image: its OS, its packages (with purls), and warnings."""

    os: OsInfo | None
    packages: list[Package]
    warnings: list[str] = field(default_factory=list)
