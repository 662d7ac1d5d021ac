"""The real CNCF distribution registry (``/usr/bin/docker-registry``) on 127.0.0.1 for benchmarks.

The registry writes its access log (Apache combined format) to a file, and :class:`AccessLog`
turns a slice of it into request counts by kind and bytes sent: the server's own account of what
a scanner asked for, the same for regscan and Syft. Pushing is plain Distribution API over
``requests``; blobs are streamed from disk, so a 1 GB layer is never held in memory.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import bcrypt
import requests

__all__ = ["AccessLog", "BenchRegistry", "RequestCounts", "file_digest"]

USERNAME = "bench"
PASSWORD = "bench-password"

_CONFIG = """version: 0.1
log: {{level: warn, accesslog: {{disabled: false}}}}
storage: {{filesystem: {{rootdirectory: {root}/data}}, delete: {{enabled: true}}}}
http: {{addr: 127.0.0.1:{port}, secret: bench}}
auth: {{htpasswd: {{realm: bench, path: {root}/htpasswd}}}}
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def file_digest(path: Path) -> str:
    """Return ``sha256:<hex>`` of a file, read in 1 MB chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            h.update(chunk)
    return "sha256:" + h.hexdigest()


class BenchRegistry:
    """A registry process over the data directory ``root`` (kept between runs).

    ``start()`` returns once ``GET /v2/`` answers; ``stop()`` sends SIGTERM to its PID only.
    """

    def __init__(self, root: Path, port: int | None = None) -> None:
        self.root = Path(root)
        self.port = port or _free_port()
        self.proc: subprocess.Popen | None = None
        self.access_log = self.root / "access.log"
        self.session = requests.Session()
        self.session.auth = (USERNAME, PASSWORD)

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    def start(self) -> BenchRegistry:
        self.root.mkdir(parents=True, exist_ok=True)
        (self.root / "data").mkdir(exist_ok=True)
        hashed = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=5)).decode()
        (self.root / "htpasswd").write_text(f"{USERNAME}:{hashed}\n")
        config = self.root / "config.yml"
        config.write_text(_CONFIG.format(root=self.root, port=self.port))
        log = open(self.access_log, "ab")  # noqa: SIM115 - handed to the child process
        self.proc = subprocess.Popen(
            ["/usr/bin/docker-registry", "serve", str(config)],
            stdout=log,
            stderr=open(self.root / "registry.err", "ab"),  # noqa: SIM115
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                if requests.get(self.url + "/v2/", timeout=1).status_code in (200, 401):
                    return self
            except requests.ConnectionError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"docker-registry did not start; see {self.root}/registry.err")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.proc = None

    def __enter__(self) -> BenchRegistry:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # --- Pushing -------------------------------------------------------------------------
    def has_blob(self, repo: str, digest: str) -> bool:
        r = self.session.head(f"{self.url}/v2/{repo}/blobs/{digest}", timeout=30)
        return r.status_code == 200

    def push_blob_file(self, repo: str, path: Path, digest: str | None = None) -> str:
        """Upload a blob from a file (streamed from disk) unless the repository has it.

        Returns its digest; raises ``requests.HTTPError`` when the registry refuses it.
        """
        digest = digest or file_digest(path)
        if self.has_blob(repo, digest):
            return digest
        r = self.session.post(f"{self.url}/v2/{repo}/blobs/uploads/", timeout=30)
        r.raise_for_status()
        location = r.headers["Location"]
        if location.startswith("/"):
            location = self.url + location
        sep = "&" if "?" in location else "?"
        size = path.stat().st_size
        with open(path, "rb") as fh:
            r = self.session.put(
                f"{location}{sep}digest={digest}",
                data=fh,
                headers={"Content-Type": "application/octet-stream", "Content-Length": str(size)},
                timeout=600,
            )
        r.raise_for_status()
        return digest

    def push_blob_bytes(self, repo: str, data: bytes) -> str:
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        if self.has_blob(repo, digest):
            return digest
        r = self.session.post(f"{self.url}/v2/{repo}/blobs/uploads/", timeout=30)
        r.raise_for_status()
        location = r.headers["Location"]
        if location.startswith("/"):
            location = self.url + location
        sep = "&" if "?" in location else "?"
        r = self.session.put(
            f"{location}{sep}digest={digest}",
            data=data,
            headers={"Content-Type": "application/octet-stream"},
            timeout=60,
        )
        r.raise_for_status()
        return digest

    def push_manifest(self, repo: str, tag: str, body: bytes, media_type: str) -> str:
        r = self.session.put(
            f"{self.url}/v2/{repo}/manifests/{tag}",
            data=body,
            headers={"Content-Type": media_type},
            timeout=60,
        )
        r.raise_for_status()
        return r.headers["Docker-Content-Digest"]

    def set_push_time(self, repo: str, tag: str, when: float) -> None:
        """Set the tag's push time as distribution 2.8 keeps it (the mtime of its link file)."""
        link = (
            self.root
            / "data/docker/registry/v2/repositories"
            / repo
            / "_manifests/tags"
            / tag
            / "current/link"
        )
        os.utime(link, (when, when))

    def wipe(self) -> None:
        """Remove the registry's data (the process must be stopped)."""
        shutil.rmtree(self.root / "data", ignore_errors=True)


