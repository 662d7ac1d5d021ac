"""End to end against the real local registry (in-process, tasks inline): the pull policy of
the product brief, the coverage ledger, SBOM reuse by digest, and what an unchanged rescan costs.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from scans import orchestration, tasks
from scans.models import Image, ImageScan, ScanRun, Tag
from tests.support.oci_images import OCI_MANIFEST

from .conftest import BASE_LAYER, app_layer, connect

pytestmark = [pytest.mark.slow, pytest.mark.django_db]

T0 = datetime(2026, 5, 1, 8, tzinfo=UTC)
# Push order: v01..v06, latest, v07..v11 (an hour apart): the 10 newest are v03..v11 + latest.
PUSH_ORDER = [f"v{i:02d}" for i in range(1, 7)] + ["latest"] + [f"v{i:02d}" for i in range(7, 12)]


def push(registry, pushdates, repo: str, tag: str, when: datetime, label: str | None = None):
    digest = registry.push_image(repo, tag, [BASE_LAYER, app_layer(label or tag)], created=when)
    pushdates.push_times[(repo, tag)] = when
    return digest


def copy_tag(registry, repo: str, source: str, target: str) -> str:
    """Push the exact manifest bytes of ``source`` as ``target``; return the digest."""
    raw = registry.request(
        "GET", f"/v2/{repo}/manifests/{source}", repo=repo, headers={"Accept": OCI_MANIFEST}
    )
    return registry.push_manifest_raw(repo, target, raw.content, OCI_MANIFEST)


def scan(reg, trigger="manual") -> ScanRun:
    run, message = orchestration.request_scan(reg, trigger=trigger, actor=None, enqueue=False)
    assert run is not None, message
    return orchestration.run_inline(run)


def scanned_tags(run: ScanRun) -> list[str]:
    return [row["tag"] for row in orchestration.run_report(run)["scanned"]]


@pytest.fixture(params=["pushdates", "oci"])
def kind(request) -> str:
    """``pushdates``: a provider reporting push dates (like ECR); ``oci``: the generic OCI
    provider, whose push dates are the images' creation times (set at push here)."""
    return request.param


@pytest.fixture
def twelve_tags(registry, repo_name, pushdate_provider, org, kind):
    for i, tag in enumerate(PUSH_ORDER):
        push(registry, pushdate_provider, repo_name, tag, T0 + timedelta(hours=i))
    return connect(org, registry, provider=kind, include_repos=[repo_name])


def test_initial_scan_takes_the_ten_newest_in_push_order_with_latest_last(twelve_tags, repo_name):
    run = scan(twelve_tags, trigger="initial")
    assert run.status == "succeeded", run.error
    assert scanned_tags(run) == [f"v{i:02d}" for i in range(3, 12)] + ["latest"]
    report = orchestration.run_report(run)
    assert {(s["tag"], s["reason"]) for s in report["skipped"] if s["tag"]} == {
        ("v01", "older than the newest 10"),
        ("v02", "older than the newest 10"),
    }
    assert (run.selected, run.scanned, run.reused, run.failed) == (10, 10, 0, 0)
    assert run.repositories == 1 and run.tags_listed == 12
    assert run.bytes_downloaded > 0
    # Results landed: each scanned tag points at an image with an SBOM of the right packages.
    tag = Tag.objects.get(repository__name=repo_name, name="latest")
    [image] = tag.images.all()
    assert image.sbom is not None
    assert sorted(image.sbom.packages.values_list("name", flat=True)) == ["musl", "zlib"]
    assert all(row["status"] == "scanned" and row["platform"] == "linux/amd64"
               for row in report["scanned"])  # fmt: skip


def test_an_unchanged_rescan_scans_nothing_and_downloads_no_blob(twelve_tags, traffic):
    scan(twelve_tags)
    traffic.clear()
    run = scan(twelve_tags)
    assert run.status == "succeeded"
    assert scanned_tags(run) == []
    assert run.skipped_unchanged == 10 and run.bytes_downloaded == 0
    assert traffic.blob_gets() == []
    kinds = traffic.kinds()
    # One catalog page, one tag list, one HEAD per tag (plus auth challenges): figures for the note.
    assert kinds["manifest"] == 12 and kinds["blob"] == 0
    print(f"unchanged rescan: {len(traffic.requests)} requests {dict(kinds)}, 0 bytes")


