"""A throwaway regscan installation (its own data dir and SQLite DB) driven through manage.py.

The benchmark process itself never imports Django: every regscan step runs as a child process
with its own environment, so several installations (a fresh one per cold run) can coexist, and
each child's wall time and peak memory are measured the same way as Syft's.
"""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from .rss import Measured, run_measured

__all__ = ["Instance", "REPO_ROOT", "VULNDATA"]

REPO_ROOT = Path(__file__).resolve().parent.parent
VULNDATA = Path(os.environ.get("REGSCAN_BENCH_VULNDATA", "/work/shared/vulndata"))
_DROP = ("DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE", "REGSCAN_DATA_DIR")


class Instance:
    """regscan with ``REGSCAN_DATA_DIR=root``; ``manage()`` runs a command and measures it."""

    def __init__(self, root: Path, workers: int = 1, extra_env: dict | None = None) -> None:
        self.root = Path(root)
        self.workers = workers
        self.extra_env = extra_env or {}
        self.cluster: subprocess.Popen | None = None

    @property
    def db_path(self) -> Path:
        return self.root / "regscan.sqlite3"

    def env(self) -> dict:
        env = {k: v for k, v in os.environ.items() if k not in _DROP}
        env.update(
            {
                "DJANGO_SETTINGS_MODULE": "regscan_site.settings",
                "REGSCAN_DATA_DIR": str(self.root),
                "REGSCAN_GENERATE_SECRETS": "1",
                "REGSCAN_WORKERS": str(self.workers),
                "REGSCAN_LOG_LEVEL": "WARNING",
                "PYTHONUNBUFFERED": "1",
            }
        )
        env.update(self.extra_env)
        return env

    def manage(
        self, *args: str, stdin: str | None = None, check: bool = True, python_args=()
    ) -> Measured:
        """Run ``manage.py args``; raise RuntimeError with its stderr when ``check`` and it fails."""
        argv = [sys.executable, *python_args, str(REPO_ROOT / "manage.py"), *args]
        run = run_measured(
            argv,
            env=self.env(),
            cwd=str(REPO_ROOT),
            stdin=stdin.encode() if stdin is not None else None,
        )
        if check and run.code != 0:
            raise RuntimeError(
                f"manage.py {' '.join(args)} exited {run.code}:\n{run.stderr[-3000:]}"
            )
        return run

    def python(self, *args: str) -> Measured:
        """Run ``python args`` in this installation's environment; raise when it fails."""
        run = run_measured([sys.executable, *args], env=self.env(), cwd=str(REPO_ROOT))
        if run.code != 0:
            raise RuntimeError(f"python {' '.join(args)} exited {run.code}:\n{run.stderr[-3000:]}")
        return run

    # --- Set-up ---------------------------------------------------------------------------
    def create(self, vulndata: bool = True) -> Instance:
        """Make a fresh installation: migrate, bootstrap, and import the vulndata set."""
        shutil.rmtree(self.root, ignore_errors=True)
        self.root.mkdir(parents=True)
        self.schema = self.python("-m", "bench.schema").stdout.strip()
        self.manage("bootstrap", "--org", "bench", "--admin", "bench-admin")
        if vulndata:
            self.manage("importvulns", *sorted(str(p) for p in vulndata_files()))
        return self

    def clone(self, root: Path, workers: int | None = None) -> Instance:
        """Copy this (stopped) installation to ``root``; return the copy."""
        shutil.rmtree(root, ignore_errors=True)
        self.checkpoint()
        shutil.copytree(self.root, root, ignore=shutil.ignore_patterns("*-wal", "*-shm"))
        return Instance(root, workers or self.workers, self.extra_env)

    def checkpoint(self) -> None:
        if self.db_path.exists():
            with sqlite3.connect(self.db_path) as db:
                db.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    # --- Workers --------------------------------------------------------------------------
    def start_cluster(self) -> None:
        """Start ``manage.py qcluster`` with ``self.workers`` workers (logs in root/qcluster.log)."""
        log = open(self.root / "qcluster.log", "ab")  # noqa: SIM115 - owned by the child
        self.cluster = subprocess.Popen(
            [sys.executable, str(REPO_ROOT / "manage.py"), "qcluster"],
            env=self.env(),
            cwd=str(REPO_ROOT),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def cluster_high_water(self) -> int:
        """Return the largest VmHWM (peak RSS, bytes) among the cluster's live processes.

        The cluster runs in a session of its own, so its processes are the ones whose session
        id is its PID. Returns 0 when it is not running.
        """
        if self.cluster is None:
            return 0
        peak = 0
        for proc in Path("/proc").iterdir():
            if not proc.name.isdigit():
                continue
            try:
                stat = (proc / "stat").read_text()
                sid = int(stat.rsplit(")", 1)[1].split()[3])
                if sid != self.cluster.pid:
                    continue
                for line in (proc / "status").read_text().splitlines():
                    if line.startswith("VmHWM:"):
                        peak = max(peak, int(line.split()[1]) * 1024)
            except (OSError, IndexError, ValueError):
                continue
        return peak

    def stop_cluster(self) -> int:
        """Stop the cluster started here (SIGTERM to its process group); return its peak RSS.

        The peak RSS covers the cluster and its reaped worker processes (wait4 rusage).
        """
        if self.cluster is None:
            return 0
        pid = self.cluster.pid
        # The cluster's main process stops its own workers on SIGTERM; the group is killed
        # only when that takes too long.
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 30
        peak = 0
        while time.monotonic() < deadline:
            done, status, usage = os.wait4(pid, os.WNOHANG)
            if done:
                peak = usage.ru_maxrss * 1024
                break
            time.sleep(0.2)
        else:
            os.killpg(pid, signal.SIGKILL)
            _, _, usage = os.wait4(pid, 0)
            peak = usage.ru_maxrss * 1024
        self.cluster.returncode = 0
        self.cluster = None
        return peak

    # --- Reading results (plain SQLite; the bench process stays Django-free) --------------
    def query(self, sql: str, params: tuple = ()) -> list[tuple]:
        with sqlite3.connect(self.db_path, timeout=30) as db:
            return db.execute(sql, params).fetchall()


def vulndata_files() -> list[Path]:
    """The first slice of the shared OSV files plus the KEV catalog (every ecosystem).

    The second slice (``*.more.osv.jsonl``) is kept for the re-match figure, which imports it
    into an installation that has already scanned the registry.
    """
    files = sorted(p for p in VULNDATA.glob("*.osv.jsonl") if ".more." not in p.name)
    kev = VULNDATA / "cisa_kev.json"
    return files + ([kev] if kev.exists() else [])
