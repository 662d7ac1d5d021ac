"""Recording what runs in a cluster, and scanning it: RunningImage rows, System-managed
registries, what no longer runs, and one scan per running digest (django-q2)."""

from __future__ import annotations

import ipaddress
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from accounts.models import Organization
from integrations.models import Registry, RegistryAccess
from integrations.occurrences import record_registry_occurrence
from scans.models.k8s import DiscoveredScanStatus, RunningImage

from .kubectl import SeenContainer, merge_containers

__all__ = ["DiscoveryResult", "record_discovery", "scan_discovered_image"]

logger = logging.getLogger(__name__)


@dataclass
class DiscoveryResult:
    images: list[tuple[RunningImage, bool]] = field(default_factory=list)  # (row, created)
    registries: list[Registry] = field(default_factory=list)
    gone: list[RunningImage] = field(default_factory=list)
    queued: list[int] = field(default_factory=list)


def record_discovery(
    org: Organization,
    cluster: str,
    containers: list[SeenContainer],
    *,
    queue_scans: bool = True,
) -> DiscoveryResult:
    """Store ``containers`` as what runs now in ``cluster`` and return what changed.

    Registries without an integration are recorded as System-managed; rows of ``cluster`` not
    in ``containers`` get ``still_running=False``. With ``queue_scans``, each image whose digest
    has not been scanned yet is queued (one task per registry+digest; tag-only rows once, when
    first seen) with django-q2's ``async_task``. The rows are written in bulk in one
    transaction (a few queries per 500 containers, not per container).
    """
    now = timezone.now()
    merged = merge_containers(containers)
    registries: dict[str, Registry] = {}
    for seen in merged:
        host = seen.image.host
        if host not in registries:
            registries[host] = record_registry_occurrence(
                org, host, RegistryAccess.SYSTEM_MANAGED, f"k8sdiscover --cluster {cluster}"
            )
    result = DiscoveryResult(registries=list(registries.values()))
    with transaction.atomic():
        result.images = _store(org, cluster, merged, registries, now)
        # Everything seen now has last_seen == now; what still "runs" with an older one is gone.
        gone = RunningImage.objects.filter(
            organization=org, cluster=cluster, still_running=True, last_seen__lt=now
        )
        result.gone = list(gone)
        gone.update(still_running=False)
    if queue_scans:
        result.queued = _queue_scans(result.images)
    if result.gone or any(created for _, created in result.images):
        _recompute_priority(org)
    return result


def _recompute_priority(org: Organization) -> None:
    """What runs changed: findings' priorities ("running in cluster") are recomputed."""
    from scans.vulndb.services import recompute_priority

    recompute_priority(org_id=org.pk)


_KEY_FIELDS = (
    "namespace",
    "workload_kind",
    "workload_name",
    "container_type",
    "container_name",
    "reference",
    "digest",
)
_UPDATE_FIELDS = ["registry", "repository", "tag", "image_id", "last_seen", "still_running"]


def _store(
    org: Organization,
    cluster: str,
    merged: list[SeenContainer],
    registries: dict[str, Registry],
    now: datetime,
) -> list[tuple[RunningImage, bool]]:
    """Create or refresh one row per container; return ``(row, created)`` in input order.

    Race-safe: inserts ignore rows a concurrent discovery of the same cluster just created
    (the unique constraint decides), and those rows are refreshed like existing ones."""
    rows = _cluster_rows(org, cluster)
    fresh = []
    for seen in merged:
        row = rows.get(_seen_key(seen))
        if row is None:
            row = RunningImage(organization=org, cluster=cluster, first_seen=now)
            for name, value in zip(_KEY_FIELDS, _seen_key(seen), strict=True):
                setattr(row, name, value)
            _set_values(row, seen, registries, now)
            fresh.append(row)
    created = {_row_key(row) for row in fresh}
    if fresh:
        RunningImage.objects.bulk_create(fresh, batch_size=500, ignore_conflicts=True)
        rows = _cluster_rows(org, cluster)
    _refresh(rows, merged, registries, now)
    return [(rows[_seen_key(s)], _seen_key(s) in created) for s in merged]


