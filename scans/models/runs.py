"""Scan runs and the per-image ledger (what was scanned, skipped or failed, and why)."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class ScanTrigger(models.TextChoices):
    INITIAL = "initial", "Initial"
    MANUAL = "manual", "Manual (Scan Now)"
    SCHEDULED = "scheduled", "Scheduled"
    CLI = "cli", "Command line"
    DISCOVERY = "discovery", "Kubernetes discovery"


class ScanRunStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    PARTIAL = "partial", "Succeeded with failures"
    FAILED = "failed", "Failed"


class ImageScanStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    RUNNING = "running", "Running"
    SCANNED = "scanned", "Scanned"
    REUSED = "reused", "Reused SBOM"
    SKIPPED = "skipped", "Skipped"
    FAILED = "failed", "Failed"


class ScanRun(models.Model):
    org_lookup = "registry__organization"

    registry = models.ForeignKey(
        "integrations.Registry", on_delete=models.CASCADE, related_name="scan_runs"
    )
    trigger = models.CharField(max_length=20, choices=ScanTrigger.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    status = models.CharField(
        max_length=20, choices=ScanRunStatus.choices, default=ScanRunStatus.QUEUED
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    repositories = models.PositiveIntegerField(default=0)
    tags_listed = models.PositiveIntegerField(default=0)
    selected = models.PositiveIntegerField(default=0)
    skipped_unchanged = models.PositiveIntegerField(default=0)
    scanned = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0)
    reused = models.PositiveIntegerField(default=0, help_text="Tags whose SBOM was reused")
    skipped = models.PositiveIntegerField(
        default=0, help_text="Tags not scanned for any reason (see the ledger)"
    )
    bytes_downloaded = models.BigIntegerField(default=0)
    error = models.TextField(blank=True)
    log = models.TextField(blank=True)
    analyzer_versions = models.JSONField(default=dict, blank=True)
    listed_at = models.DateTimeField(
        null=True, blank=True, help_text="When the listing and the ledger were written"
    )
    heartbeat_at = models.DateTimeField(
        null=True, blank=True, help_text="Last progress; a run silent for too long is reaped"
    )

    ACTIVE = ("queued", "running")

    class Meta:
        ordering = ["-created_at"]
        get_latest_by = "created_at"
        constraints = [
            # A registry is never scanned twice at once: the database refuses a second active run.
            models.UniqueConstraint(
                fields=["registry"],
                condition=models.Q(status__in=["queued", "running"]),
                name="one_active_run_per_registry",
            )
        ]

    def __str__(self) -> str:
        return f"{self.registry} {self.trigger} {self.status}"

    @property
    def is_active(self) -> bool:
        return self.status in self.ACTIVE

    @property
    def images_done(self) -> int:
        return self.scanned + self.reused + self.failed

    @property
    def progress(self) -> str:
        """``"37/120 images"``: tags scanned, reused or failed out of those selected."""
        return f"{self.images_done}/{self.selected} images"


class ImageScan(models.Model):
    org_lookup = "run__registry__organization"

    run = models.ForeignKey(ScanRun, on_delete=models.CASCADE, related_name="image_scans")
    order = models.PositiveIntegerField(default=0, help_text="Position in the scan order")
    repository = models.CharField(max_length=500)
    tag = models.CharField(max_length=200)
    digest = models.CharField(max_length=100, blank=True)
    platform = models.CharField(max_length=100, blank=True)
    image = models.ForeignKey(
        "scans.Image", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    status = models.CharField(
        max_length=20, choices=ImageScanStatus.choices, default=ImageScanStatus.PENDING
    )
    reason = models.CharField(max_length=300, blank=True, help_text="Why it was skipped")
    error = models.TextField(blank=True)
    bytes_downloaded = models.BigIntegerField(default=0)
    pushed_at = models.DateTimeField(null=True, blank=True)
    deferred = models.BooleanField(
        default=False,
        help_text="Held back until the other images of the run are done (latest tags, "
        "digests scanned earlier in the same run)",
    )
    attempts = models.PositiveSmallIntegerField(default=0)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["run", "order"]
        indexes = [models.Index(fields=["run", "status"])]

    def __str__(self) -> str:
        return f"{self.repository}:{self.tag} {self.status}"
