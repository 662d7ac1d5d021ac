"""django-q2 tasks of the vulnerability database (thin: ids and text in, services do the work).

``ensure_refresh_schedule()`` creates or updates the one ``vulndb-refresh`` Schedule from
``REGSCAN_VULN_REFRESH_CRON``; call it from start-up code (e.g. the run script or a
``post_migrate`` handler), never at import time.
"""

from __future__ import annotations

import logging

from django.conf import settings

log = logging.getLogger(__name__)

SCHEDULE_NAME = "vulndb-refresh"


def refresh_vulnerability_data() -> None:
    """Import every location of ``REGSCAN_VULN_SOURCES`` and re-match changed packages.

    Idempotent (OSV ``modified`` decides); bad or unreachable sources are logged, the others
    are still imported. Does nothing when no source is configured.
    """
    from .services import import_sources

    sources = list(settings.REGSCAN_VULN_SOURCES)
    if not sources:
        log.info("No REGSCAN_VULN_SOURCES configured: nothing to refresh.")
        return
    report = import_sources(sources)
    for error in report.format_errors + report.unavailable:
        log.warning("Vulnerability source not imported: %s", error)
    log.info("Vulnerability data refreshed: %s", report.as_dict()["rematch"])


def rematch_task(keys: list[list[str]] | None = None) -> dict:
    """Re-match stored SBOMs; ``keys`` are ``[ecosystem, name]`` pairs (None: everything).

    Returns the SyncResult as a dict (stored by django-q as the task result).
    """
    from .services import rematch_all

    changed = {(eco, name) for eco, name in keys} if keys is not None else None
    return rematch_all(changed).as_dict()


def ensure_refresh_schedule() -> object:
    """Create or update the ``vulndb-refresh`` Schedule (CRON from settings); returns it.

    Uses update_or_create by name, so calling it again never duplicates the schedule.
    """
    from django_q.models import Schedule

    schedule, _ = Schedule.objects.update_or_create(
        name=SCHEDULE_NAME,
        defaults={
            "func": "scans.vulndb.tasks.refresh_vulnerability_data",
            "schedule_type": Schedule.CRON,
            "cron": settings.REGSCAN_VULN_REFRESH_CRON,
            "repeats": -1,
        },
    )
    return schedule