def _refresh(
    rows: dict[tuple, RunningImage],
    merged: list[SeenContainer],
    registries: dict[str, Registry],
    now: datetime,
) -> None:
    """Mark every seen row as running now: one UPDATE per 500 rows, plus a save for the rare
    row whose registry (an integration was added) or image id changed."""
    seen_ids = []
    for seen in merged:
        row = rows[_seen_key(seen)]
        before = (row.registry_id, row.repository, row.tag, row.image_id)
        _set_values(row, seen, registries, now)
        if before != (row.registry_id, row.repository, row.tag, row.image_id):
            row.save(update_fields=_UPDATE_FIELDS)
        seen_ids.append(row.pk)
    seen_ids.sort()  # the same chunks, in the same order, in concurrent discoveries
    for start in range(0, len(seen_ids), 500):
        RunningImage.objects.filter(pk__in=seen_ids[start : start + 500]).update(
            last_seen=now, still_running=True
        )


def _cluster_rows(org: Organization, cluster: str) -> dict[tuple, RunningImage]:
    qs = RunningImage.objects.filter(organization=org, cluster=cluster)
    return {_row_key(row): row for row in qs}


def _row_key(row: RunningImage) -> tuple:
    return tuple(getattr(row, name) for name in _KEY_FIELDS)


def _seen_key(seen: SeenContainer) -> tuple:
    return (
        seen.namespace,
        seen.workload_kind,
        seen.workload_name,
        seen.container_type,
        seen.container_name,
        str(seen.image),
        seen.digest,
    )


def _set_values(
    row: RunningImage, seen: SeenContainer, registries: dict[str, Registry], now: datetime
) -> None:
    row.registry = registries[seen.image.host]
    row.repository = seen.image.repository
    row.tag = seen.image.tag
    row.image_id = seen.image_id
    row.last_seen = now
    row.still_running = True


def _queue_scans(images: list[tuple[RunningImage, bool]]) -> list[int]:
    """Queue one scan per (registry, digest) not settled yet, and one per tag-only row seen
    for the first time; rows whose digest is settled elsewhere take over that state.
    Returns the ids of the rows whose scans were queued."""
    from django_q.tasks import async_task

    by_digest: dict[tuple[int, str], list[RunningImage]] = {}
    for row, _ in images:
        if row.digest:
            by_digest.setdefault((row.registry_id, row.digest), []).append(row)
    states = _settled_states(set(by_digest))
    to_queue = [rows[0] for key, rows in by_digest.items() if key not in states]
    to_queue += [row for row, created in images if created and not row.digest]
    for key, rows in by_digest.items():
        state = states.get(key)
        if state is not None and any((r.scan_status, r.scan_queued_at) != state for r in rows):
            _take_state(rows[0], state)
    _mark_queued(to_queue)
    for row in to_queue:
        async_task("scans.k8s.scan_discovered_image", row.pk, task_name=f"k8s-scan-{row.pk}")
    return [row.pk for row in to_queue]


def _mark_queued(rows: list[RunningImage]) -> None:
    """Mark ``rows`` and their siblings queued, a few UPDATEs per registry (not one per row)."""
    now = timezone.now()
    values = {"scan_status": DiscoveredScanStatus.QUEUED, "scan_error": "", "scan_queued_at": now}
    RunningImage.objects.filter(pk__in=[r.pk for r in rows if not r.digest]).update(**values)
    by_registry: dict[int, list[str]] = {}
    for row in rows:
        if row.digest:
            by_registry.setdefault(row.registry_id, []).append(row.digest)
    for registry_id, digests in by_registry.items():
        for start in range(0, len(digests), 500):
            RunningImage.objects.filter(
                registry=registry_id, digest__in=digests[start : start + 500]
            ).exclude(scan_status=DiscoveredScanStatus.SCANNED).update(**values)


def _take_state(row: RunningImage, state: tuple[str, datetime | None]) -> None:
    status, queued_at = state
    siblings = _siblings(row).exclude(scan_status=DiscoveredScanStatus.SCANNED)
    if status == DiscoveredScanStatus.SCANNED:
        siblings.update(scan_status=status, scan_error="")
    else:
        siblings.update(scan_status=status, scan_queued_at=queued_at)


def _siblings(row: RunningImage) -> QuerySet[RunningImage]:
    """Rows that one scan of ``row`` settles: same registry and digest (any cluster), or the
    row alone when it has no digest."""
    if not row.digest:
        return RunningImage.objects.filter(pk=row.pk)
    return RunningImage.objects.filter(registry=row.registry_id, digest=row.digest)


def _stale_before() -> datetime:
    """Queued before this time and still not done: the task was lost (a worker died after
    django-q2's last retry), so the next discovery queues it again."""
    q = settings.Q_CLUSTER
    return timezone.now() - timedelta(seconds=q.get("retry", 3600) * q.get("max_attempts", 1))


