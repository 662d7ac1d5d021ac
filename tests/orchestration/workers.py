"""Real ``manage.py qcluster`` worker processes sharing the test database.

On SQLite the workers open the test's own database file (file-backed, see test_settings); on
PostgreSQL (``DATABASE_URL`` set) they connect to the test database ``test_<name>``, and with
``REDIS_URL`` set they use the same Redis broker as the test process.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote

from django.db import connection

ROOT = Path(__file__).resolve().parents[2]


def database_url() -> str:
    """A DATABASE_URL for the database the running test uses."""
    s = connection.settings_dict
    if s["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{Path(s['NAME']).resolve()}"
    user = quote(s.get("USER") or "")
    password = f":{quote(s['PASSWORD'])}" if s.get("PASSWORD") else ""
    auth = f"{user}{password}@" if user else ""
    host = s.get("HOST") or "127.0.0.1"
    port = f":{s['PORT']}" if s.get("PORT") else ""
    return f"postgres://{auth}{host}{port}/{s['NAME']}"


class Worker:
    """One ``qcluster`` process group with one worker; stopped (or killed) by its PID only."""

    def __init__(self, log_path: Path, **env: str) -> None:
        environ = dict(os.environ)
        environ.update(
            DJANGO_SETTINGS_MODULE="regscan_site.settings",
            DATABASE_URL=database_url(),
            REGSCAN_WORKERS="1",
            REGSCAN_SYNC_TASKS="0",
            PYTHONUNBUFFERED="1",
        )
        environ.update(env)
        self.log_path = log_path
        self._log = open(log_path, "ab")  # noqa: SIM115 (kept for the process)
        self.proc = subprocess.Popen(
            [sys.executable, "manage.py", "qcluster"],
            cwd=ROOT,
            env=environ,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: the cluster's children go with it
        )

    def kill(self) -> None:
        """SIGKILL the whole cluster at once (a worker machine losing power)."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)
        self._log.close()

    def stop(self) -> None:
        """Stop (SIGTERM to the cluster), killing it after 3 s: the test is over, so a task cut
        short does not matter, and django-q2's graceful stop can take much longer."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=3)
            except subprocess.TimeoutExpired:
                self.kill()
        self._log.close()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def wait_for(predicate, timeout: float, interval: float = 0.1):
    """Poll ``predicate`` until it returns something truthy; return it, or None at timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    return None
