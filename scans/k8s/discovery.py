"""Recording what runs in a cluster, and scanning it: RunningImage rows, System-managed
registries, what no longer runs, and one scan per running digest (django-q2)."""

from __future__ import annotations

import ipaddress
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
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
    first seen) with django-q2's ``async_task``.
    """
    now = timezone.now()
    result = DiscoveryResult()
    registries: dict[str, Registry] = {}
    for seen in merge_containers(containers):
        host = seen.image.host
        if host not in registries:
            registries[host] = record_registry_occurrence(
                org, host, RegistryAccess.SYSTEM_MANAGED, f"k8sdiscover --cluster {cluster}"
            )
        result.images.append(_upsert(org, cluster, registries[host], seen, now))
    result.registries = list(registries.values())
    seen_ids = [row.pk for row, _ in result.images]
    gone = RunningImage.objects.filter(organization=org, cluster=cluster, still_running=True)
    result.gone = list(gone.exclude(pk__in=seen_ids))
    gone.exclude(pk__in=seen_ids).update(still_running=False)
    if queue_scans:
        result.queued = _queue_scans(result.images)
    if result.gone or any(created for _, created in result.images):
        _recompute_priority(org)
    return result


def _recompute_priority(org: Organization) -> None:
    """What runs changed: findings' priorities ("running in cluster") are recomputed."""
    from scans.vulndb.services import recompute_priority

    recompute_priority(org_id=org.pk)


def _upsert(org, cluster, registry, seen: SeenContainer, now) -> tuple[RunningImage, bool]:
    key = {
        "organization": org,
        "cluster": cluster,
        "namespace": seen.namespace,
        "workload_kind": seen.workload_kind,
        "workload_name": seen.workload_name,
        "container_type": seen.container_type,
        "container_name": seen.container_name,
        "reference": str(seen.image),
        "digest": seen.digest,
    }
    values = {
        "registry": registry,
        "repository": seen.image.repository,
        "tag": seen.image.tag,
        "image_id": seen.image_id,
        "last_seen": now,
        "still_running": True,
    }
    try:
        with transaction.atomic():
            row, created = RunningImage.objects.get_or_create(**key, defaults=values)
    except IntegrityError:  # a concurrent discovery of the same cluster created it
        row, created = RunningImage.objects.get(**key), False
    if not created:
        for name, value in values.items():
            setattr(row, name, value)
        row.save(update_fields=[*values])
    return row, created


def _queue_scans(images: list[tuple[RunningImage, bool]]) -> list[int]:
    from django_q.tasks import async_task

    queued: list[int] = []
    for row, created in images:
        # A sibling may have been queued (or, with a synchronous queue, scanned) just now.
        row.refresh_from_db(fields=["scan_status", "scan_queued_at"])
        if not _needs_scan(row, created):
            continue
        _siblings(row).exclude(scan_status=DiscoveredScanStatus.SCANNED).update(
            scan_status=DiscoveredScanStatus.QUEUED, scan_error="", scan_queued_at=timezone.now()
        )
        queued.append(row.pk)
        async_task("scans.k8s.scan_discovered_image", row.pk, task_name=f"k8s-scan-{row.pk}")
    return queued


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


def _settled() -> Q:
    return Q(scan_status=DiscoveredScanStatus.SCANNED) | Q(
        scan_status=DiscoveredScanStatus.QUEUED, scan_queued_at__gte=_stale_before()
    )


def _needs_scan(row: RunningImage, created: bool) -> bool:
    """Digest rows: unless that digest is scanned or freshly queued already (for any row of
    the registry, or by a registry scan). Tag-only rows: once, when first seen (what the tag
    serves may change; scans of the registry's integration cover tags). Failed scans and lost
    tasks are tried again by the next discovery."""
    if not row.digest:
        return created
    if RunningImage.objects.filter(_settled(), pk=row.pk).exists():
        return False
    known = _siblings(row).filter(_settled()).values_list("scan_status", "scan_queued_at").first()
    if known is None and _already_scanned(row):
        known = (DiscoveredScanStatus.SCANNED, None)
    if known is not None:
        RunningImage.objects.filter(pk=row.pk).update(scan_status=known[0], scan_queued_at=known[1])
        return False
    return True


def _already_scanned(row: RunningImage) -> bool:
    """True when a registry scan already built the SBOM of this digest (as a platform
    manifest or as the index it was listed in)."""
    from scans.models import Image

    return (
        Image.objects.filter(registry=row.registry_id, sbom__isnull=False)
        .filter(Q(digest=row.digest) | Q(index_digest=row.digest))
        .exists()
    )


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
