"""The posture dashboard: SVG charts, riskiest images, activity, coverage ledger, queries."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from scans.models import ImageScan

from .factories import add_registry, make_finding, make_image, make_run, make_vulnerability

pytestmark = pytest.mark.django_db


def seed(org, start, stop):
    reg = add_registry(org, name=f"reg-{start}")
    run = make_run(reg, status="partial")
    for i in range(start, stop):
        image = make_image(reg, repo=f"team/app{i}", n=i)
        make_finding(
            image,
            make_vulnerability(f"CVE-2024-{i:04d}", severity="critical" if i % 2 else "medium"),
        )
        make_finding(
            image,
            make_vulnerability("CVE-2023-0001", severity="low"),
            status="resolved",
            resolved_at=timezone.now() - timedelta(days=1),
        )
        ImageScan.objects.create(
            run=run,
            order=i,
            repository=f"team/app{i}",
            tag="old",
            status="skipped",
            reason="older than the newest 10",
        )
    ImageScan.objects.create(
        run=run,
        order=999,
        repository="team/broken",
        tag="1",
        status="failed",
        error="manifest unknown",
    )
    return reg


def test_dashboard_shows_the_posture(owner_client, outsider_client, org):
    seed(org, 0, 4)
    body = owner_client.get("/").content.decode()
    assert body.count("<svg") == 3 and "Open findings by severity" in body
    assert "team/app1" in body  # riskiest images and repositories
    assert "older than the newest 10" in body and "manifest unknown" in body  # coverage ledger
    assert "Succeeded with failures" in body  # scan activity
    assert "Vulnerability data as of" in body
    assert "team/app1" not in outsider_client.get("/").content.decode()


def test_dashboard_rejects_post(owner_client):
    assert owner_client.post("/").status_code == 405


def test_empty_dashboard_leads_to_integrations(owner_client):
    body = owner_client.get("/").content.decode()
    assert "No scans yet" in body and "/integrations/" in body


def test_queries_do_not_grow_with_rows(owner_client, org, django_assert_max_num_queries):
    seed(org, 0, 3)
    with django_assert_max_num_queries(40) as few:
        owner_client.get("/")
    seed(org, 3, 30)
    with django_assert_max_num_queries(len(few.captured_queries)):
        owner_client.get("/")


def test_trend_counts_open_at_each_days_end_and_fixes_per_day(org):
    from scans.views import TREND_DAYS, _trend

    now = timezone.now()
    reg = add_registry(org, name="r")
    image = make_image(reg, n=1)
    make_finding(image, make_vulnerability("CVE-1"), first_seen=now - timedelta(days=40))
    make_finding(image, make_vulnerability("CVE-2"), first_seen=now - timedelta(days=10))
    make_finding(
        image,
        make_vulnerability("CVE-3"),
        first_seen=now - timedelta(days=5),
        status="resolved",
        resolved_at=now - timedelta(days=2),
    )
    points = {day: (o, f) for day, o, f in _trend(org, now)}
    today = timezone.localtime(now).date()
    assert len(points) == TREND_DAYS
    assert points[today - timedelta(days=11)] == (1, 0)
    assert points[today - timedelta(days=10)] == (2, 0)
    assert points[today - timedelta(days=5)] == (3, 0)
    assert points[today - timedelta(days=2)] == (2, 1)
    assert points[today] == (2, 0)
