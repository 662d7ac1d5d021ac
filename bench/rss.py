"""Run a child process and measure its peak resident memory (``ru_maxrss`` from ``wait4``)."""

from __future__ import annotations

import os
import subprocess
import tempfile
import threading
from dataclasses import dataclass

__all__ = ["Measured", "run_measured"]


@dataclass
class Measured:
    """A finished child: exit code, wall seconds, peak RSS (bytes), stdout and stderr text."""

    code: int
    seconds: float
    peak_rss: int
    stdout: str
    stderr: str


def run_measured(
    argv: list[str],
    *,
    env: dict | None = None,
    cwd: str | None = None,
    stdin: bytes | None = None,
    timeout: float = 3600,
) -> Measured:
    """Run ``argv`` to the end and return a :class:`Measured`.

    The peak is the kernel's own high-water mark of that child (``wait4`` rusage, KiB on Linux).
    Output goes through temporary files, so a chatty child can't block on a full pipe. After
    ``timeout`` seconds the child is killed (SIGKILL) and the result has its negative code.
    """
    import time

    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        proc = subprocess.Popen(
            argv,
            env=env,
            cwd=cwd,
            stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
            stdout=out,
            stderr=err,
        )
        if stdin is not None:
            proc.stdin.write(stdin)
            proc.stdin.close()
        timer = threading.Timer(timeout, proc.kill)
        timer.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            timer.cancel()
        seconds = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return Measured(
            code=proc.returncode,
            seconds=seconds,
            peak_rss=usage.ru_maxrss * 1024,
            stdout=out.read().decode("utf-8", "replace"),
            stderr=err.read().decode("utf-8", "replace"),
        )
