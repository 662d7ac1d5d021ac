"""Reading vulnerability data: format detection and record readers (no database).

``sniff(data, name)`` tells OSV JSON / JSONL / zip, the CISA KEV catalog and the FIRST EPSS CSV
apart by content (gzip is unwrapped first); anything else raises :class:`ImportFormatError`
naming the file. ``download(url, name)`` fetches a URL into a temporary file.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import tempfile
import zipfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests
from django.conf import settings

__all__ = [
    "ImportFormatError",
    "NotAFeed",
    "SourceUnavailable",
    "download",
    "head",
    "jsonl_records",
    "osv_records",
    "records_in_dir",
    "sniff",
]

_DIR_SUFFIXES = (".json", ".jsonl", ".zip", ".gz", ".csv")


class ImportFormatError(ValueError):
    """A location that is none of the supported formats (the CLI exits 2)."""


class NotAFeed(ImportFormatError):
    """Well-formed JSON that is no feed (a manifest, a config): a directory skips such files."""


class SourceUnavailable(RuntimeError):
    """A location that could not be read at all: missing path, unreachable URL (exit 3)."""


@contextmanager
def download(url: str, name: str) -> Iterator[Path]:
    """Download ``url`` to a temporary file named like the URL's last part; yield its path
    and delete it afterwards. Raises SourceUnavailable (messages use ``name``, the URL
    without credentials) when the server cannot be reached or does not answer 200."""
    suffix = os.path.basename(urlsplit(url).path) or "download"
    tmp = tempfile.NamedTemporaryFile(suffix="-" + suffix, delete=False)
    try:
        with tmp as out:
            _fetch(url, name, out)
        yield Path(tmp.name)
    finally:
        os.unlink(tmp.name)


def _fetch(url: str, name: str, out) -> None:
    try:
        with requests.get(url, stream=True, timeout=settings.REGSCAN_REQUEST_TIMEOUT) as response:
            if response.status_code != 200:
                raise SourceUnavailable(f"{name}: HTTP {response.status_code}")
            for chunk in response.iter_content(chunk_size=1 << 20):
                out.write(chunk)
    except requests.RequestException as exc:
        # The exception text may repeat the URL with its credentials: name the type only.
        raise SourceUnavailable(f"{name}: cannot download ({type(exc).__name__})")


def sniff(data: bytes, name: str) -> tuple[str, Any]:
    """Return ``(kind, payload)``: kind is osv-json, osv-jsonl, osv-zip, kev or epss."""
    if data[:4] == b"PK\x03\x04":
        return "osv-zip", data
    if data[:2] == b"\x1f\x8b":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError):
            raise ImportFormatError(f"{name}: damaged gzip file")
        return sniff(data, name)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ImportFormatError(f"{name}: not OSV JSON/JSONL/zip, a KEV catalog or an EPSS CSV")
    head = text.lstrip()[:200].lower()
    if head.startswith("#model_version") or head.startswith("cve,epss"):
        return "epss", text
    if head.startswith(("{", "[")):
        return _sniff_json(text, name)
    raise ImportFormatError(f"{name}: not OSV JSON/JSONL/zip, a KEV catalog or an EPSS CSV")


def _sniff_json(text: str, name: str) -> tuple[str, Any]:
    try:
        doc = json.loads(text)
    except json.JSONDecodeError:
        return "osv-jsonl", text  # validated record by record
    if isinstance(doc, dict) and isinstance(doc.get("vulnerabilities"), list):
        if "catalogVersion" in doc or "Known Exploited" in str(doc.get("title", "")):
            return "kev", doc
    if isinstance(doc, dict) and _looks_osv(doc):
        return "osv-json", [doc]
    if isinstance(doc, list) and doc and all(isinstance(r, dict) and _looks_osv(r) for r in doc):
        return "osv-json", doc
    raise NotAFeed(f"{name}: JSON that is neither an OSV record nor a KEV catalog")


def _looks_osv(doc: dict[str, Any]) -> bool:
    return isinstance(doc.get("id"), str) and ("affected" in doc or "modified" in doc)


def osv_records(kind: str, payload: Any, name: str) -> Iterator[dict[str, Any]]:
    if kind == "osv-json":
        yield from payload
    elif kind == "osv-jsonl":
        yield from jsonl_records(payload, name)
    else:
        yield from records_in_zip(payload, name)


def head(path: Path) -> bytes:
    with open(path, "rb") as fh:
        return fh.read(4)


def jsonl_records(lines: str | Iterable[str], name: str) -> Iterator[dict[str, Any]]:
    if isinstance(lines, str):
        lines = lines.splitlines()
    for lineno, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            raise ImportFormatError(f"{name}: line {lineno} is not JSON")
        if not isinstance(record, dict) or not _looks_osv(record):
            raise ImportFormatError(f"{name}: line {lineno} is not an OSV record")
        yield record


def records_in_zip(data: bytes, name: str) -> Iterator[dict[str, Any]]:
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile:
        raise ImportFormatError(f"{name}: damaged zip archive")
    with archive:
        for info in archive.infolist():
            if info.is_dir() or not info.filename.endswith((".json", ".jsonl")):
                continue
            member = f"{name}:{info.filename}"
            kind, payload = sniff(archive.read(info), member)
            if not kind.startswith("osv"):
                raise ImportFormatError(f"{member}: not an OSV record")
            yield from osv_records(kind, payload, member)


def records_in_dir(
    root: Path, aside: list[Path] | None = None, ignored: list[Path] | None = None
) -> Iterator[dict[str, Any]]:
    """Yield the OSV records of every data file below ``root``.

    KEV and EPSS files found there (a folder of downloaded feeds holds all three) are not OSV:
    they are appended to ``aside`` for the caller to import as sources of their own; without
    an ``aside`` list they are refused. JSON files that are no feed at all (a folder's
    ``manifest.json``) are appended to ``ignored``; without that list they are refused.
    A damaged data file always raises :class:`ImportFormatError`.
    """
    # Only files with a data suffix are read: OSV repositories also hold READMEs and scripts.
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for filename in sorted(filenames):
            if not filename.endswith(_DIR_SUFFIXES):
                continue
            path = Path(dirpath) / filename
            try:
                kind, payload = sniff(path.read_bytes(), str(path))
            except NotAFeed:
                if ignored is None:
                    raise
                ignored.append(path)
                continue
            if not kind.startswith("osv"):
                if aside is None:
                    raise ImportFormatError(f"{path}: a {kind} file inside an OSV directory")
                aside.append(path)
                continue
            yield from osv_records(kind, payload, str(path))
