"""The whole web flow in a real chromium against the live server and a real registry.

One test on purpose (one browser, one live server, one registry): log in, add the local
registry through the wizard, see the first scan finish, read the Scan Interval tooltip (hover
and keyboard focus), bulk Scan Now, edit the schedule and see the tooltip change, open a
finding, accept it, export CSV. Screenshots of every page land in ``output_dir``.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime

import pytest
from django.utils import timezone
from django_q.models import Schedule
from playwright.sync_api import expect

from accounts.models import OrgRole
from integrations.models import Registry
from scans.models import RiskAcceptance, ScanRun
from scans.templatetags.scan_extras import format_local, resolve_time_zone
from scans.vulndb.models import Finding
from tests.conftest import make_user
from tests.support.browser import screenshot
from tests.support.oci_images import make_layer

pytestmark = [pytest.mark.slow, pytest.mark.browser]

OS_RELEASE = b'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nNAME="Debian GNU/Linux"\nVERSION_ID="12"\nVERSION="12 (bookworm)"\nVERSION_CODENAME=bookworm\nID=debian\n'
DPKG_STATUS = b"""Package: libssl3
Status: install ok installed
Priority: optional
Section: libs
Installed-Size: 6124
Maintainer: Debian OpenSSL Team <pkg-openssl-devel@alioth-lists.debian.net>
Architecture: amd64
Multi-Arch: same
Source: openssl
Version: 3.0.9-1
Description: Secure Sockets Layer toolkit - shared libraries

Package: base-files
Status: install ok installed
Priority: required
Section: admin
Installed-Size: 340
Maintainer: Santiago Vila <sanvila@debian.org>
Architecture: amd64
Version: 12.4+deb12u1
Description: Debian base system miscellaneous files

