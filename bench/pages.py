"""Figure 6: page times and query counts through Django's test client, on rows made in bulk.

Run as a child process (``python -m bench.pages --root DIR ...``) with the environment of a
throwaway installation (see :mod:`bench.instance`): it migrates, creates the rows with
``bulk_create`` and prints one JSON document on stdout. The benchmark process never imports
Django itself.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta

__all__ = ["main"]

SEVERITIES = ["critical", "high", "medium", "low", "unknown"]


def _setup() -> None:
    import django

    django.setup()
    from django.core.management import call_command

    from bench.schema import build_from_models, missing_columns

    try:
        call_command("migrate", interactive=False, verbosity=0)
        gaps = missing_columns()
    except Exception as exc:  # a broken migration graph counts as lagging migrations
        gaps = [str(exc)]
    if gaps:
        print(
            f"migrations lag behind the models ({gaps[:3]}); building from models", file=sys.stderr
        )
        build_from_models()
    call_command("collectstatic", interactive=False, verbosity=0)


def _user_in_new_org(name: str):
    from django.contrib.auth import get_user_model

    from accounts.models import OrgRole
    from accounts.services import add_to_org, get_or_create_org

    org = get_or_create_org(name)
    user, _ = get_user_model().objects.get_or_create(username=f"{name}-admin")
    add_to_org(user, org, OrgRole.ADMINS)
    return org, user


def make_integrations(org, count: int) -> None:
    """``count`` OCI integrations, each with one finished scan run (the table shows it)."""
    from integrations.models import Registry
    from scans.models import ScanRun

    start = Registry.objects.filter(organization=org).count()
    registries = Registry.objects.bulk_create(
        Registry(
            organization=org,
            name=f"registry-{i:05d}",
            provider="oci",
            url=f"https://registry-{i:05d}.example.test",
            schedule=["daily 02:00", "every 6h", "weekly mon 02:00", "off"][i % 4],
        )
        for i in range(start, count)
    )
    now = datetime.now(UTC)
    ScanRun.objects.bulk_create(
        ScanRun(
            registry=r,
            trigger="scheduled",
            status="succeeded",
            started_at=now - timedelta(minutes=5),
            finished_at=now,
            scanned=10,
        )
        for r in registries
    )


class FindingFactory:
    """Findings spread over images of one registry; ``grow_to(n)`` adds rows in batches."""

    def __init__(self, org, images: int = 200, vulns: int = 2000) -> None:
        from integrations.models import Registry
        from scans.models import Image, Repository, Tag
        from scans.vulndb.models import Vulnerability

        self.now = datetime.now(UTC)
        registry = Registry.objects.create(organization=org, name="findings", provider="oci")
        repos = Repository.objects.bulk_create(
            Repository(registry=registry, name=f"team/app-{i:02d}") for i in range(20)
        )
        self.images = Image.objects.bulk_create(
            Image(registry=registry, digest=f"sha256:{i:064x}", platform="linux/amd64")
            for i in range(images)
        )
        tags = Tag.objects.bulk_create(
            Tag(repository=repos[i % 20], name=f"1.{i}.0", digest=img.digest, pushed_at=self.now)
            for i, img in enumerate(self.images)
        )
        Tag.images.through.objects.bulk_create(
            Tag.images.through(tag_id=t.id, image_id=img.id)
            for t, img in zip(tags, self.images, strict=True)
        )
        self.vulns = Vulnerability.objects.bulk_create(
            Vulnerability(
                osv_id=f"BENCH-{i:06d}",
                aliases=[f"CVE-2024-{i:05d}"],
                summary=f"Generated advisory {i}",
                severity=SEVERITIES[i % 5],
                cvss_score=(i % 100) / 10,
            )
            for i in range(vulns)
        )
        self.count = 0

    def grow_to(self, total: int) -> None:
        from scans.vulndb.models import Finding

        batch: list = []
        for n in range(self.count, total):
            image = self.images[n % len(self.images)]
            vuln = self.vulns[(n // len(self.images)) % len(self.vulns)]
            pkg = f"pkg{(n // (len(self.images) * len(self.vulns))) % 50}"
            batch.append(
                Finding(
                    image=image,
                    vulnerability=vuln,
                    package_key=f"pkg:pypi/{pkg}@1.0.{n % 7}",
                    package_name=pkg,
                    package_version=f"1.0.{n % 7}",
                    ecosystem="pypi",
                    purl=f"pkg:pypi/{pkg}@1.0.{n % 7}",
                    severity=vuln.severity,
                    cvss_score=vuln.cvss_score,
                    first_seen=self.now,
                    last_seen=self.now,
                    fixed_version="2.0.0" if n % 3 else "",
                    kev=n % 97 == 0,
                    epss=(n % 1000) / 1000,
                    priority=(n * 7919) % 10007 / 100,
                )
            )
            if len(batch) >= 5000:
                Finding.objects.bulk_create(batch)
                batch = []
        if batch:
            Finding.objects.bulk_create(batch)
        self.count = total


def _plan(sql: str) -> list[str]:
    """SQLite's EXPLAIN QUERY PLAN of a captured query (empty on other databases or errors)."""
    from django.db import connection

    if connection.vendor != "sqlite" or not sql.lstrip().upper().startswith("SELECT"):
        return []
    try:
        with connection.cursor() as cursor:
            cursor.execute("EXPLAIN QUERY PLAN " + sql)
            return [row[-1] for row in cursor.fetchall()]
    except Exception as exc:  # the captured SQL has its parameters inlined; best effort
        return [f"(no plan: {exc})"]


def time_page(user, url: str, repeat: int) -> dict:
    """GET ``url`` as ``user``: one warm-up, then ``repeat`` timed GETs; median ms, queries."""
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client()
    client.force_login(user)
    first = client.get(url)
    if first.status_code != 200:
        raise RuntimeError(f"GET {url} answered {first.status_code}")
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        client.get(url)
        times.append((time.perf_counter() - started) * 1000)
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
    return {
        "url": url,
        "median_ms": round(statistics.median(times), 1),
        "min_ms": round(min(times), 1),
        "queries": len(ctx.captured_queries),
        "slowest_queries": [
            {"ms": round(float(q["time"]) * 1000, 1), "sql": q["sql"], "plan": _plan(q["sql"])}
            for q in sorted(ctx.captured_queries, key=lambda q: -float(q["time"]))[:3]
        ],
        "bytes": len(response.content),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.pages")
    parser.add_argument("--integrations", type=int, nargs="+", default=[10, 1000])
    parser.add_argument("--findings", type=int, nargs="+", default=[1000, 100_000])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    _setup()
    from django.urls import reverse

    out: dict = {"integrations": [], "findings": []}
    org, user = _user_in_new_org("bench-integrations")
    for count in sorted(args.integrations):
        make_integrations(org, count)
        page = time_page(user, reverse("integrations:registry_list"), args.repeat)
        out["integrations"].append({"rows": count, **page})
    org, user = _user_in_new_org("bench-findings")
    factory = FindingFactory(org)
    for count in sorted(args.findings):
        started = time.perf_counter()
        factory.grow_to(count)
        made = time.perf_counter() - started
        page = time_page(user, reverse("scans:finding_list"), args.repeat)
        out["findings"].append({"rows": count, "create_seconds": round(made, 1), **page})
    json.dump(out, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
