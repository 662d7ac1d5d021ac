"""Images seen running in Kubernetes clusters (``k8sdiscover``).

One row per (cluster, namespace, workload, container, image reference, digest): replicas of a
Deployment collapse into one row. A row seen in the latest discovery of its cluster has
``still_running=True``; rows missing from it are kept with ``still_running=False`` so the
history stays visible.
"""

from __future__ import annotations

from django.db import models
from django.utils import timezone


class ContainerType(models.TextChoices):
    CONTAINER = "container", "Container"
    INIT = "init", "Init container"
    EPHEMERAL = "ephemeral", "Ephemeral container"


class DiscoveredScanStatus(models.TextChoices):
    NONE = "", "Not queued"
    QUEUED = "queued", "Queued"
    SCANNED = "scanned", "Scanned"
    FAILED = "failed", "Failed"


class RunningImage(models.Model):
    org_lookup = "organization"

    organization = models.ForeignKey(
        "accounts.Organization", on_delete=models.CASCADE, related_name="running_images"
    )
    registry = models.ForeignKey(
        "integrations.Registry",
        on_delete=models.CASCADE,
        related_name="running_images",
        help_text="The integration covering the image's host, else its System-managed registry",
    )
    cluster = models.CharField(max_length=100, help_text="Name given with k8sdiscover --cluster")
    namespace = models.CharField(max_length=253)
    workload_kind = models.CharField(
        max_length=50, help_text="Deployment, DaemonSet, StatefulSet, CronJob, Job or Pod"
    )
    workload_name = models.CharField(max_length=253)
    container_name = models.CharField(max_length=253)
    container_type = models.CharField(
        max_length=20, choices=ContainerType.choices, default=ContainerType.CONTAINER
    )
    reference = models.CharField(
        max_length=600, help_text="The image reference, normalised like the container runtime"
    )
    repository = models.CharField(max_length=500, help_text="Repository path within the registry")
    tag = models.CharField(max_length=128, blank=True)
    digest = models.CharField(
        max_length=100,
        blank=True,
        help_text="Manifest (or index) digest that runs, from the reference or the pod status",
    )
    image_id = models.CharField(
        max_length=100, blank=True, help_text="Runtime image id (config digest) when reported"
    )
    first_seen = models.DateTimeField(default=timezone.now)
    last_seen = models.DateTimeField(default=timezone.now)
    still_running = models.BooleanField(
        default=True, help_text="Seen in the latest discovery of this cluster"
    )
    scan_status = models.CharField(
        max_length=20, choices=DiscoveredScanStatus.choices, default="", blank=True
    )
    scan_error = models.TextField(blank=True)
    scan_queued_at = models.DateTimeField(null=True, blank=True)
    scanned_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["cluster", "namespace", "workload_kind", "workload_name", "container_name"]
        constraints = [
            models.UniqueConstraint(
                fields=[
                    "organization",
                    "cluster",
                    "namespace",
                    "workload_kind",
                    "workload_name",
                    "container_type",
                    "container_name",
                    "reference",
                    "digest",
                ],
                name="running_image_per_container",
            )
        ]
        indexes = [
            models.Index(fields=["organization", "digest"], name="running_image_digest"),
            models.Index(
                fields=["organization", "cluster", "still_running"], name="running_by_cluster"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.cluster}/{self.namespace} {self.workload_kind}/{self.workload_name}: {self.reference}"

    @property
    def workload(self) -> str:
        return f"{self.workload_kind}/{self.workload_name}"

    @property
    def pull_reference(self) -> str:
        """The reference to scan: ``host/repository@digest`` when the digest is known, else the
        declared reference (its tag as the registry serves it now)."""
        if not self.digest:
            return self.reference
        return f"{_name_only(self.reference)}@{self.digest}"


def _name_only(reference: str) -> str:
    """``host/repo:tag@sha256:...`` -> ``host/repo`` (a ``:`` after the last ``/`` is a tag)."""
    name = reference.split("@", 1)[0]
    slash = name.rfind("/")
    colon = name.rfind(":")
    return name[:colon] if colon > slash else name
