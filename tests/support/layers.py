"""Builders of layers from real content (owned by the scan-engine work).

Session fixtures (each skips with a reason when its tool or network is missing):

- ``dpkg_root``: this machine's real ``/var/lib/dpkg/status`` and os-release as layer files,
  with what ``dpkg-query`` says is installed.
- ``pip_root``: ``pip install --target DIR --no-deps`` of pinned older releases (real dist-info).
- ``npm_root``: ``npm install --prefix DIR`` of pinned versions (real package.json files).

Plain helpers: ``files_from_dir`` (a directory as ``make_layer`` entries), ``raw_tar`` (a tar
with members ``make_layer`` refuses to write: ``..`` and absolute names, devices, raw byte names),
``apk_installed`` (an apk database in Alpine's format), ``stream_big_layer`` (a large layer
written to a file in a streaming way, for memory measurements).
"""

from __future__ import annotations

import io
import os
import random
import shutil
import sqlite3
import struct
import subprocess
import sys
import tarfile
from dataclasses import dataclass
from pathlib import Path

import pytest

__all__ = [
    "PIP_PINS",
    "NPM_PINS",
    "RealRoot",
    "apk_installed",
    "files_from_dir",
    "raw_tar",
    "rpm_header_blob",
    "rpmdb_sqlite",
    "stream_big_layer",
]

PIP_PINS = {"urllib3": "1.26.5", "requests": "2.25.0"}
NPM_PINS = {"lodash": "4.17.15", "minimist": "1.2.0"}


@dataclass
class RealRoot:
    """Layer files (path -> bytes, no leading slash) and what the real tool says is in them."""

    files: dict[str, bytes | tuple]
    expected: set[tuple[str, ...]]


def files_from_dir(directory: Path, prefix: str) -> dict[str, bytes]:
    """Every regular file under ``directory`` as ``{prefix/relative path: bytes}``."""
    files: dict[str, bytes] = {}
    for path in sorted(directory.rglob("*")):
        if path.is_file() and not path.is_symlink():
            files[f"{prefix.strip('/')}/{path.relative_to(directory).as_posix()}"] = (
                path.read_bytes()
            )
    return files


def raw_tar(members: list[tuple[tarfile.TarInfo, bytes | None]]) -> bytes:
    """An uncompressed tar of exactly these members (names are written as given)."""
    buf = io.BytesIO()
    with tarfile.open(
        fileobj=buf, mode="w", format=tarfile.GNU_FORMAT, encoding="utf-8", errors="surrogateescape"
    ) as tar:
        for info, data in members:
            if data is not None:
                info.size = len(data)
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return buf.getvalue()


def member(name: str, kind: bytes = tarfile.REGTYPE, linkname: str = "") -> tarfile.TarInfo:
    """A TarInfo with fixed metadata; ``kind`` is a tarfile type such as ``tarfile.CHRTYPE``."""
    info = tarfile.TarInfo(name)
    info.type = kind
    info.mode = 0o644
    info.linkname = linkname
    return info


def apk_installed(packages: list[dict[str, str]]) -> bytes:
    """An apk ``installed`` database: one paragraph per package with the keys given
    (``P`` name, ``V`` version, ``A`` arch, ``o`` origin, ...), as apk-tools writes it."""
    paragraphs = []
    for pkg in packages:
        lines = [f"C:Q1{os.urandom(20).hex()[:27]}="]
        lines += [f"{key}:{value}" for key, value in pkg.items()]
        lines += ["F:usr", "R:placeholder"]
        paragraphs.append("\n".join(lines) + "\n")
    return "\n".join(paragraphs).encode() + b"\n"


def stream_big_layer(path: Path, total_bytes: int, tail: dict[str, bytes], seed: int = 1) -> None:
    """Write a plain tar of about ``total_bytes`` of pseudo-random files, then ``tail`` files,
    to ``path`` without holding more than one 1 MB file in memory."""
    rng = random.Random(seed)
    written = 0
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as tar:
        i = 0
        while written < total_bytes:
            data = rng.randbytes(1 << 20)
            info = tarfile.TarInfo(f"data/{i // 100:04d}/blob-{i:06d}.bin")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
            written += len(data)
            i += 1
        for name, data in tail.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


RPM_TYPE_INT32, RPM_TYPE_STRING, RPM_TYPE_BIN = 4, 6, 7


def rpm_header_blob(tags: dict[int, str | int]) -> bytes:
    """An rpm header blob as rpmdb.sqlite stores them (rpm's documented header layout: index
    count, data size, 16-byte big-endian index entries, data store), with a leading
    immutable-region entry. ``tags`` maps tag numbers (1000 NAME, ...) to str or int values."""
    entries, store = [], b""
    region_trailer = b"\0" * 16
    entries.append((63, RPM_TYPE_BIN, 0, 16))
    store += region_trailer
    for tag, value in tags.items():
        if isinstance(value, int):
            store += b"\0" * (-len(store) % 4)
            entries.append((tag, RPM_TYPE_INT32, len(store), 1))
            store += struct.pack(">i", value)
        else:
            entries.append((tag, RPM_TYPE_STRING, len(store), 1))
            store += value.encode() + b"\0"
    index = b"".join(struct.pack(">iiii", *e) for e in entries)
    return struct.pack(">ii", len(entries), len(store)) + index + store


