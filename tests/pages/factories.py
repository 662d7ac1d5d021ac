"""Plain factory functions for page tests (STYLE.md section 9)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from django.utils import timezone

from integrations.models import Registry
from scans.models import Image, Repository, ScanRun, Tag

FIXED_NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)


def add_registry(org: Any, **overrides: Any) -> Registry:
    fields = {
        "name": f"reg-{Registry.objects.count() + 1}",
        "provider": "oci",
        "url": "https://registry.example.com",
    }
    fields.update(overrides)
    return Registry.objects.create(organization=org, **fields)


def make_run(registry: Registry, **overrides: Any) -> ScanRun:
    fields = {
        "trigger": "manual",
        "status": "succeeded",
        "started_at": timezone.now() - timedelta(minutes=5),
        "finished_at": timezone.now(),
        "selected": 3,
        "scanned": 3,
    }
    fields.update(overrides)
    return ScanRun.objects.create(registry=registry, **fields)


def make_image(
    registry: Registry, repo: str = "app", tag: str = "1.0", n: int = 0, **overrides: Any
) -> Image:
    repository, _ = Repository.objects.get_or_create(registry=registry, name=repo)
    digest = overrides.pop("digest", f"sha256:{n:064x}")
    image = Image.objects.create(
        registry=registry,
        digest=digest,
        platform="linux/amd64",
        last_scanned=timezone.now(),
        **overrides,
    )
    t, _ = Tag.objects.get_or_create(
        repository=repository, name=tag, defaults={"digest": digest, "pushed_at": timezone.now()}
    )
    t.images.add(image)
    return image


def make_vulnerability(osv_id: str = "CVE-2024-0001", **overrides: Any):
    from scans.vulndb.models import Vulnerability

    fields = {"summary": f"Problem {osv_id}", "severity": "high", "cvss_score": 7.5, "aliases": []}
    fields.update(overrides)
    vuln, _ = Vulnerability.objects.get_or_create(osv_id=osv_id, defaults=fields)
    return vuln


def make_finding(image: Image, vuln: Any = None, **overrides: Any):
    from scans.vulndb.models import Finding

    vuln = vuln or make_vulnerability()
    fields = {
        "package_key": f"pkg:deb/debian/openssl@3.0.9-1?n={Finding.objects.count()}",
        "package_name": "openssl",
        "package_version": "3.0.9-1",
        "ecosystem": "deb",
        "purl": "pkg:deb/debian/openssl@3.0.9-1",
        "source_name": "openssl",
        "status": "open",
        "first_seen": timezone.now() - timedelta(days=3),
        "last_seen": timezone.now(),
        "fixed_version": "3.0.11-1~deb12u2",
        "severity": vuln.severity,
        "cvss_score": vuln.cvss_score,
        "priority": 50.0,
    }
    fields.update(overrides)
    return Finding.objects.create(image=image, vulnerability=vuln, **fields)
