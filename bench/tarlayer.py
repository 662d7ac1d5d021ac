"""Gzip tar layers written as a stream to disk, with their digest and diff_id computed on the way,
and helpers to fill them: bytes, streams of chunks (never whole in memory), real directory trees
and generated files whose compression ratio is like real content's."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import random
import tarfile
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

__all__ = [
    "LayerFile",
    "add_bytes",
    "add_generated",
    "add_stream",
    "add_tree",
    "add_tree_contents",
    "binary_blob",
    "build_layer",
    "text_blob",
]

_WORDS = (
    "import def return self value config request response error data list dict none true "
    "false class yield async await lambda for while if else elif try except finally with as "
    "from raise assert global nonlocal pass break continue the of to and a in is it that "
    "registry image layer manifest digest tag scan package version vulnerability severity"
).split()


@dataclass
class LayerFile:
    """A gzip layer on disk: its digest (compressed), diff_id (uncompressed) and size."""

    path: str
    digest: str
    diff_id: str
    size: int
    uncompressed_size: int


class _Hashing(io.RawIOBase):
    """A write-only stream that hashes and counts what passes through to ``sink`` (or nowhere)."""

    def __init__(self, sink) -> None:
        self.sink = sink
        self.sha = hashlib.sha256()
        self.count = 0

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        self.sha.update(data)
        self.count += len(data)
        if self.sink is not None:
            self.sink.write(data)
        return len(data)


def build_layer(path: Path, fill: Callable[[tarfile.TarFile], None]) -> LayerFile:
    """Write a gzip layer by calling ``fill(tar)``, streaming to ``path``; reuse it if made.

    Returns the layer's descriptor facts; the sidecar ``<path>.json`` marks a finished layer.
    """
    meta = path.with_suffix(".json")
    if path.exists() and meta.exists():
        return LayerFile(**json.loads(meta.read_text()))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    with open(tmp, "wb") as fh:
        compressed = _Hashing(fh)
        with gzip.GzipFile(fileobj=compressed, mode="wb", compresslevel=6, mtime=0) as gz:
            raw = _Hashing(gz)
            with tarfile.open(fileobj=raw, mode="w|", format=tarfile.PAX_FORMAT) as tar:
                fill(tar)
    tmp.rename(path)
    layer = LayerFile(
        path=str(path),
        digest="sha256:" + compressed.sha.hexdigest(),
        diff_id="sha256:" + raw.sha.hexdigest(),
        size=compressed.count,
        uncompressed_size=raw.count,
    )
    meta.write_text(json.dumps(asdict(layer)))
    return layer


# --- Adding entries -----------------------------------------------------------------------
def _info(name: str, kind: bytes = tarfile.REGTYPE, mode: int = 0o644) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.mode = mode
    info.mtime = 1_700_000_000
    return info


def add_bytes(tar: tarfile.TarFile, name: str, data: bytes, mode: int = 0o644) -> None:
    info = _info(name, mode=mode)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


def add_stream(tar: tarfile.TarFile, name: str, size: int, chunks) -> None:
    """Add a file of ``size`` bytes from an iterable of byte chunks (never whole in memory)."""
    info = _info(name)
    info.size = size
    tar.addfile(info, _ChunkReader(chunks))


class _ChunkReader(io.RawIOBase):
    def __init__(self, chunks) -> None:
        self.chunks = iter(chunks)
        self.buf = b""

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        while n < 0 or len(self.buf) < n:
            nxt = next(self.chunks, None)
            if nxt is None:
                break
            self.buf += nxt
        if n < 0:
            out, self.buf = self.buf, b""
        else:
            out, self.buf = self.buf[:n], self.buf[n:]
        return out


def add_tree(tar: tarfile.TarFile, src: Path, arcname: str) -> int:
    """Add a real directory tree with normalised owners and times; return bytes added."""

    def normalise(info: tarfile.TarInfo) -> tarfile.TarInfo:
        info.uid = info.gid = 0
        info.uname = info.gname = "root"
        info.mtime = 1_700_000_000
        return info

    tar.add(str(src), arcname=arcname, filter=normalise)
    return sum(p.stat().st_size for p in src.rglob("*") if p.is_file() and not p.is_symlink())


def text_blob(rng: random.Random, size: int) -> bytes:
    """Source-like text: compresses about 3-4x, like real code and docs."""
    words = rng.choices(_WORDS, k=size // 5 + 1)
    lines = [" ".join(words[i : i + 12]) for i in range(0, len(words), 12)]
    return "\n".join(lines).encode()[:size]


def binary_blob(rng: random.Random, size: int) -> bytes:
    """Binary-like bytes: three quarters random, one quarter zeros (a little compressible)."""
    out = bytearray()
    while len(out) < size:
        out += rng.randbytes(3072) + bytes(1024)
    return bytes(out[:size])


def add_generated(tar: tarfile.TarFile, prefix: str, rng: random.Random, total: int) -> None:
    """Add about ``total`` bytes of generated files (many small text, some binary) under prefix."""
    written = n = 0
    while written < total:
        if n % 10 == 9:
            size = rng.randint(64 << 10, 512 << 10)
            add_bytes(tar, f"{prefix}/lib/mod{n:05d}.so", binary_blob(rng, size), 0o755)
        else:
            size = rng.randint(512, 24 << 10)
            add_bytes(tar, f"{prefix}/src/pkg{n % 50:02d}/file{n:05d}.py", text_blob(rng, size))
        written += size
        n += 1


def add_tree_contents(tar: tarfile.TarFile, src: Path, arcname: str) -> None:
    for child in sorted(src.iterdir()):
        if child.name not in (".done",):
            add_tree(tar, child, f"{arcname}/{child.name}")
