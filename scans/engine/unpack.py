"""Stream one layer (gzip, zstd or plain tar) once and yield only what analyzers need.

Nothing is written to disk and nothing is extracted. Every entry is checked as it passes:
names must stay inside the root and be valid UTF-8, links must not escape the root or loop,
and byte and entry counts are capped (decompression bombs). Only files that a caller claims
are read into memory, each with a size cap; all other data is skipped as the stream advances.
"""

from __future__ import annotations

import gzip
import io
import posixpath
import tarfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import BinaryIO

import zstandard

from .types import Limits, ScanError

__all__ = ["Budget", "Entry", "walk_layer"]

GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
WHITEOUT_PREFIX = ".wh."
OPAQUE_MARKER = ".wh..wh..opq"
MAX_SYMLINK_HOPS = 40  # as the kernel's ELOOP limit

# Header-only members whose payload tarfile reads into memory in one piece.
_HEADER_TYPES = {
    tarfile.GNUTYPE_LONGNAME,
    tarfile.GNUTYPE_LONGLINK,
    tarfile.XHDTYPE,
    tarfile.XGLTYPE,
    tarfile.SOLARIS_XHDTYPE,
}


class Budget:
    """Uncompressed bytes left for one image; shared by the layers streamed for it."""

    def __init__(self, max_bytes: int) -> None:
        self.remaining = max_bytes
        self.max_bytes = max_bytes

    def spend(self, n: int) -> None:
        self.remaining -= n
        if self.remaining < 0:
            raise ScanError(
                f"The image's layers unpack to more than {_mb(self.max_bytes)} "
                "(REGSCAN_MAX_IMAGE_MB); refusing it as a possible decompression bomb."
            )


@dataclass(frozen=True)
class Entry:
    """One event of a layer walk.

    kind is ``file`` (a claimed regular file; ``content`` holds its bytes), ``link`` (a claimed
    path that is a hard link to ``target``, another member of this layer), ``whiteout`` (``path``
    is deleted from lower layers), ``opaque`` (directory ``path`` hides lower layers' content) or
    ``shadow`` (a claimed path replaced by something that isn't a regular file)."""

    kind: str
    path: str
    content: bytes = b""
    target: str = ""


class _CountingReader(io.RawIOBase):
    """Counts decompressed bytes and stops the stream past the layer or image cap."""

    def __init__(self, raw: BinaryIO, limit: int, budget: Budget) -> None:
        self.raw = raw
        self.limit = limit
        self.budget = budget
        self.count = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[override]
        data = self.raw.read(len(buffer))
        n = len(data)
        buffer[:n] = data
        self.count += n
        self.budget.spend(n)
        if self.count > self.limit:
            raise ScanError(
                f"A layer unpacks to more than {_mb(self.limit)} (REGSCAN_MAX_LAYER_MB); "
                "refusing it as a possible decompression bomb."
            )
        return n


def _mb(n: int) -> str:
    return f"{n / (1 << 20):g} MB"


class _Prefixed(io.RawIOBase):
    """A stream that replays ``head`` (the sniffed magic bytes) before the rest of ``raw``."""

    def __init__(self, head: bytes, raw: BinaryIO) -> None:
        self.head = head
        self.raw = raw

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[override]
        if self.head:
            n = min(len(buffer), len(self.head))
            buffer[:n] = self.head[:n]
            self.head = self.head[n:]
            return n
        data = self.raw.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


def _decompressed(raw: BinaryIO) -> BinaryIO:
    """Return a stream of the tar bytes, sniffing gzip / zstd / plain from the magic bytes."""
    head = b""
    while len(head) < 4 and (chunk := raw.read(4 - len(head))):
        head += chunk
    stream = io.BufferedReader(_Prefixed(head, raw), 1 << 16)
    if head.startswith(GZIP_MAGIC):
        return gzip.GzipFile(fileobj=stream, mode="rb")
    if head == ZSTD_MAGIC:
        return zstandard.ZstdDecompressor().stream_reader(stream, read_across_frames=True)
    return stream


def _bounded_tarinfo(limits: Limits) -> type[tarfile.TarInfo]:
    """A TarInfo that refuses huge pax / long-name headers, which tarfile reads whole."""

    class BoundedTarInfo(tarfile.TarInfo):
        def _proc_member(self, tarfile_):  # noqa: ANN001 - tarfile's private hook
            if self.type in _HEADER_TYPES and self.size > limits.max_header_bytes:
                raise ScanError(
                    f"A layer has a {self.size}-byte tar header (cap "
                    f"{limits.max_header_bytes}); refusing it."
                )
            return super()._proc_member(tarfile_)

    return BoundedTarInfo


def normalize_name(name: str) -> str:
    """Return the member name relative to the root ("" for the root itself).

    Raises ScanError for absolute names, ``..`` components and invalid UTF-8."""
    _check_utf8(name)
    if name.startswith("/"):
        raise ScanError(f"A layer has an absolute path {name!r}; refusing it.")
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise ScanError(f"A layer has a path with '..' ({name!r}) that could leave the root.")
    return "/".join(parts)


