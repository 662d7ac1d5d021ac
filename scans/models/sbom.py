"""Layer analysis cache, SBOMs and their packages (filled by the scan engine via services)."""

from __future__ import annotations

from django.db import models


class Layer(models.Model):
    """One analyzed layer blob; its result is reused by every image that shares the layer.

    A row is a finished result only when ``analyzer_versions`` is non-empty and current. While a
    worker streams the layer, ``claimed_by``/``claimed_at`` say who and since when (refreshed as
    it reads); other workers wait for that result instead of downloading the blob again."""

    digest = models.CharField(max_length=100, unique=True)
    size = models.BigIntegerField(default=0)
    media_type = models.CharField(max_length=200, blank=True)
    analyzer_versions = models.JSONField(default=dict, blank=True)
    result = models.JSONField(default=dict, blank=True)
    analyzed_at = models.DateTimeField(auto_now=True)
    claimed_by = models.CharField(max_length=200, blank=True, help_text="Worker analyzing it")
    claimed_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return self.digest


class Sbom(models.Model):
    """The package inventory of one manifest digest, shared by all tags pointing at it."""

    digest = models.CharField(max_length=100, unique=True, help_text="Manifest digest")
    os_id = models.CharField(max_length=50, blank=True)
    os_version = models.CharField(max_length=50, blank=True)
    os_codename = models.CharField(max_length=50, blank=True)
    os_name = models.CharField(max_length=200, blank=True)
    layer_digests = models.JSONField(default=list, blank=True)
    analyzer_versions = models.JSONField(default=dict, blank=True)
    warnings = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.digest


class Package(models.Model):
    sbom = models.ForeignKey(Sbom, on_delete=models.CASCADE, related_name="packages")
    name = models.CharField(max_length=300)
    version = models.CharField(max_length=200)
    ecosystem = models.CharField(max_length=50, help_text="deb, apk, rpm, pypi, npm, ...")
    purl = models.CharField(max_length=1000)
    source_name = models.CharField(max_length=300, blank=True)
    source_version = models.CharField(max_length=200, blank=True)
    arch = models.CharField(max_length=50, blank=True)
    layer_digest = models.CharField(max_length=100, blank=True)
    path = models.CharField(max_length=1000, blank=True)

    class Meta:
        ordering = ["name", "version"]
        indexes = [models.Index(fields=["ecosystem", "name"]), models.Index(fields=["source_name"])]

    def __str__(self) -> str:
        return f"{self.name}@{self.version}"
