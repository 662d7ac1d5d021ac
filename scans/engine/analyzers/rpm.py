"""RPM packages from the sqlite rpmdb (RHEL/UBI 9+, Fedora 33+, Amazon Linux 2023).

Each row of the ``Packages`` table holds one header blob: two big-endian int32 (index entry
count, data size), then 16-byte index entries (tag, type, offset, count), then the data store.
BerkeleyDB and ndb databases (older RHEL, Amazon Linux 2, SUSE) are reported as unsupported
for the image rather than read as empty.
"""

from __future__ import annotations

import sqlite3
import struct

from ..types import AnalyzerOutput, OsInfo, Package, ScanError
from .base import Analyzer, build_purl, decode_field

TAG_NAME, TAG_VERSION, TAG_RELEASE, TAG_EPOCH, TAG_ARCH, TAG_SOURCERPM = (
    1000,
    1001,
    1002,
    1003,
    1022,
    1044,
)
TYPE_INT32, TYPE_STRING = 4, 6
_WANTED_TAGS = {TAG_NAME, TAG_VERSION, TAG_RELEASE, TAG_EPOCH, TAG_ARCH, TAG_SOURCERPM}
_MAX_INDEX_ENTRIES = 100_000

SQLITE_PATHS = ("var/lib/rpm/rpmdb.sqlite", "usr/lib/sysimage/rpm/rpmdb.sqlite")
UNSUPPORTED_PATHS = (
    "var/lib/rpm/Packages",
    "var/lib/rpm/Packages.db",
    "usr/lib/sysimage/rpm/Packages",
    "usr/lib/sysimage/rpm/Packages.db",
)
_NAMESPACES = {"rhel": "redhat", "amzn": "amazon", "ol": "oracle", "sles": "suse"}


def parse_header_blob(blob: bytes, path: str) -> dict[int, str | int]:
    """The wanted tags of one rpm header blob. ScanError when the blob is malformed."""
    if len(blob) < 8:
        raise ScanError(f"{path!r} holds a truncated rpm header.")
    count, data_size = struct.unpack(">ii", blob[:8])
    store_start = 8 + 16 * count
    if not 0 <= count <= _MAX_INDEX_ENTRIES or data_size < 0 or store_start + data_size > len(blob):
        raise ScanError(f"{path!r} holds a malformed rpm header.")
    store = blob[store_start : store_start + data_size]
    values: dict[int, str | int] = {}
    for i in range(count):
        tag, kind, offset, _n = struct.unpack(">iiii", blob[8 + 16 * i : 24 + 16 * i])
        if tag in _WANTED_TAGS and 0 <= offset < len(store):
            if kind == TYPE_STRING:
                end = store.find(b"\0", offset)
                values[tag] = decode_field(store[offset : end if end >= 0 else None], path)
            elif kind == TYPE_INT32 and offset + 4 <= len(store):
                values[tag] = struct.unpack(">i", store[offset : offset + 4])[0]
    return values


def split_source_rpm(source_rpm: str) -> tuple[str, str]:
    """``openssl-3.0.7-24.el9.src.rpm`` -> (``openssl``, ``3.0.7-24.el9``); ("", "") if odd."""
    stem = source_rpm.removesuffix(".rpm").removesuffix(".src").removesuffix(".nosrc")
    parts = stem.rsplit("-", 2)
    if len(parts) != 3:
        return "", ""
    return parts[0], f"{parts[1]}-{parts[2]}"


class RpmAnalyzer(Analyzer):
    name = "rpm"
    version = 1
    required_paths = SQLITE_PATHS + UNSUPPORTED_PATHS

    def analyze(self, path: str, content: bytes) -> AnalyzerOutput:
        if path in UNSUPPORTED_PATHS:
            return AnalyzerOutput(
                self.name,
                warnings=[
                    f"/{path} is a BerkeleyDB/ndb rpm database, which regscan can't read yet: "
                    "this image's rpm packages are missing from its SBOM."
                ],
            )
        return AnalyzerOutput(
            self.name, packages=[_package(h) for h in _headers(content, path) if TAG_NAME in h]
        )

    def purl(self, package: Package, os: OsInfo | None) -> str:
        namespace = _NAMESPACES.get(os.id, os.id) if os else ""
        upstream = (
            f"{package.source_name}-{package.source_version}.src.rpm" if package.source_name else ""
        )
        return build_purl(
            "rpm",
            namespace,
            package.name,
            package.version.partition(":")[2] if package.epoch else package.version,
            {
                "arch": package.arch,
                "epoch": package.epoch,
                "distro": os.distro if os else "",
                "upstream": upstream,
            },
        )


def _headers(content: bytes, path: str) -> list[dict[int, str | int]]:
    db = sqlite3.connect(":memory:")
    try:
        db.deserialize(content)
        rows = db.execute("SELECT blob FROM Packages").fetchall()
    except sqlite3.DatabaseError as e:
        raise ScanError(f"{path!r} is not a readable rpm sqlite database ({e}).") from None
    finally:
        db.close()
    return [parse_header_blob(bytes(row[0]), path) for row in rows]


def _package(header: dict[int, str | int]) -> Package:
    epoch = str(header[TAG_EPOCH]) if TAG_EPOCH in header else ""
    version = f"{header.get(TAG_VERSION, '')}-{header.get(TAG_RELEASE, '')}".strip("-")
    source_name, source_version = split_source_rpm(str(header.get(TAG_SOURCERPM, "")))
    return Package(
        name=str(header[TAG_NAME]),
        version=f"{epoch}:{version}" if epoch else version,
        ecosystem="rpm",
        source_name=source_name,
        source_version=source_version,
        arch=str(header.get(TAG_ARCH, "")),
        epoch=epoch,
    )