# --- The access log -----------------------------------------------------------------------
_LINE = re.compile(
    r'^\S+ \S+ (?P<user>\S+) \[[^\]]+\] "(?P<method>[A-Z]+) (?P<path>\S+) [^"]*" '
    r'(?P<status>\d{3}) (?P<size>\d+|-) "[^"]*" "(?P<agent>[^"]*)"'
)


def classify(method: str, path: str) -> str:
    """Name the kind of a Distribution API request: listing, manifest HEAD/GET, blob HEAD/GET."""
    path = path.split("?", 1)[0]
    if path in ("/v2/", "/v2"):
        return "ping"
    if path.endswith("/_catalog") or path.endswith("/tags/list"):
        return "listing"
    if "/manifests/" in path:
        return f"manifest {method}"
    if "/blobs/uploads" in path:
        return "upload"
    if "/blobs/" in path:
        return f"blob {method}"
    return f"other {method}"


@dataclass
class RequestCounts:
    """What one client asked the registry for, from the access log."""

    by_kind: Counter = field(default_factory=Counter)
    unauthorized: int = 0
    blob_bytes: int = 0
    manifest_bytes: int = 0
    blob_digests: Counter = field(default_factory=Counter)
    blob_bytes_by_digest: Counter = field(default_factory=Counter)

    def as_dict(self) -> dict:
        return {
            "requests": dict(sorted(self.by_kind.items())),
            "requests_total": sum(self.by_kind.values()),
            "unauthorized_challenges": self.unauthorized,
            "blob_bytes": self.blob_bytes,
            "manifest_bytes": self.manifest_bytes,
            "blob_gets_repeated": sum(n - 1 for n in self.blob_digests.values() if n > 1),
        }


class AccessLog:
    """Reads the registry's access log from a mark onwards (``mark()`` then ``counts()``)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.offset = 0

    def mark(self) -> None:
        self.offset = self.path.stat().st_size if self.path.exists() else 0

    def counts(self, agent_contains: str | None = None) -> RequestCounts:
        """Count the requests logged since ``mark()``; 401 challenges are counted apart.

        ``agent_contains`` keeps only requests whose User-Agent contains it (e.g. "Syft").
        """
        out = RequestCounts()
        with open(self.path, "rb") as fh:
            fh.seek(self.offset)
            data = fh.read().decode("utf-8", "replace")
        for line in data.splitlines():
            m = _LINE.match(line)
            if not m or (agent_contains and agent_contains not in m["agent"]):
                continue
            if m["status"] == "401":
                out.unauthorized += 1
                continue
            kind = classify(m["method"], m["path"])
            out.by_kind[kind] += 1
            size = 0 if m["size"] == "-" else int(m["size"])
            if kind == "blob GET" and m["status"] in ("200", "206"):
                out.blob_bytes += size
                digest = m["path"].rsplit("/", 1)[-1]
                out.blob_digests[digest] += 1
                out.blob_bytes_by_digest[digest] += size
            elif kind == "manifest GET":
                out.manifest_bytes += size
        return out


def dump_json(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
