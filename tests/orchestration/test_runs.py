"""Run bookkeeping without a registry: idempotent image tasks, deferral of ``latest``, finishing
exactly once, stale runs. The scanning itself is replaced by a recorder (the one seam)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from integrations import services
from scans import orchestration
from scans.models import ImageScan, ScanRun
from scans.orchestration import ImageOutcome, _Dispatch


@pytest.fixture
def registry(org):
    return services.create_registry(
        org, None, name="r", provider="oci", url="https://r.example", initial_scan=False
    )


@pytest.fixture
def scanned(monkeypatch):
    """Replace pulling by a recorder; ``fail`` holds tags that raise."""
    calls: list[str] = []
    fail: set[str] = set()

    def fake_scan_tag(scan: ImageScan) -> ImageOutcome:
        calls.append(scan.tag)
        if scan.tag in fail:
            raise RuntimeError(f"cannot scan {scan.tag}")
        return ImageOutcome("scanned", [], 10)

    monkeypatch.setattr(orchestration, "scan_tag", fake_scan_tag)
    calls_fail = (calls, fail)
    return calls_fail


def listed_run(registry, tags: list[str], deferred: set[str] = frozenset()) -> ScanRun:
    """A running run whose listing selected ``tags`` (in this order)."""
    run, _ = orchestration.request_scan(registry, trigger="manual", actor=None, enqueue=False)
    ScanRun.objects.filter(pk=run.pk).update(
        status="running", started_at=timezone.now(), listed_at=timezone.now(), selected=len(tags)
    )
    ImageScan.objects.bulk_create(
        ImageScan(
            run=run, order=i, repository="app", tag=t, digest=f"sha256:{t}", deferred=t in deferred
        )  # fmt: skip
        for i, t in enumerate(tags)
    )
    return run


def test_an_image_task_delivered_twice_scans_once(registry, scanned):
    calls, _ = scanned
    run = listed_run(registry, ["v1", "v2"])
    first = run.image_scans.get(tag="v1")
    orchestration.scan_image_task(first.pk, _Dispatch(inline=True))
    orchestration.scan_image_task(first.pk, _Dispatch(inline=True))
    assert calls == ["v1"]
    run.refresh_from_db()
    assert (run.scanned, run.bytes_downloaded, run.status) == (1, 10, "running")


def test_latest_waits_for_every_other_image_and_the_run_finishes_once(registry, scanned):
    calls, _ = scanned
    run = listed_run(registry, ["v1", "v2", "latest"], deferred={"latest"})
    dispatch = _Dispatch(inline=True)
    orchestration._redispatch(run.pk, dispatch)
    assert dispatch.queue == list(
        run.image_scans.filter(tag__in=["v1", "v2"]).order_by("order").values_list("pk", flat=True)
    )
    orchestration.scan_image_task(dispatch.queue.pop(0), dispatch)
    assert dispatch.queue and "latest" not in calls  # v2 still open: latest held back
    orchestration.scan_image_task(dispatch.queue.pop(0), dispatch)
    [latest_pk] = dispatch.queue  # released exactly once, after v2
    orchestration._release_deferred(run.pk, dispatch)
    assert dispatch.queue == [latest_pk]
    orchestration.scan_image_task(latest_pk, dispatch)
    assert calls == ["v1", "v2", "latest"]
    run.refresh_from_db()
    assert (run.status, run.scanned, run.failed) == ("succeeded", 3, 0)
    finished_at = run.finished_at
    orchestration._maybe_finish(run.pk)
    run.refresh_from_db()
    assert run.finished_at == finished_at


def test_a_failing_image_is_recorded_and_the_others_go_on(registry, scanned):
    calls, fail = scanned
    fail.add("v2")
    run = orchestration.run_inline(listed_run(registry, ["v1", "v2", "v3"]))
    assert calls == ["v1", "v2", "v3"]
    assert (run.status, run.scanned, run.failed) == ("partial", 2, 1)
    row = run.image_scans.get(tag="v2")
    assert row.status == "failed" and "cannot scan v2" in row.error
    assert run.error == "1 of 3 images failed."


def test_a_stale_run_is_finished_as_failed_with_the_reason(registry, settings, scanned):
    calls, _ = scanned
    run = listed_run(registry, ["v1", "v2"])
    ScanRun.objects.filter(pk=run.pk).update(heartbeat_at=timezone.now() - timedelta(hours=3))
    settings.REGSCAN_STALE_RUN_MINUTES = 60
    assert orchestration.reap_stale_runs(now=timezone.now()) == 1
    run.refresh_from_db()
    assert run.status == "failed" and "No progress for 60 minutes" in run.error
    assert run.failed == 2
    assert set(run.image_scans.values_list("status", flat=True)) == {"failed"}
    assert calls == []
    # The registry can be scanned again.
    again, _ = orchestration.request_scan(registry, trigger="manual", actor=None, enqueue=False)
    assert again is not None


def test_a_busy_registry_reaps_its_stale_run_before_refusing(registry, settings):
    run, _ = orchestration.request_scan(registry, trigger="manual", actor=None, enqueue=False)
    ScanRun.objects.filter(pk=run.pk).update(heartbeat_at=timezone.now() - timedelta(days=1))
    new, message = orchestration.request_scan(registry, trigger="manual", actor=None, enqueue=False)
    assert new is not None, message
    assert ScanRun.objects.get(pk=run.pk).status == "failed"


@pytest.mark.slow  # the client retries the refused connection with backoff for a few seconds
def test_a_run_that_cannot_list_fails_with_the_providers_message(registry):
    # Nothing listens on this port: the provider's error names the host.
    services.update_registry(registry, url="http://127.0.0.1:9")
    run, _ = orchestration.request_scan(registry, trigger="manual", actor=None, enqueue=False)
    run = orchestration.run_inline(run)
    assert run.status == "failed" and run.error
    assert run.listed_at is None


def test_a_quiet_run_gets_its_lost_image_tasks_dispatched_again(registry, scanned):
    calls, _ = scanned
    run = listed_run(registry, ["v1", "v2"])
    ImageScan.objects.filter(run=run, tag="v1").update(
        status="running", started_at=timezone.now() - timedelta(hours=1)
    )  # its worker died
    ScanRun.objects.filter(pk=run.pk).update(heartbeat_at=timezone.now() - timedelta(minutes=45))
    # Tasks run inline in the test settings: dispatching again scans both.
    assert orchestration.reap_stale_runs(now=timezone.now()) == 0
    run.refresh_from_db()
    assert sorted(calls) == ["v1", "v2"]
    assert (run.status, run.scanned) == ("succeeded", 2)


def test_a_secret_in_an_image_error_is_masked_in_the_ledger(registry, monkeypatch):
    services.update_registry(registry, secret="Sup3r-S3cret-Value")
    registry.secret()  # decrypting registers the value with the log redaction

    def leaky(scan):
        raise RuntimeError("GET https://u:Sup3r-S3cret-Value@r.example failed")

    monkeypatch.setattr(orchestration, "scan_tag", leaky)
    run = orchestration.run_inline(listed_run(registry, ["v1"]))
    error = run.image_scans.get(tag="v1").error
    assert "RuntimeError" in error and "Sup3r-S3cret-Value" not in error