def _settled_states(
    keys: set[tuple[int, str]],
) -> dict[tuple[int, str], tuple[str, datetime | None]]:
    """``{(registry_id, digest): (status, queued_at)}`` for digests scanned (by discovery or a
    registry scan) or freshly queued; failed scans and lost tasks are not settled."""
    states: dict[tuple[int, str], tuple[str, datetime | None]] = {}
    digests = sorted({digest for _, digest in keys})
    settled = Q(scan_status=DiscoveredScanStatus.SCANNED) | Q(
        scan_status=DiscoveredScanStatus.QUEUED, scan_queued_at__gte=_stale_before()
    )
    for start in range(0, len(digests), 500):
        chunk = digests[start : start + 500]
        found = RunningImage.objects.filter(settled, digest__in=chunk).values_list(
            "registry_id", "digest", "scan_status", "scan_queued_at"
        )
        for registry_id, digest, status, queued_at in found:
            key = (registry_id, digest)
            if key in keys and states.get(key, ("",))[0] != DiscoveredScanStatus.SCANNED:
                states[key] = (status, queued_at)
        for key in _scanned_by_registry_scans(keys, chunk):
            states[key] = (DiscoveredScanStatus.SCANNED, states.get(key, ("", None))[1])
    return states


def _scanned_by_registry_scans(keys: set[tuple[int, str]], digests: list[str]) -> set[tuple]:
    """Keys whose digest already has an SBOM from a scan (as a platform manifest or as the
    index it was listed in)."""
    from scans.models import Image

    images = (
        Image.objects.filter(sbom__isnull=False)
        .filter(Q(digest__in=digests) | Q(index_digest__in=digests))
        .values_list("registry_id", "digest", "index_digest")
    )
    return {(r, d) for r, *both in images for d in both if (r, d) in keys}


# --- The scan task ---
def scan_discovered_image(running_image_id: int) -> str:
    """django-q2 task: scan the image of one RunningImage; return its final ``scan_status``.

    Pulls ``repository@digest`` (or the tag when no digest is known). A Private integration
    covering the host pulls through its provider (its credentials, endpoint, CA bundle; ECR and
    ACR tokens included) and the images are recorded under it; otherwise the image is pulled
    anonymously with ``scans.services.scan_reference`` (plain http allowed for loopback hosts,
    as docker and containerd do). The outcome (``scanned``, or ``failed`` with the error) is
    written to every row of the same registry and digest, so a digest running in many places
    is scanned once. Never raises for scan errors.
    """
    row = RunningImage.objects.select_related("registry", "organization").get(pk=running_image_id)
    try:
        errors = _scan_row(row)
        status = DiscoveredScanStatus.SCANNED
    except Exception as exc:  # any failure is recorded on the rows, never raised into the queue
        errors = [str(exc) or type(exc).__name__]
        status = DiscoveredScanStatus.FAILED
        logger.warning("k8s scan of %s failed: %s", row.pull_reference, errors[0])
    _siblings(row).update(
        scan_status=status,
        scan_error="; ".join(errors)[:2000],
        scanned_at=timezone.now() if status == DiscoveredScanStatus.SCANNED else None,
    )
    return status


def _scan_row(row: RunningImage) -> list[str]:
    """Scan ``row``'s image; return the errors of platforms that failed ([] = all scanned).

    Raises on errors that stop the whole scan (bad reference, registry unusable)."""
    from scans import services

    if row.registry.access == RegistryAccess.PRIVATE:
        from integrations.services import provider_for

        client = provider_for(row.registry).distribution()
        images = services.scan_registry_reference(
            client,
            row.registry,
            row.repository,
            row.digest or row.tag,
            limits=services.default_limits(),
        )
        for image in images:
            services.sync_findings(image)
        return []
    results = services.scan_reference(
        row.organization,
        row.pull_reference,
        insecure=_is_loopback(row.registry.url),
        access=RegistryAccess.SYSTEM_MANAGED,
        discovered_via=f"k8sdiscover --cluster {row.cluster}",
    )
    errors = [f"{r.platform or r.digest}: {r.error}" for r in results if r.error]
    if results and len(errors) == len(results):
        raise RuntimeError("; ".join(errors))
    return errors


def _is_loopback(host: str) -> bool:
    """Docker and containerd pull from loopback registries over plain http too."""
    name = host[1 : host.find("]")] if host.startswith("[") else host.split(":", 1)[0]
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False
