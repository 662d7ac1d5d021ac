"""Repositories, tags and images of a registry.

An Image is one platform manifest (its digest) in one registry; tags point at images (a tag of
an index points at one image per platform). The SBOM is kept per manifest digest (``Sbom``) and
shared by every Image row, tag and repository with that digest.
"""

from __future__ import annotations

from django.db import models


class Repository(models.Model):
    org_lookup = "registry__organization"

    registry = models.ForeignKey(
        "integrations.Registry", on_delete=models.CASCADE, related_name="repository_set"
    )
    name = models.CharField(max_length=500)
    first_seen = models.DateTimeField(auto_now_add=True)
    last_seen = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["registry__name", "name"]
        verbose_name_plural = "repositories"
        constraints = [
            models.UniqueConstraint(fields=["registry", "name"], name="repository_per_registry")
        ]

    def __str__(self) -> str:
        return self.name


class Image(models.Model):
    org_lookup = "registry__organization"

    registry = models.ForeignKey(
        "integrations.Registry", on_delete=models.CASCADE, related_name="images"
    )
    digest = models.CharField(max_length=100, help_text="Digest of the platform manifest")
    index_digest = models.CharField(
        max_length=100, blank=True, help_text="Digest of the index this manifest was listed in"
    )
    media_type = models.CharField(max_length=200, blank=True)
    platform = models.CharField(max_length=100, blank=True, help_text="os/arch[/variant]")
    config_created = models.DateTimeField(null=True, blank=True)
    sbom = models.ForeignKey(
        "scans.Sbom", null=True, blank=True, on_delete=models.SET_NULL, related_name="images"
    )
    first_seen = models.DateTimeField(auto_now_add=True)
    last_scanned = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["registry__name", "digest"]
        constraints = [
            models.UniqueConstraint(fields=["registry", "digest"], name="image_per_registry")
        ]

    def __str__(self) -> str:
        return f"{self.digest[:19]} ({self.platform})" if self.platform else self.digest[:19]


class Tag(models.Model):
    org_lookup = "repository__registry__organization"

    repository = models.ForeignKey(Repository, on_delete=models.CASCADE, related_name="tags")
    name = models.CharField(max_length=200)
    digest = models.CharField(
        max_length=100, blank=True, help_text="What the tag points at (manifest or index)"
    )
    pushed_at = models.DateTimeField(null=True, blank=True)
    pushed_at_source = models.CharField(
        max_length=20,
        blank=True,
        help_text="registry (provider API), config (image created time) or first_seen",
    )
    first_seen = models.DateTimeField(auto_now_add=True)
    # What was scanned last, to decide whether the tag changed since.
    scanned_digest = models.CharField(max_length=100, blank=True)
    scanned_pushed_at = models.DateTimeField(null=True, blank=True)
    last_scanned = models.DateTimeField(null=True, blank=True)
    images = models.ManyToManyField(Image, blank=True, related_name="tags")

    class Meta:
        ordering = ["repository__name", "-pushed_at", "name"]
        constraints = [
            models.UniqueConstraint(fields=["repository", "name"], name="tag_per_repository")
        ]

    def __str__(self) -> str:
        return f"{self.repository.name}:{self.name}"
