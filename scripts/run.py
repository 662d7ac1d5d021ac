"""`make run`: migrate, bootstrap, then web server and one django-q2 worker in the foreground.

Ctrl-C (or SIGTERM) stops both. Listens on 127.0.0.1:8000 unless REGSCAN_LISTEN says otherwise.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

MANAGE = [sys.executable, "manage.py"]


def main() -> int:
    os.environ.setdefault("REGSCAN_GENERATE_SECRETS", "1")
    listen = os.environ.get("REGSCAN_LISTEN", "127.0.0.1:8000")
    subprocess.run([*MANAGE, "migrate", "--noinput"], check=True)
    subprocess.run([*MANAGE, "bootstrap"], check=True)
    subprocess.run([*MANAGE, "collectstatic", "--noinput", "-v", "0"], check=True)
    procs = [
        subprocess.Popen([*MANAGE, "runserver", "--noreload", listen]),
        subprocess.Popen([*MANAGE, "qcluster"]),
    ]
    print(f"regscan is running on http://{listen}/ (Ctrl-C stops web and worker)", flush=True)

    def stop(*_: object) -> None:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGINT)

    signal.signal(signal.SIGTERM, stop)
    try:
        while all(p.poll() is None for p in procs):
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    stop()
    for p in procs:
        try:
            p.wait(timeout=15)
        except subprocess.TimeoutExpired:
            p.kill()
    return 0


if __name__ == "__main__":
    sys.exit(main())
