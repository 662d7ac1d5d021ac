from __future__ import annotations

from django_q.models import Schedule

from scans.vulndb import tasks
from scans.vulndb.api import import_sources
from scans.vulndb.models import Finding, Vulnerability
from tests.vulndb.factories import debian11_packages, make_image, make_sbom, vulndata


def test_refresh_schedule_is_created_once_from_settings(db, settings):
    settings.REGSCAN_VULN_REFRESH_CRON = "15 4 * * *"
    tasks.ensure_refresh_schedule()
    tasks.ensure_refresh_schedule()
    schedule = Schedule.objects.get(name="vulndb-refresh")
    assert Schedule.objects.filter(name="vulndb-refresh").count() == 1
    assert (schedule.schedule_type, schedule.cron) == (Schedule.CRON, "15 4 * * *")
    assert schedule.func == "scans.vulndb.tasks.refresh_vulnerability_data"


def test_refresh_imports_configured_sources_and_rematches(db, settings, hub):
    image = make_image(hub, make_sbom("debian", "11", debian11_packages()))
    settings.REGSCAN_VULN_SOURCES = []
    tasks.refresh_vulnerability_data()
    assert Vulnerability.objects.count() == 0
    settings.REGSCAN_VULN_SOURCES = [vulndata("debian.osv.jsonl"), "/nonexistent/x.jsonl"]
    tasks.refresh_vulnerability_data()
    assert Vulnerability.objects.count() == 272
    assert Finding.objects.filter(image=image, status="open").count() == 2


def test_rematch_task_takes_text_keys(db, hub):
    image = make_image(hub, make_sbom("debian", "11", debian11_packages()))
    import_sources([vulndata("debian.osv.jsonl")], rematch=False)
    assert not Finding.objects.filter(image=image).exists()
    assert tasks.rematch_task([["Debian:11", "zlib"]])["opened"] == 0
    assert tasks.rematch_task([["Debian:11", "openssl"]])["opened"] == 2
    assert tasks.rematch_task(None)["unchanged"] == 2
