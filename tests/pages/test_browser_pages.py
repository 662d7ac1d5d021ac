"""Every page in chromium with a realistic data set: no request leaves the server (no CDN), no
JavaScript error, keyboard access to the tooltip and row menu; screenshots for review."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from django.utils import timezone

from accounts.models import OrgRole
from scans.models import ImageScan
from scans.schedules import sync_schedule
from tests.conftest import make_user
from tests.support.browser import screenshot

from .factories import add_registry, make_finding, make_image, make_run, make_vulnerability

pytestmark = [pytest.mark.slow, pytest.mark.browser]

VULNS = [
    ("CVE-2024-3094", "critical", 10.0, True, 0.86, "xz-utils", "5.6.0-0.2", "5.6.1+really5.4.5-1"),
    ("CVE-2023-4863", "high", 8.8, True, 0.52, "libwebp", "1.2.4-0.2", "1.2.4-0.2+deb12u1"),
    ("CVE-2023-5363", "high", 7.5, False, 0.03, "openssl", "3.0.9-1", "3.0.11-1~deb12u2"),
    ("CVE-2023-44487", "medium", 5.3, True, 0.71, "nghttp2", "1.52.0-1", "1.52.0-1+deb12u1"),
    ("GHSA-j8r2-6x86-q33q", "medium", 6.1, False, 0.01, "requests", "2.25.0", "2.31.0"),
    ("CVE-2022-40897", "low", 3.1, False, 0.002, "setuptools", "65.5.0", ""),
]


def seed(org):
    now = timezone.now()
    regs = [
        add_registry(org, name="prod-ecr", provider="ecr", region="eu-west-1", schedule="every 6h"),
        add_registry(
            org,
            name="acr-platform",
            provider="acr",
            url="https://platform.azurecr.io",
            schedule="daily 02:00",
        ),
        add_registry(org, name="dockerhub-acme", provider="dockerhub", schedule="weekly mon 03:00"),
        add_registry(
            org,
            name="harbor-lab",
            provider="oci",
            url="https://harbor.lab.example",
            schedule='cron "15 */4 * * *"',
        ),
    ]
    add_registry(
        org,
        name="quay.io",
        provider="oci",
        url="https://quay.io",
        access="public_manual",
        schedule="off",
    )
    for reg in regs:
        sync_schedule(reg)
    make_run(
        regs[0], status="running", finished_at=None, selected=120, scanned=30, reused=5, failed=2
    )
    make_run(regs[1], status="succeeded", selected=40, scanned=40)
    failed = make_run(regs[2], status="partial", selected=12, scanned=10, failed=2)
    make_run(
        regs[3],
        status="failed",
        error="Access denied: the robot account may not list /v2/_catalog; enter repositories by name.",
    )
    ImageScan.objects.create(
        run=failed,
        repository="acme/api",
        tag="old",
        status="skipped",
        reason="older than the newest 10",
    )
    ImageScan.objects.create(
        run=failed,
        repository="acme/worker",
        tag="2.3",
        status="failed",
        error="blob sha256:9f2c… digest mismatch",
    )
    n = 0
    for reg in regs:
        for repo in ("payments/api", "payments/worker", "web/frontend"):
            for tag in ("1.4.2", "latest"):
                n += 1
                image = make_image(reg, repo=repo, tag=tag, n=n)
                for i, (vid, sev, score, kev, epss, pkg, ver, fix) in enumerate(VULNS):
                    if (n + i) % 3 == 0:
                        continue
                    vuln = make_vulnerability(
                        vid, severity=sev, cvss_score=score, summary=f"{pkg}: {sev} issue"
                    )
                    make_finding(image, vuln, package_name=pkg, source_name=pkg, package_version=ver, fixed_version=fix,
                                 kev=kev, epss=epss, priority=score * 10 + (30 if kev else 0) + epss * 10,
                                 first_seen=now - timedelta(days=(n * 3 + i) % 28 + 1),
                                 status="resolved" if (n + i) % 7 == 0 else "open",
                                 resolved_at=now - timedelta(days=(n + i) % 5) if (n + i) % 7 == 0 else None)  # fmt: skip
    return regs


def test_every_page_is_self_contained_and_keyboard_usable(
    transactional_db, live_server, page, output_dir, org
):
    org.time_zone = "America/New_York"
    org.save()
    make_user("alice", org, OrgRole.ADMINS)
    regs = seed(org)
    server = urlsplit(live_server.url).netloc
    foreign, errors = [], []
    page.on("request", lambda req: urlsplit(req.url).netloc != server and foreign.append(req.url))
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: msg.type == "error" and errors.append(msg.text))

    page.goto("/login/")
    page.fill("#id_username", "alice")
    page.fill("#id_password", "pw-alice")
    page.click("button[type=submit]")
    image_id = regs[0].images.order_by("pk").first().pk
    finding_id = regs[0].images.order_by("pk").first().findings.order_by("pk").first().pk
    pages = [
        ("dashboard", "/"), ("integrations", "/integrations/"), ("findings", "/findings/"),
        ("findings-kev", "/findings/?kev=true&severity=critical&severity=high"),
        ("finding", f"/findings/{finding_id}/"), ("vulnerability", "/vulnerabilities/CVE-2024-3094/"),
        ("images", "/images/"), ("image", f"/images/{image_id}/"), ("acceptances", "/acceptances/"),
        ("scan-run", f"/scans/{regs[2].scan_runs.get().pk}/"), ("wizard-ecr", "/integrations/add/ecr/"), ("edit-configuration", f"/integrations/{regs[1].pk}/edit/"),
    ]  # fmt: skip
    for name, url in pages:
        response = page.goto(url)
        assert response.status == 200, url
        screenshot(page, output_dir, name)
    assert foreign == [] and errors == []

    # Keyboard: Tab to a Scan Interval cell shows its tooltip; Enter opens the row menu.
    page.goto("/integrations/")
    row = page.locator("#registry-table tr[data-name='acr-platform']")
    row.locator(".tip").focus()
    tip = row.locator(".tip-body")
    assert tip.is_visible() and "Daily at 02:00" in tip.inner_text() and "EST" in tip.inner_text()
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    assert row.locator(".menu [data-action=edit]").is_visible()
    page.keyboard.press("Escape")
    assert not row.locator(".menu [data-action=edit]").is_visible()

    # Select-all selects every row on the page and enables the bulk Scan Now.
    assert page.locator("[data-bulk-scan]").is_disabled()
    page.check("[data-select-all]")
    assert page.locator("[data-selected-count]").inner_text() == "5 selected"
    assert page.locator("[data-bulk-scan]").is_enabled()