def rpmdb_sqlite(headers: list[bytes]) -> bytes:
    """The bytes of an rpmdb.sqlite whose Packages table holds ``headers``."""
    db = sqlite3.connect(":memory:")
    db.execute("CREATE TABLE Packages (hnum INTEGER PRIMARY KEY AUTOINCREMENT, blob BLOB NOT NULL)")
    db.executemany("INSERT INTO Packages (blob) VALUES (?)", [(h,) for h in headers])
    db.commit()
    data = db.serialize()
    db.close()
    return data


def _os_release_bytes() -> bytes:
    for candidate in ("/etc/os-release", "/usr/lib/os-release"):
        if os.path.exists(candidate):
            return Path(candidate).read_bytes()
    pytest.skip("this machine has no os-release file")


@pytest.fixture(scope="session")
def dpkg_root(tmp_path_factory) -> RealRoot:
    """This machine's dpkg database. ``expected`` holds (package, version, source name, source
    version) of every package dpkg-query reports as installed, read from a copy of the DB."""
    if not shutil.which("dpkg-query") or not os.path.exists("/var/lib/dpkg/status"):
        pytest.skip("dpkg-query or /var/lib/dpkg/status is missing")
    admindir = tmp_path_factory.mktemp("dpkg-admin")
    status = Path("/var/lib/dpkg/status").read_bytes()
    (admindir / "status").write_bytes(status)
    (admindir / "info").mkdir()
    (admindir / "updates").mkdir()
    fmt = "${db:Status-Status}\t${Package}\t${Version}\t${source:Package}\t${source:Version}\n"
    out = subprocess.run(
        ["dpkg-query", f"--admindir={admindir}", "-W", "-f", fmt],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    expected = {
        tuple(line.split("\t")[1:]) for line in out.splitlines() if line.startswith("installed\t")
    }
    os_release = _os_release_bytes()
    return RealRoot(
        files={
            "var/lib/dpkg/status": status,
            "usr/lib/os-release": os_release,
            "etc/os-release": ("symlink", "../usr/lib/os-release"),  # as on Debian
        },
        expected=expected,
    )


# pip and npm reach their package registries in the test command's set-up step
# (``python -m tests.support.layers``, run by scripts/test.sh), never during the tests: the
# tests themselves only read the prepared folders below.
FIXTURE_CACHE = Path(
    os.environ.get(
        "REGSCAN_FIXTURE_CACHE", Path(__file__).resolve().parents[2] / ".cache" / "test-fixtures"
    )
)


def _pins_marker(kind: str, pins: dict[str, str]) -> Path:
    return FIXTURE_CACHE / kind / ("pins-" + "-".join(f"{n}={v}" for n, v in sorted(pins.items())))


def prepare_pip_root() -> Path:
    """Install PIP_PINS into the fixture cache once (``pip install --target --no-deps``)."""
    marker = _pins_marker("pip", PIP_PINS)
    target = FIXTURE_CACHE / "pip" / "site-packages"
    if not marker.exists():
        shutil.rmtree(target, ignore_errors=True)
        pins = [f"{name}=={version}" for name, version in PIP_PINS.items()]
        subprocess.run(
            [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
            + ["--no-deps", "--no-compile", "--target", str(target), *pins],
            check=True,
            timeout=300,
        )
        marker.touch()
    return target


def prepare_npm_root() -> Path:
    """Install NPM_PINS into the fixture cache once (``npm install --prefix``)."""
    marker = _pins_marker("npm", NPM_PINS)
    prefix = FIXTURE_CACHE / "npm" / "app"
    if not marker.exists():
        shutil.rmtree(prefix, ignore_errors=True)
        prefix.mkdir(parents=True)
        pins = [f"{name}@{version}" for name, version in NPM_PINS.items()]
        subprocess.run(
            [
                "npm",
                "install",
                "--prefix",
                str(prefix),
                "--no-audit",
                "--no-fund",
                "--silent",
                *pins,
            ],
            check=True,
            timeout=300,
            env={**os.environ, "npm_config_update_notifier": "false"},
        )
        marker.touch()
    return prefix


def _prepared(kind: str, pins: dict[str, str], path: Path) -> Path:
    if _pins_marker(kind, pins).exists():
        return path
    message = (
        f"{kind} fixtures are not prepared: run `python -m tests.support.layers` (make test does)"
    )
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="session")
def pip_root() -> RealRoot:
    """Real dist-info directories of PIP_PINS; ``expected`` holds (normalised name, version)."""
    target = _prepared("pip", PIP_PINS, FIXTURE_CACHE / "pip" / "site-packages")
    return RealRoot(
        files=files_from_dir(target, "usr/local/lib/python3.11/site-packages"),
        expected=set(PIP_PINS.items()),
    )


@pytest.fixture(scope="session")
def npm_root() -> RealRoot:
    """Real node_modules of NPM_PINS; ``expected`` holds (name, version) of the pins."""
    prefix = _prepared("npm", NPM_PINS, FIXTURE_CACHE / "npm" / "app")
    return RealRoot(files=files_from_dir(prefix, "app"), expected=set(NPM_PINS.items()))


if __name__ == "__main__":
    print(f"pip fixtures: {prepare_pip_root()}", file=sys.stderr)
    if shutil.which("npm"):
        print(f"npm fixtures: {prepare_npm_root()}", file=sys.stderr)
    else:
        print("npm is missing: npm fixture tests will be skipped", file=sys.stderr)
