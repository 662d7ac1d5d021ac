"""One registry scan shared by real ``qcluster`` worker processes; a worker killed mid-scan.

The test process enqueues for real (django-q2 sync mode off here) into the broker the workers
read: the ORM broker in the test database on SQLite, Redis when REDIS_URL is set.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.conf import settings
from django.db.models import Count
from django_q.conf import Conf

from scans.models import Image, ImageScan, ScanRun, Tag
from scans.orchestration import request_scan, requeue_orphans

from .conftest import BASE_LAYER, app_layer, connect
from .workers import Worker, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

T0 = datetime(2026, 5, 1, 8, tzinfo=UTC)
DONE = ("succeeded", "partial", "failed")
# Short task timeout/retry so a killed worker's tasks come back within seconds.
FAST_RETRY = {"REGSCAN_TASK_TIMEOUT": "5", "REGSCAN_TASK_RETRY": "7"}


@pytest.fixture
def cluster_mode(monkeypatch):
    """Enqueue for real from this process (the test settings run tasks inline otherwise)."""
    monkeypatch.setattr(Conf, "SYNC", False)
    monkeypatch.setitem(settings.Q_CLUSTER, "sync", False)


@pytest.fixture
def workers(tmp_path):
    started: list[Worker] = []

    def start(**env: str) -> Worker:
        worker = Worker(tmp_path / f"worker-{len(started)}.log", **env)
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()


def many_images(registry, org, repo_name: str, n: int = 6):
    """Two repositories of ``n`` tags each (distinct content): 2n images to scan."""
    repos = [f"{repo_name}-a", f"{repo_name}-b"]
    for r in repos:
        for i in range(n):
            label = f"{r}-{i}"
            registry.push_image(r, f"t{i}", [BASE_LAYER, app_layer(label)],
                                created=T0 + timedelta(hours=i))  # fmt: skip
    return connect(org, registry, provider="oci", include_repos=[f"{repo_name}-*"])


def finished(run_id: int):
    run = ScanRun.objects.get(pk=run_id)
    return run if run.status in DONE else None


def assert_consistent(run: ScanRun) -> None:
    """Every selected tag exactly once in the ledger, terminal, counted once."""
    rows = ImageScan.objects.filter(run=run).exclude(tag="")
    dupes = rows.values("repository", "tag").annotate(n=Count("pk")).filter(n__gt=1)
    assert not dupes.exists()
    assert not rows.filter(status__in=["pending", "running"]).exists()
    selected = rows.exclude(status="skipped")
    assert selected.count() == run.selected
    assert run.scanned == selected.filter(status="scanned").count()
    assert run.reused == selected.filter(status="reused").count()
    assert run.failed == selected.filter(status="failed").count()
    assert run.scanned + run.reused + run.failed == run.selected
    assert Image.objects.filter(registry=run.registry).values("digest").distinct().count() == (
        Image.objects.filter(registry=run.registry).count()
    )
    assert (
        Tag.objects.filter(repository__registry=run.registry)
        .values("repository", "name")
        .distinct()
        .count()
        == Tag.objects.filter(repository__registry=run.registry).count()
    )


def test_two_workers_share_one_registry_scan(registry, org, repo_name, workers, cluster_mode):
    reg = many_images(registry, org, repo_name)
    first, second = workers(), workers()
    run, _ = request_scan(reg, trigger="manual", actor=None)
    run = wait_for(lambda: finished(run.pk), timeout=90)
    assert run is not None, first.log()[-3000:] + second.log()[-3000:]
    assert run.status == "succeeded", run.error
    assert run.selected == 12 and run.scanned == 12
    assert_consistent(run)
    # Both clusters did image work (each logs the tasks it processed).
    logs = [w.log() for w in (first, second)]
    assert all("scan_one_image" in log for log in logs), logs
    elapsed = (run.finished_at - run.started_at).total_seconds()  # from listing to last image
    print(f"two workers: {run.selected} images in {elapsed:.1f}s "
          f"= {run.selected / elapsed * 60:.0f} images/min")  # fmt: skip


def test_one_worker_scans_a_registry(registry, org, repo_name, workers, cluster_mode):
    reg = many_images(registry, org, repo_name)
    workers()
    run, _ = request_scan(reg, trigger="manual", actor=None)
    run = wait_for(lambda: finished(run.pk), timeout=90)
    assert run is not None and run.status == "succeeded"
    assert_consistent(run)
    elapsed = (run.finished_at - run.started_at).total_seconds()
    print(f"one worker: {run.selected} images in {elapsed:.1f}s "
          f"= {run.selected / elapsed * 60:.0f} images/min")  # fmt: skip


def test_a_worker_killed_mid_scan_then_a_new_one_finishes_cleanly(
    registry, org, repo_name, workers, cluster_mode
):
    reg = many_images(registry, org, repo_name)
    doomed = workers(**FAST_RETRY)
    run, _ = request_scan(reg, trigger="manual", actor=None)
    progressed = wait_for(
        lambda: ImageScan.objects.filter(run=run, status__in=["scanned", "reused"]).exists(),
        timeout=60,
        interval=0.02,
    )
    assert progressed, doomed.log()[-3000:]
    doomed.kill()
    open_rows = ImageScan.objects.filter(run=run, status__in=["pending", "running"])
    running, open_count = open_rows.filter(status="running").count(), open_rows.count()
    assert open_count > 0  # killed mid-scan: work was left
    workers(**FAST_RETRY)
    # The ORM broker redelivers the killed worker's unacknowledged tasks after `retry` seconds.
    done = wait_for(lambda: finished(run.pk), timeout=20)
    requeued = 0
    if done is None:
        # Redis does not redeliver: the periodic reaper dispatches the run's open images again
        # once the run has been quiet for a task timeout (time moved forward here).
        later = datetime.now(UTC) + timedelta(seconds=settings.Q_CLUSTER["timeout"] + 1)
        requeued = requeue_orphans(now=later)
        assert requeued == 1
        done = wait_for(lambda: finished(run.pk), timeout=30)
    assert done is not None, "the run neither completed nor failed"
    assert done.status == "succeeded", done.error
    assert_consistent(done)
    print(f"after kill: {done.status}, {open_count} images open ({running} running) at the kill, "
          f"{done.scanned} scanned, {done.failed} failed, requeued by the reaper: {requeued}")  # fmt: skip