def test_the_next_scheduled_scan_scans_exactly_new_and_changed_tags(
    twelve_tags, registry, repo_name, pushdate_provider, org, django_capture_on_commit_callbacks
):
    scan(twelve_tags, trigger="initial")
    later = T0 + timedelta(days=1)
    push(registry, pushdate_provider, repo_name, "v12", later)
    push(registry, pushdate_provider, repo_name, "v05", later + timedelta(hours=1), "v05-rebuilt")
    with django_capture_on_commit_callbacks(execute=True):
        tasks.scheduled_scan(twelve_tags.pk)  # the schedule fires; the cluster runs inline (sync)
    run = ScanRun.objects.filter(registry=twelve_tags).latest()
    org.refresh_from_db()
    assert (run.trigger, run.actor_id, run.status) == (
        "scheduled",
        org.service_user_id,
        "succeeded",
    )
    assert scanned_tags(run) == ["v12", "v05"]
    reasons = {r.tag: r.reason for r in run.image_scans.all()}
    assert reasons["v12"] == "new" and reasons["v05"] == "digest changed"
    assert reasons["v03"] == "older than the newest 10"  # pushed out by the two newer pushes


def test_re_pushing_the_same_content_counts_when_the_provider_reports_push_dates(
    twelve_tags, registry, repo_name, pushdate_provider, kind
):
    scan(twelve_tags)
    old = Tag.objects.get(repository__name=repo_name, name="v08").digest
    same = copy_tag(registry, repo_name, "v08", "v08")  # the same bytes pushed again
    pushdate_provider.push_times[(repo_name, "v08")] = T0 + timedelta(days=2)
    assert same == old
    run = scan(twelve_tags)
    assert run.bytes_downloaded == 0
    row = run.image_scans.get(tag="v08")
    if kind == "pushdates":
        assert scanned_tags(run) == ["v08"]
        assert (row.reason, row.status) == ("push date changed", "reused")  # same digest: no pull
    else:  # a plain OCI registry has no push date: the same bytes are the same image
        assert scanned_tags(run) == []
        assert (row.reason, row.status) == ("unchanged", "skipped")


def test_a_tag_with_the_digest_of_another_is_not_pulled_again(
    twelve_tags, registry, repo_name, pushdate_provider, traffic
):
    scan(twelve_tags)
    v11 = Tag.objects.get(repository__name=repo_name, name="v11")
    raw = registry.request("GET", f"/v2/{repo_name}/manifests/v11", repo=repo_name,
                           headers={"Accept": "application/vnd.oci.image.manifest.v1+json"})  # fmt: skip
    registry.push_manifest_raw(
        repo_name, "stable", raw.content, "application/vnd.oci.image.manifest.v1+json"
    )
    pushdate_provider.push_times[(repo_name, "stable")] = T0 + timedelta(days=3)
    traffic.clear()
    run = scan(twelve_tags)
    assert scanned_tags(run) == ["stable"]
    row = run.image_scans.get(tag="stable")
    assert row.status == "reused" and row.digest == v11.digest
    assert traffic.blob_gets() == [] and run.bytes_downloaded == 0
    stable = Tag.objects.get(repository__name=repo_name, name="stable")
    assert list(stable.images.all()) == list(v11.images.all())


def test_two_new_tags_with_one_digest_in_one_run_pull_it_once(
    registry, repo_name, pushdate_provider, org, traffic
):
    first = push(registry, pushdate_provider, repo_name, "a", T0, "same")
    second = copy_tag(registry, repo_name, "a", "b")
    pushdate_provider.push_times[(repo_name, "b")] = T0 + timedelta(hours=1)
    assert first == second
    reg = connect(org, registry, provider="pushdates", include_repos=[repo_name])
    traffic.clear()
    run = scan(reg)
    assert [(r["tag"], r["status"]) for r in orchestration.run_report(run)["scanned"]] == [
        ("a", "scanned"), ("b", "reused"),
    ]  # fmt: skip
    layer_gets = [u for u in traffic.blob_gets()]
    assert len(layer_gets) == len(set(layer_gets))


def test_results_of_the_previous_scan_stay_until_new_ones_land(
    twelve_tags, registry, repo_name, pushdate_provider
):
    scan(twelve_tags)
    tag = Tag.objects.get(repository__name=repo_name, name="v10")
    before = list(tag.images.all())
    push(registry, pushdate_provider, repo_name, "v10", T0 + timedelta(days=4), "v10-new")
    run, _ = orchestration.request_scan(twelve_tags, trigger="manual", actor=None, enqueue=False)
    orchestration.start_run(run.pk, orchestration._Dispatch(inline=True))  # listed, not scanned
    assert list(Tag.objects.get(pk=tag.pk).images.all()) == before
    orchestration.run_inline(ScanRun.objects.get(pk=run.pk))
    after = list(Tag.objects.get(pk=tag.pk).images.all())
    assert after != before and after[0].sbom is not None


