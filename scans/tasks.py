"""django-q2 tasks. They take ids and are enqueued by dotted name (``scans.tasks.<name>``), so
``integrations`` and the web pages never import scan internals to start work.

Every task is safe to run twice: state changes are conditional updates (see
``scans.orchestration``), which is what makes django-q2's redelivery of a task whose worker was
killed harmless.
"""

from __future__ import annotations

import logging

from . import orchestration

__all__ = ["reap_stale_runs", "rematch_all", "scan_one_image", "scan_registry", "scheduled_scan"]

log = logging.getLogger("regscan.scans")


def scan_registry(run_id: int) -> None:
    """List and select for a queued run, then enqueue one ``scan_one_image`` per image."""
    orchestration.start_run(run_id)


def scan_one_image(image_scan_id: int) -> None:
    """Pull and scan one selected tag (or reuse the SBOM of its digest)."""
    orchestration.scan_image_task(image_scan_id)


def scheduled_scan(registry_id: int) -> str:
    """The registry's Schedule fires: fix its next run (organization time zone), then scan with
    the service user as actor. Returns the message of :func:`request_scan`."""
    from accounts.services import ensure_service_user
    from integrations.models import Registry

    from .schedules import reschedule

    registry = Registry.objects.select_related("organization").filter(pk=registry_id).first()
    if registry is None:
        return "The integration no longer exists."
    reschedule(registry)
    if not registry.enabled:
        return f"{registry.name} is disabled."
    actor = ensure_service_user(registry.organization)
    _, message = orchestration.request_scan(registry, trigger="scheduled", actor=actor)
    return message


def reap_stale_runs() -> int:
    """Finish runs without progress for REGSCAN_STALE_RUN_MINUTES as failed (periodic)."""
    return orchestration.reap_stale_runs()


def rematch_all() -> dict:
    """Re-match every stored SBOM against the vulnerability database; returns the counts.

    Imports re-match what they changed themselves (``importvulns``, and the scheduled
    ``scans.vulndb.tasks.refresh_vulnerability_data``); this task is the full re-match to
    enqueue by name, e.g. after an analyzer upgrade."""
    from scans.vulndb import api

    return api.rematch_all().as_dict()
