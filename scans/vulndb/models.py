"""Vulnerability data (OSV records, KEV, EPSS), the import ledger, and findings.

``Vulnerability`` keeps one OSV record; ``Affected`` keeps one ``affected[]`` entry of it, indexed
by ``(ecosystem, normalized_name)`` so matching is one indexed lookup per package. ``Finding`` is
(image manifest, package, vulnerability) with its open/resolved history; UI concerns (risk
acceptance, comments) live in models of their own that point at it.
"""

from __future__ import annotations

from django.db import models


class Severity(models.TextChoices):
    CRITICAL = "critical", "Critical"
    HIGH = "high", "High"
    MEDIUM = "medium", "Medium"
    LOW = "low", "Low"
    UNKNOWN = "unknown", "Unknown"


class SourceKind(models.TextChoices):
    OSV = "osv", "OSV records"
    KEV = "kev", "CISA KEV catalog"
    EPSS = "epss", "FIRST EPSS scores"


class ImportSource(models.Model):
    """One imported location (a path or a URL without credentials or query string)."""

    name = models.CharField(max_length=1000, unique=True, help_text="Path or URL imported")
    kind = models.CharField(max_length=10, choices=SourceKind.choices)
    ecosystems = models.JSONField(default=list, blank=True, help_text="OSV ecosystems seen")
    last_imported_at = models.DateTimeField(null=True, blank=True)
    last_changed_at = models.DateTimeField(
        null=True, blank=True, help_text="Last import that created or changed a record"
    )
    records = models.PositiveIntegerField(default=0, help_text="Records read by the last import")
    created = models.PositiveIntegerField(default=0)
    updated = models.PositiveIntegerField(default=0)
    skipped = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Vulnerability(models.Model):
    osv_id = models.CharField("OSV id", max_length=100, unique=True)
    aliases = models.JSONField(default=list, blank=True)
    upstream = models.JSONField(
        default=list, blank=True, help_text="Upstream ids (e.g. the CVEs a DSA fixes)"
    )
    related = models.JSONField(default=list, blank=True)
    summary = models.TextField(blank=True)
    details = models.TextField(blank=True)
    published = models.DateTimeField(null=True, blank=True)
    modified = models.DateTimeField(null=True, blank=True)
    withdrawn = models.DateTimeField(null=True, blank=True)
    severity = models.CharField(max_length=10, choices=Severity.choices, default=Severity.UNKNOWN)
    cvss_score = models.FloatField(null=True, blank=True)
    cvss_vector = models.CharField(max_length=300, blank=True)
    references = models.JSONField(default=list, blank=True)
    database_specific = models.JSONField(default=dict, blank=True)
    source = models.CharField(max_length=1000, blank=True, help_text="ImportSource name")
    content_hash = models.CharField(max_length=64, blank=True)
    imported_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["osv_id"]
        verbose_name_plural = "vulnerabilities"

    def __str__(self) -> str:
        return self.osv_id

    @property
    def cve_ids(self) -> list[str]:
        """CVE ids this record is about (its id, aliases and upstream), for KEV and EPSS."""
        ids = [self.osv_id, *self.aliases, *self.upstream]
        return sorted({i for i in ids if i.startswith("CVE-")})


class Affected(models.Model):
    vulnerability = models.ForeignKey(
        Vulnerability, on_delete=models.CASCADE, related_name="affected"
    )
    ecosystem = models.CharField(max_length=100, help_text='OSV ecosystem, e.g. "Debian:11"')
    name = models.CharField(max_length=300, help_text="Package name as the record spells it")
    normalized_name = models.CharField(max_length=300)
    ranges = models.JSONField(default=list, blank=True, help_text="ECOSYSTEM and SEMVER ranges")
    versions = models.JSONField(default=list, blank=True)

    class Meta:
        verbose_name_plural = "affected packages"
        indexes = [models.Index(fields=["ecosystem", "normalized_name"])]

    def __str__(self) -> str:
        return f"{self.ecosystem}/{self.name}"