"""
OSV_RECORD = {
    "schema_version": "1.6.0",
    "id": "CVE-2023-5363",
    "modified": "2024-01-10T00:00:00Z",
    "published": "2023-10-25T00:00:00Z",
    "summary": "Incorrect cipher key and IV length processing in OpenSSL",
    "details": "Changing the key or IV length after initialisation may be ignored.",
    "severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N"}],
    "affected": [
        {
            "package": {"ecosystem": "Debian:12", "name": "openssl"},
            "ranges": [
                {
                    "type": "ECOSYSTEM",
                    "events": [{"introduced": "0"}, {"fixed": "3.0.11-1~deb12u2"}],
                }
            ],
        }
    ],
    "references": [
        {"type": "ADVISORY", "url": "https://security-tracker.debian.org/tracker/CVE-2023-5363"}
    ],
}


@pytest.fixture
def lab(make_registry, tmp_path):
    """A fresh registry with three Debian-like images carrying a vulnerable openssl, and the
    OSV record that makes it a finding."""
    reg = make_registry(tls=False, auth="htpasswd")
    base = make_layer({"etc/os-release": OS_RELEASE, "var/lib/dpkg/status": DPKG_STATUS})
    app = make_layer({"srv/app/VERSION": b"1.0\n"})
    reg.push_image("shop/api", "1.0", [base, app], created=datetime(2026, 11, 1, tzinfo=UTC))
    reg.push_image(
        "shop/api",
        "latest",
        [base, make_layer({"srv/app/VERSION": b"1.1\n"})],
        created=datetime(2026, 11, 20, tzinfo=UTC),
    )
    reg.push_image("shop/web", "2.1", [base], created=datetime(2026, 11, 10, tzinfo=UTC))
    osv = tmp_path / "CVE-2023-5363.json"
    osv.write_text(json.dumps(OSV_RECORD))
    from scans.vulndb.api import import_sources

    report = import_sources([str(osv)])
    assert not report.format_errors and not report.unavailable
    return reg


def tooltip(page, name: str) -> str:
    row = page.locator(f"#registry-table tr[data-name='{name}']")
    row.locator(".tip").hover()
    body = row.locator(".tip-body")
    body.wait_for(state="visible")
    return body.inner_text()


def expected_next(registry: Registry) -> str:
    nxt = Schedule.objects.get(name=f"scan-registry-{registry.pk}").next_run
    return format_local(nxt, resolve_time_zone("", registry.organization.time_zone))


def test_admin_adds_scans_triages_and_exports(
    transactional_db, live_server, page, lab, output_dir, org
):
    org.time_zone = "Europe/Berlin"
    org.save()
    make_user("alice", org, OrgRole.ADMINS)

    page.goto("/login/")
    screenshot(page, output_dir, "01-login")
    page.fill("#id_username", "alice")
    page.fill("#id_password", "pw-alice")
    page.click("button[type=submit]")
    page.goto("/integrations/")
    assert page.locator(".empty-state").is_visible()
    screenshot(page, output_dir, "02-integrations-empty")

    # The wizard: Details -> Credentials -> Test connection -> Configuration -> Create.
    page.click("[data-provider=oci]")
    assert "OCI Distribution API" in page.locator(".prereq").inner_text()
    page.fill("#id_name", "lab-registry")
    page.fill("#id_url", lab.url)
    screenshot(page, output_dir, "03-wizard-details")
    page.click("text=Next")
    page.fill("#id_username", lab.username)
    page.fill("#id_secret", lab.password)
    screenshot(page, output_dir, "04-wizard-credentials")
    page.click("text=Next")
    page.click("[data-test-connection]")
    assert "Connection works" in page.locator("[data-check-result]").inner_text()
    screenshot(page, output_dir, "05-wizard-test")
    page.click("text=Next: Configuration")
    page.select_option("#id_schedule_kind", "every")
    page.fill("#id_every_hours", "6")
    page.click("[data-preview]")
    preview = page.locator("[data-preview-result] tbody tr").all_inner_texts()
    assert [r.split("\t")[1:3] for r in preview][-1] == ["shop/api", "latest"]  # latest last
    assert len(preview) == 3
    screenshot(page, output_dir, "06-wizard-configuration-preview")
    page.click("[data-save]")

    # The first scan ran (tasks run inline in tests) and the row says so.
    assert "first scan has started" in page.locator(".messages").inner_text()
    registry = Registry.objects.get(name="lab-registry")
    row = page.locator("#registry-table tbody tr").first
    assert row.locator("[data-status]").get_attribute("data-status") == "succeeded"
    assert ScanRun.objects.get(registry=registry).trigger == "initial"
    text = tooltip(page, "lab-registry")
    assert "Scan Schedule" in text and "Every 6 hours" in text
    assert "Next scan" in text and expected_next(registry) in text
    screenshot(page, output_dir, "07-integrations-tooltip")

    # Keyboard users get the same tooltip on focus.
    page.mouse.move(0, 0)
    page.locator("#registry-table .tip").first.focus()
    assert page.locator("#registry-table .tip-body").first.is_visible()

    # Bulk Scan Now on two selected rows.
    from integrations.services import create_registry

    create_registry(org, None, initial_scan=False, name="lab-mirror", provider="oci", url=lab.url,
                    username=lab.username, secret=lab.password, schedule="off")  # fmt: skip
    page.goto("/integrations/")
    page.check("#registry-table tr[data-name='lab-registry'] input.row-select")
    page.check("#registry-table tr[data-name='lab-mirror'] input.row-select")
    assert page.locator("[data-selected-count]").inner_text() == "2 selected"
    page.click("[data-bulk-scan]")
    messages = page.locator(".messages").inner_text()
    assert "lab-registry" in messages and "lab-mirror" in messages
    assert ScanRun.objects.filter(trigger="manual").count() == 2
    screenshot(page, output_dir, "08-integrations-bulk-scan")

    # A running scan shows its progress, and the table follows it without a reload. The run
    # row is written here because inline (sync) tasks finish before any page can show them.
    mirror = Registry.objects.get(name="lab-mirror")
    run = ScanRun.objects.create(
        registry=mirror, trigger="manual", status="running", selected=3, scanned=1
    )
    page.goto("/integrations/")
    mirror_row = page.locator("#registry-table tr[data-name='lab-mirror']")
    assert "1/3 images" in mirror_row.inner_text()
    screenshot(page, output_dir, "08b-integrations-running")
    ScanRun.objects.filter(pk=run.pk).update(
        status="succeeded", scanned=3, finished_at=timezone.now()
    )
    expect(mirror_row.locator("[data-status]")).to_have_attribute(
        "data-status", "succeeded", timeout=10_000
    )

    # Edit from the row menu opens Configuration; Update reschedules; the tooltip follows.
    row = page.locator("#registry-table tr[data-name='lab-registry']")
    row.locator("summary").click()
    screenshot(page, output_dir, "09-row-menu")
    row.locator("[data-action=edit]").click()
    assert page.locator(".steps li.current").inner_text().endswith("Configuration")
    page.select_option("#id_schedule_kind", "daily")
    page.fill("#id_at_time", "03:30")
    page.click("[data-save]")
    text = tooltip(page, "lab-registry")
    assert "Daily at 03:30" in text
    assert expected_next(registry) in text and "CET" in text

    # Findings: open one, accept it, see it hidden and counted separately.
    page.goto("/findings/")
    assert "Vulnerability data as of" in page.locator("[data-as-of]").inner_text()
    # Three images in each of the two integrations of the same registry: six findings.
    rows = page.locator("#findings-table tbody tr[data-finding]")
    assert rows.count() == 6
    screenshot(page, output_dir, "10-findings")
    rows.first.locator("a.vuln-id").click()
    assert "upgrade openssl to 3.0.11-1~deb12u2" in " ".join(
        page.locator("[data-fix-advice]").inner_text().split()
    )
    screenshot(page, output_dir, "11-finding-detail")
    page.fill(
        "#id_justification", "Not reachable: the service never calls EVP_CIPHER_CTX_set_params."
    )
    page.click("[data-accept]")
    assert "Accepted CVE-2023-5363" in page.locator(".messages").inner_text()
    assert page.locator("#findings-table tbody tr[data-finding]").count() == 5
    assert page.locator("[data-accepted-count]").inner_text().startswith("1 open finding")
    accepted = RiskAcceptance.objects.get()
    assert accepted.finding is not None and accepted.owner.username == "alice"

    # CSV export of the filtered set (accepted finding excluded).
    with page.expect_download() as info:
        page.click("[data-export=csv]")
    rows = list(csv.DictReader(io.StringIO(open(info.value.path()).read())))
    assert len(rows) == 5
    assert {r["vulnerability"] for r in rows} == {"CVE-2023-5363"}
    image = accepted.finding.image
    assert (image.registry.name, image.digest) not in {(r["registry"], r["digest"]) for r in rows}
    assert Finding.objects.filter(status="open").count() == 6

    # The remaining pages, for the record.
    for name, url in [
        ("12-images", "/images/"),
        ("14-dashboard", "/"),
        ("15-acceptances", "/acceptances/"),
    ]:
        page.goto(url)
        screenshot(page, output_dir, name)
    page.goto("/images/")
    page.locator("#images-table tbody a").first.click()
    assert page.locator("#packages-table").is_visible()
    screenshot(page, output_dir, "13-image-detail")