def test_a_failed_image_never_fails_the_others(twelve_tags, registry, repo_name, pushdate_provider):
    bad_digest = push(registry, pushdate_provider, repo_name, "broken", T0 + timedelta(days=5))
    built = registry.images[bad_digest]
    layer_digest = built.layer_digests[-1]
    # Remove the top layer blob from the registry's storage: pulling it fails with 404.
    import shutil

    blob_dir = registry.data_dir / "docker/registry/v2/blobs/sha256"
    target = layer_digest.split(":")[1]
    shutil.rmtree(blob_dir / target[:2] / target)
    run = scan(twelve_tags)
    assert run.status == "partial"
    assert run.failed == 1 and run.scanned == 9
    row = run.image_scans.get(tag="broken")
    assert row.status == "failed" and row.error
    assert not Image.objects.filter(digest=bad_digest, sbom__isnull=False).exists()


def test_an_image_with_a_broken_layer_fails_with_a_plain_message(
    registry, repo_name, pushdate_provider, org, caplog
):
    import json

    from tests.support.oci_images import OCI_CONFIG, OCI_LAYER_GZIP, descriptor, make_manifest

    config = json.dumps({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers"}})
    not_tar = b"not a tarball at all"
    registry.push_blob(repo_name, config.encode())
    registry.push_blob(repo_name, not_tar)
    manifest = make_manifest(
        descriptor(OCI_CONFIG, config.encode()), [descriptor(OCI_LAYER_GZIP, not_tar)]
    )
    registry.push_manifest_raw(repo_name, "v1", json.dumps(manifest).encode(), OCI_MANIFEST)
    pushdate_provider.push_times[(repo_name, "v1")] = T0
    run = scan(connect(org, registry, provider="pushdates", include_repos=[repo_name]))
    row = run.image_scans.get(tag="v1")
    assert row.status == "failed" and "not a valid (gzip/zstd) tar archive" in row.error
    # Was "ScanError: Layer ...", and an ERROR log with a traceback for a bad input.
    assert not row.error.startswith("ScanError")
    assert not [r for r in caplog.records if r.levelname == "ERROR" or r.exc_info]


def test_every_listed_tag_is_in_the_ledger_once(twelve_tags):
    run = scan(twelve_tags)
    ledger = ImageScan.objects.filter(run=run)
    rows = list(ledger.exclude(tag="").values_list("repository", "tag"))
    assert len(rows) == len(set(rows)) == 12
    # Other tests' repositories in the shared registry are excluded by the repository glob.
    assert set(ledger.filter(tag="").values_list("reason", flat=True)) <= {
        "repository filtered by include/exclude"
    }


def test_an_artifact_is_skipped_with_its_media_type_not_failed(
    registry, repo_name, pushdate_provider, org
):
    import json

    push(registry, pushdate_provider, repo_name, "v1", T0)
    config = registry.push_blob(repo_name, b"{}")
    chart = registry.push_blob(repo_name, b"not a container layer")
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.cncf.helm.config.v1+json", "digest": config, "size": 2},
        "layers": [{"mediaType": "application/vnd.cncf.helm.chart.content.v1.tar+gzip",
                    "digest": chart, "size": 21}],
    }  # fmt: skip
    registry.push_manifest_raw(repo_name, "chart-1.0", json.dumps(manifest).encode(), OCI_MANIFEST)
    pushdate_provider.push_times[(repo_name, "chart-1.0")] = T0 + timedelta(hours=1)
    reg = connect(org, registry, provider="pushdates", include_repos=[repo_name])
    run = scan(reg)
    assert run.status == "succeeded", run.error
    row = run.image_scans.get(tag="chart-1.0")
    assert row.status == "skipped" and "media type" in row.reason
    assert (run.selected, run.scanned, run.failed) == (1, 1, 0)
    report = orchestration.run_report(run)
    assert [s["tag"] for s in report["scanned"]] == ["v1"]
    assert ("chart-1.0", row.reason) in [(s["tag"], s["reason"]) for s in report["skipped"]]
    again = scan(reg)
    assert again.image_scans.get(tag="chart-1.0").reason == "unchanged"