class KevEntry(models.Model):
    cve = models.CharField("CVE", max_length=30, unique=True)
    vendor = models.CharField(max_length=200, blank=True)
    product = models.CharField(max_length=200, blank=True)
    name = models.CharField(max_length=500, blank=True)
    date_added = models.DateField(null=True, blank=True)
    due_date = models.DateField(null=True, blank=True)
    ransomware = models.CharField(max_length=30, blank=True)
    required_action = models.TextField(blank=True)

    class Meta:
        ordering = ["-date_added", "cve"]
        verbose_name = "KEV entry"
        verbose_name_plural = "KEV entries"

    def __str__(self) -> str:
        return self.cve


class EpssScore(models.Model):
    cve = models.CharField("CVE", max_length=30, unique=True)
    score = models.FloatField(help_text="Probability of exploitation in the next 30 days")
    percentile = models.FloatField()
    score_date = models.DateField(null=True, blank=True)
    model_version = models.CharField(max_length=50, blank=True)

    class Meta:
        ordering = ["cve"]
        verbose_name = "EPSS score"

    def __str__(self) -> str:
        return f"{self.cve} {self.score}"


class FindingStatus(models.TextChoices):
    OPEN = "open", "Open"
    RESOLVED = "resolved", "Resolved"


class Finding(models.Model):
    """One vulnerability of one package of one image manifest.

    ``package_key`` is the package's purl (else ``ecosystem:name@version``); with ``image`` and
    ``vulnerability`` it is unique, so re-scans and re-matches update the row instead of
    duplicating it. ``priority`` is recomputed by ``services.recompute_priority()`` from the
    stored components.
    """

    org_lookup = "image__registry__organization"

    image = models.ForeignKey("scans.Image", on_delete=models.CASCADE, related_name="findings")
    vulnerability = models.ForeignKey(
        Vulnerability, on_delete=models.CASCADE, related_name="findings"
    )
    package_key = models.CharField(max_length=1000)
    package_name = models.CharField(max_length=300)
    package_version = models.CharField(max_length=200)
    ecosystem = models.CharField(max_length=50, help_text="Package ecosystem (deb, pypi, ...)")
    purl = models.CharField(max_length=1000, blank=True)
    source_name = models.CharField(max_length=300, blank=True)
    aliases = models.JSONField(
        default=list, blank=True, help_text="Other ids of this vulnerability (alias group)"
    )
    status = models.CharField(
        max_length=10, choices=FindingStatus.choices, default=FindingStatus.OPEN
    )
    first_seen = models.DateTimeField()
    last_seen = models.DateTimeField(
        null=True, blank=True, help_text="Last time a match created, changed or re-opened it"
    )
    resolved_at = models.DateTimeField(null=True, blank=True)
    fixed_version = models.CharField(max_length=200, blank=True)
    severity = models.CharField(max_length=10, choices=Severity.choices, default=Severity.UNKNOWN)
    cvss_score = models.FloatField(null=True, blank=True)
    kev = models.BooleanField("known exploited", default=False)
    kev_due = models.DateField(null=True, blank=True)
    epss = models.FloatField(null=True, blank=True)
    epss_percentile = models.FloatField(null=True, blank=True)
    images_affected = models.PositiveIntegerField(
        default=0, help_text="Images of the organization with this vulnerability open"
    )
    latest_tags_affected = models.PositiveIntegerField(
        default=0, help_text="`latest` tags of the organization with this vulnerability open"
    )
    priority = models.FloatField(default=0, help_text="Triage priority (higher first)")
    priority_components = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-priority", "package_name"]
        constraints = [
            models.UniqueConstraint(
                fields=["image", "package_key", "vulnerability"], name="finding_per_image_package"
            )
        ]
        indexes = [
            models.Index(fields=["status", "severity"]),
            models.Index(fields=["image", "status"]),
        ]

    def __str__(self) -> str:
        return f"{self.package_name}@{self.package_version} ({self.status})"