def _check_utf8(text: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        shown = text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
        raise ScanError(f"A layer has a file name that is not valid UTF-8: {shown!r}.") from None


def _symlink_target(path: str, linkname: str) -> str:
    """The root-relative path a symlink points at; ScanError when it climbs out of the root.

    Absolute targets resolve inside the image's root (as in a container), so they are fine."""
    _check_utf8(linkname)
    if linkname.startswith("/"):
        return posixpath.normpath("/" + linkname).lstrip("/")
    resolved = posixpath.normpath(posixpath.join(posixpath.dirname(path), linkname))
    if resolved == ".." or resolved.startswith("../"):
        raise ScanError(
            f"A layer has a symlink {path!r} -> {linkname!r} pointing outside the root."
        )
    return "" if resolved == "." else resolved


def _check_symlink_loops(symlinks: dict[str, str]) -> None:
    for start in symlinks:
        seen = {start}
        current = symlinks[start]
        for _ in range(MAX_SYMLINK_HOPS):
            if current not in symlinks:
                break
            if current in seen:
                raise ScanError(f"A layer has a symlink loop through {start!r}.")
            seen.add(current)
            current = symlinks[current]
        else:
            raise ScanError(f"A layer has a symlink chain from {start!r} that is too long.")


def walk_layer(
    stream: BinaryIO,
    claims: Callable[[str], bool],
    limits: Limits,
    budget: Budget,
    stats: dict | None = None,
) -> Iterator[Entry]:
    """Yield the entries of one layer that matter to the analyzers, in archive order.

    ``claims(path)`` says whether an analyzer wants a path. Raises ScanError for hostile or
    corrupt input; errors of the underlying stream (e.g. a digest mismatch) pass through.
    ``stats`` (optional) receives ``entries`` and ``uncompressed_bytes`` at the end."""
    counter = _CountingReader(_decompressed(stream), limits.max_layer_bytes, budget)
    try:
        archive = tarfile.open(
            fileobj=io.BufferedReader(counter, 1 << 16),
            mode="r|",
            encoding="utf-8",
            errors="surrogateescape",
            tarinfo=_bounded_tarinfo(limits),
        )
        yield from _walk_members(archive, claims, limits, stats if stats is not None else {})
    except (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile, zstandard.ZstdError) as e:
        raise ScanError(f"A layer is not a valid (gzip/zstd) tar archive: {e}") from None
    if stats is not None:
        stats["uncompressed_bytes"] = counter.count


def _walk_members(
    archive: tarfile.TarFile, claims: Callable[[str], bool], limits: Limits, stats: dict
) -> Iterator[Entry]:
    """Walk members with ``next()`` (not iteration) so the member list can be dropped as we go:
    a streamed TarFile otherwise keeps every TarInfo of the layer in memory."""
    count = 0
    symlinks: dict[str, str] = {}
    while (member := archive.next()) is not None:
        archive.members.clear()
        count += 1
        if count > limits.max_entries:
            raise ScanError(
                f"A layer has more than {limits.max_entries} entries (REGSCAN_MAX_TAR_ENTRIES)."
            )
        yield from _entries_for(archive, member, claims, limits, symlinks)
    _check_symlink_loops(symlinks)
    stats["entries"] = count


def _entries_for(
    archive: tarfile.TarFile,
    member: tarfile.TarInfo,
    claims: Callable[[str], bool],
    limits: Limits,
    symlinks: dict[str, str],
) -> Iterator[Entry]:
    path = normalize_name(member.name)
    if not path:
        return
    base = posixpath.basename(path)
    if base.startswith(WHITEOUT_PREFIX):
        parent = posixpath.dirname(path)
        if base == OPAQUE_MARKER:
            yield Entry("opaque", parent)
        else:
            yield Entry("whiteout", posixpath.join(parent, base[len(WHITEOUT_PREFIX) :]))
        return
    if member.issym():
        symlinks[path] = _symlink_target(path, member.linkname)
        if claims(path):
            yield Entry("shadow", path)
    elif member.islnk():
        target = normalize_name(member.linkname)
        if claims(path):
            yield Entry("link", path, target=target)
    elif member.isreg():
        if claims(path):
            yield Entry("file", path, content=_read_member(archive, member, path, limits))
    elif member.isdir():
        return
    elif claims(path):
        # Device nodes and fifos are never opened; one where a package database belongs is hostile.
        raise ScanError(f"A layer has a device or fifo at {path!r}, where a file is expected.")


def _read_member(
    archive: tarfile.TarFile, member: tarfile.TarInfo, path: str, limits: Limits
) -> bytes:
    if member.size > limits.max_file_bytes:
        raise ScanError(
            f"{path!r} is {member.size} bytes, over the {_mb(limits.max_file_bytes)} cap for "
            "one file (REGSCAN_MAX_FILE_MB)."
        )
    handle = archive.extractfile(member)
    return handle.read() if handle is not None else b""
