"""``manage.py k8sdiscover``: what runs is recorded per cluster, registries once, scans queued."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from integrations.models import Registry, RegistryAccess
from scans.k8s import annotate_running, running_digests, running_digests_by_org
from scans.models import Image, RunningImage

from .test_extract import APP, BUSYBOX, ECR_API, ENVOY, MIGRATE, NGINX, NODEEXP, REPORT

FIXTURES = Path(__file__).parent.parent / "fixtures" / "k8s"


def run(*args: str, stdin: str | None = None) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    extra = {"stdin": io.StringIO(stdin)} if stdin is not None else {}
    try:
        call_command("k8sdiscover", *args, stdout=out, stderr=err, **extra)
        code = 0
    except CommandError as exc:
        code = exc.returncode
        err.write(str(exc))
    return code, out.getvalue(), err.getvalue()


def discover(name: str, *args: str) -> dict:
    code, out, err = run(str(FIXTURES / name), "--json", *args)
    assert code == 0, err
    return json.loads(out)


@pytest.fixture
def queued(monkeypatch) -> list[tuple]:
    """Capture django-q2 enqueues (the scan engine is exercised in the end-to-end test)."""
    calls: list[tuple] = []
    monkeypatch.setattr(
        "django_q.tasks.async_task", lambda func, *args, **kw: calls.append((func, *args))
    )
    return calls


def test_it_records_running_images_and_system_managed_registries(org):
    report = discover("pods.json", "--cluster", "prod", "--no-scan")
    assert report["cluster"] == "prod" and report["organization"] == "acme"
    assert report["counts"] == {
        "images": 8,
        "new": 8,
        "no_longer_running": 0,
        "registries": 4,
        "queued": 0,
        "scans_failed": 0,
        "errors": 0,
    }
    registries = Registry.objects.filter(organization=org)
    assert {(r.url, r.access, r.schedule) for r in registries} == {
        (host, RegistryAccess.SYSTEM_MANAGED, "off")
        for host in ("docker.io", "registry.example.com:5000", "quay.io", "localhost:5000")
    }
    assert all(r.discovered_via == "k8sdiscover --cluster prod" for r in registries)
    web = RunningImage.objects.get(container_name="proxy")
    assert (web.cluster, web.namespace, web.workload, web.container_type) == (
        "prod",
        "shop",
        "Deployment/web",
        "container",
    )
    assert (web.registry.url, web.repository, web.tag, web.digest) == (
        "registry.example.com:5000",
        "tools/envoy",
        "v1.29",
        ENVOY,
    )
    assert web.pull_reference == f"registry.example.com:5000/tools/envoy@{ENVOY}"
    item = next(i for i in report["images"] if i["container"] == "debugger-7xk2d")
    assert item["container_type"] == "ephemeral" and item["workload"] == "Pod/toolbox"
    assert item["reference"] == "docker.io/library/busybox:1.36" and item["digest"] == BUSYBOX


def test_running_it_again_records_nothing_twice(org):
    discover("pods.json", "--no-scan")
    first = dict(Registry.objects.values_list("url", "last_seen_at"))
    report = discover("pods.json", "--no-scan")
    assert report["counts"]["new"] == 0 and report["counts"]["images"] == 8
    assert Registry.objects.filter(organization=org).count() == 4
    assert RunningImage.objects.count() == 8
    assert all(Registry.objects.get(url=u).last_seen_at >= t for u, t in first.items())


def test_an_existing_integration_is_used_instead_of_a_new_registry(org):
    corp = Registry.objects.create(
        organization=org, name="corp", provider="oci", url="https://registry.example.com:5000"
    )
    ecr = Registry.objects.create(
        organization=org, name="aws", provider="ecr", registry_id="123456789012", region="eu-west-1"
    )
    report = discover("pod.json", "--no-scan")
    assert {i["registry"] for i in report["images"]} == {"corp", "aws"}
    assert {i["registry_access"] for i in report["images"]} == {"private"}
    assert Registry.objects.filter(organization=org).count() == 2
    assert RunningImage.objects.get(container_name="migrate").registry == corp
    assert RunningImage.objects.get(container_name="api").registry == ecr


def test_a_second_discovery_marks_what_no_longer_runs(org):
    discover("pods.json", "--cluster", "prod", "--no-scan")
    discover("pods.json", "--cluster", "staging", "--no-scan")
    report = discover("pod.json", "--cluster", "prod", "--no-scan")
    assert report["counts"]["no_longer_running"] == 8
    assert {i["digest"] for i in report["no_longer_running"]} == {
        NGINX,
        ENVOY,
        BUSYBOX,
        NODEEXP,
        APP,
        REPORT,
        "",
    }
    prod = RunningImage.objects.filter(cluster="prod")
    assert set(prod.filter(still_running=True).values_list("digest", flat=True)) == {
        ECR_API,
        MIGRATE,
    }
    assert prod.filter(still_running=False).count() == 8
    # Another cluster is not touched.
    assert RunningImage.objects.filter(cluster="staging", still_running=True).count() == 8
    # Coming back: the same rows run again and keep their first-seen time.
    nginx = prod.get(digest=NGINX)
    discover("pods.json", "--cluster", "prod", "--no-scan")
    nginx_again = RunningImage.objects.get(pk=nginx.pk)
    assert nginx_again.still_running and nginx_again.first_seen == nginx.first_seen
    assert nginx_again.last_seen > nginx.last_seen


def test_a_new_digest_under_the_same_tag_replaces_the_old_one(org, tmp_path):
    text = (FIXTURES / "pods.json").read_text()
    discover("pods.json", "--no-scan")
    rolled = tmp_path / "rolled.json"
    rolled.write_text(text.replace(NGINX.removeprefix("sha256:"), "b" * 64))
    code, out, err = run(str(rolled), "--json", "--no-scan")
    assert code == 0, err
    rows = RunningImage.objects.filter(container_name="nginx")
    assert {(r.digest, r.still_running) for r in rows} == {
        (NGINX, False),
        ("sha256:" + "b" * 64, True),
    }


def test_running_digests_follow_the_latest_discovery(org, other_org):
    discover("pods.json", "--org", "acme", "--no-scan")
    assert running_digests(org) == {NGINX, ENVOY, BUSYBOX, NODEEXP, APP, REPORT}
    assert running_digests(other_org) == set()
    discover("pod.json", "--org", "acme", "--no-scan")
    assert running_digests(org) == {ECR_API, MIGRATE}


def test_images_are_annotated_running_in_cluster(org, other_org):
    discover("pods.json", "--org", "acme", "--no-scan")
    hub = Registry.objects.get(organization=org, url="docker.io")
    theirs = Registry.objects.create(
        organization=other_org, name="hub", provider="oci", url="docker.io"
    )
    by_index = Image.objects.create(registry=hub, digest="sha256:" + "1" * 64, index_digest=NGINX)
    by_digest = Image.objects.create(registry=hub, digest=BUSYBOX)
    idle = Image.objects.create(registry=hub, digest="sha256:" + "2" * 64)
    other = Image.objects.create(registry=theirs, digest=NGINX)
    flags = dict(
        annotate_running(Image.objects.all(), image_path="").values_list("pk", "running_in_cluster")
    )
    assert flags == {by_index.pk: True, by_digest.pk: True, idle.pk: False, other.pk: False}
    discover("pod.json", "--org", "acme", "--no-scan")
    flags = dict(
        annotate_running(Image.objects.all(), image_path="").values_list("pk", "running_in_cluster")
    )
    assert not any(flags.values())


def test_scans_are_queued_once_per_digest(org, queued):
    report = discover("pods.json")
    assert all(func == "scans.k8s.scan_discovered_image" for func, *_ in queued)
    scanned = {RunningImage.objects.get(pk=pk).pull_reference for _, pk in queued}
    assert scanned == {
        f"docker.io/library/nginx@{NGINX}",
        f"registry.example.com:5000/tools/envoy@{ENVOY}",
        f"docker.io/library/busybox@{BUSYBOX}",  # init container and ephemeral: one scan
        f"quay.io/prometheus/node-exporter@{NODEEXP}",
        f"docker.io/acme/app@{APP}",
        f"localhost:5000/batch/report@{REPORT}",
        "docker.io/library/redis:7.2",  # no digest yet: the tag, once
    }
    assert report["counts"]["queued"] == 7
    assert {i["scan"] for i in report["images"]} == {"queued"}
    # Queued digests are not queued again; --no-scan queues nothing.
    queued.clear()
    assert discover("pods.json")["counts"]["queued"] == 0
    assert discover("pod.json", "--no-scan")["counts"]["queued"] == 0
    assert queued == []


def test_digests_already_scanned_by_a_registry_scan_are_not_queued(org, queued):
    from scans.models import Sbom

    discover("pod.json", "--no-scan")
    registry = RunningImage.objects.get(container_name="api").registry
    sbom = Sbom.objects.create(**_sbom_fields(Sbom))
    Image.objects.create(
        registry=registry, digest="sha256:" + "3" * 64, index_digest=ECR_API, sbom=sbom
    )
    report = discover("pod.json")
    assert [RunningImage.objects.get(pk=pk).container_name for _, pk in queued] == ["migrate"]
    assert {i["container"]: i["scan"] for i in report["images"]} == {
        "api": "scanned",
        "migrate": "queued",
    }


def _sbom_fields(model) -> dict:
    """Minimal values for the required fields of Sbom (owned by the scan engine)."""
    values = {}
    for f in model._meta.concrete_fields:
        if f.primary_key or f.null or f.has_default() or getattr(f, "auto_now_add", False):
            continue
        values[f.name] = "sha256:" + "3" * 64 if "digest" in f.name else "x"
    return values


# --- Bad input ---
@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("this is not json", "is not JSON (Expecting value at line 1 column 1)"),
        ('{"kind": "Service", "metadata": {"name": "web"}}', "unsupported kind 'Service'"),
        ('["a"]', "expected a Kubernetes object at the top level, got a JSON list"),
        ("", "the input is empty"),
    ],
)
def test_bad_input_exits_2_naming_the_problem(org, tmp_path, content, problem):
    path = tmp_path / "input.json"
    path.write_text(content)
    code, out, err = run(str(path), "--json")
    assert code == 2
    assert problem in err and str(path) in err
    assert out == ""
    assert not RunningImage.objects.exists() and not Registry.objects.exists()


def test_a_list_item_without_kind_exits_2_and_marks_nothing_gone(org, tmp_path):
    # Kind-less items used to be "ignored" with exit 0, and every image of the cluster was
    # then recorded as no longer running.
    discover("pods.json", "--cluster", "prod", "--no-scan")
    running = RunningImage.objects.filter(still_running=True).count()
    pods = json.loads((FIXTURES / "pods.json").read_text())
    for item in pods["items"]:
        item.pop("kind", None)
    path = tmp_path / "handwritten.json"
    path.write_text(json.dumps({"kind": "List", "items": pods["items"]}))
    code, out, err = run(str(path), "--cluster", "prod", "--no-scan")
    assert code == 2 and "item 1 of the List has no `kind`" in err and out == ""
    assert RunningImage.objects.filter(still_running=True).count() == running > 0


def test_a_missing_file_exits_2(org, tmp_path):
    code, _, err = run(str(tmp_path / "nope.json"))
    assert code == 2 and "cannot read" in err


def test_an_unknown_or_ambiguous_organization_exits_2(org, other_org):
    assert run(str(FIXTURES / "pod.json"), "--org", "nobody")[0] == 2
    code, _, err = run(str(FIXTURES / "pod.json"))
    assert code == 2 and "give --org" in err


def test_malformed_references_are_reported_and_the_rest_recorded(org):
    code, out, err = run(str(FIXTURES / "malformed.json"), "--json", "--no-scan")
    assert code == 1
    report = json.loads(out)
    assert report["counts"]["errors"] == 5 and len(report["errors"]) == 5
    assert "skipped: default/Pod/broken container 'upper' image 'Nginx:latest'" in err
    assert "5 container image(s) could not be read" in err
    assert sorted(RunningImage.objects.values_list("reference", flat=True)) == [
        "docker.io/library/alpine:3.19",
        "ghcr.io/acme/worker:1.0",
    ]


def test_it_reads_stdin_and_prints_a_table(org):
    code, out, err = run("-", "--no-scan", stdin=(FIXTURES / "cronjobs.json").read_text())
    assert code == 0, err
    assert "CronJob/nightly-report" in out and "localhost:5000/batch/report:latest" in out
    assert "2 running image(s) (2 new)" in err


def test_running_digests_by_org(org, other_org):
    discover("pod.json", "--org", "acme", "--no-scan")
    discover("cronjobs.json", "--org", "globex", "--no-scan")  # no digests known there
    assert running_digests_by_org() == {org.pk: {ECR_API, MIGRATE}}
    assert running_digests_by_org(other_org.pk) == {}


def test_priorities_are_recomputed_when_what_runs_changes(org, monkeypatch):
    calls = []
    monkeypatch.setattr(
        "scans.vulndb.services.recompute_priority", lambda org_id: calls.append(org_id)
    )
    discover("pod.json", "--no-scan")
    discover("pod.json", "--no-scan")  # nothing changed
    discover("cronjobs.json", "--no-scan")  # new rows, and the pod's rows are gone
    assert calls == [org.pk, org.pk]


def test_lost_scan_tasks_are_queued_again_and_failed_ones_retried(org, queued):
    from datetime import timedelta

    from django.utils import timezone

    discover("pods.json")
    assert len(queued) == 7
    queued.clear()
    recent = timezone.now() - timedelta(minutes=5)
    RunningImage.objects.update(scan_queued_at=recent)
    assert discover("pods.json")["counts"]["queued"] == 0
    # Queued long before django-q2's retries could still be running: the task was lost.
    RunningImage.objects.filter(digest=NGINX).update(scan_queued_at=recent - timedelta(days=1))
    RunningImage.objects.filter(digest=ENVOY).update(scan_status="failed")
    discover("pods.json")
    assert {RunningImage.objects.get(pk=pk).digest for _, pk in queued} == {NGINX, ENVOY}


@pytest.mark.django_db(transaction=True)
def test_concurrent_discoveries_of_one_cluster_agree(org):
    import threading

    from django.db import connection

    barrier, codes = threading.Barrier(3), []

    def one():
        try:
            barrier.wait()
            codes.append(run(str(FIXTURES / "pods.json"), "--no-scan")[0])
        finally:
            connection.close()

    threads = [threading.Thread(target=one) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert codes == [0, 0, 0]
    assert RunningImage.objects.count() == 8
    assert RunningImage.objects.filter(still_running=True).count() == 8
    assert Registry.objects.filter(organization=org).count() == 4


def test_findings_are_annotated_running_in_cluster(org):
    from django.utils import timezone

    from scans.vulndb.models import Finding, Vulnerability

    discover("pod.json", "--no-scan")
    registry = RunningImage.objects.get(container_name="migrate").registry
    vuln = Vulnerability.objects.create(osv_id="CVE-2024-0001")
    running = Image.objects.create(registry=registry, digest=MIGRATE)
    idle = Image.objects.create(registry=registry, digest="sha256:" + "4" * 64)
    for image in (running, idle):
        Finding.objects.create(
            image=image,
            vulnerability=vuln,
            package_key="pkg:deb/debian/openssl@3.0.11-1",
            package_name="openssl",
            package_version="3.0.11-1",
            ecosystem="deb",
            first_seen=timezone.now(),
        )
    flags = dict(
        annotate_running(Finding.objects.all()).values_list("image__digest", "running_in_cluster")
    )
    assert flags == {MIGRATE: True, "sha256:" + "4" * 64: False}


def test_rows_move_to_an_integration_added_later(org):
    discover("pods.json", "--no-scan")
    seen = Registry.objects.get(organization=org, url="registry.example.com:5000")
    corp = Registry.objects.create(
        organization=org, name="corp", provider="oci", url="https://registry.example.com:5000"
    )
    report = discover("pods.json", "--no-scan")
    envoy = RunningImage.objects.get(container_name="proxy")
    assert envoy.registry == corp and envoy.still_running
    assert next(i for i in report["images"] if i["container"] == "proxy")["registry"] == "corp"
    assert Registry.objects.filter(pk=seen.pk).exists()  # the occurrence stays, last seen before


def test_discovery_raises_and_lowers_finding_priority(org):
    from django.utils import timezone

    from scans.vulndb.models import Finding, Vulnerability

    registry = Registry.objects.create(
        organization=org, name="corp", provider="oci", url="registry.example.com:5000"
    )
    image = Image.objects.create(registry=registry, digest=MIGRATE)
    finding = Finding.objects.create(
        image=image,
        vulnerability=Vulnerability.objects.create(osv_id="CVE-2024-0002"),
        package_key="pkg:deb/debian/openssl@3.0.11-1",
        package_name="openssl",
        package_version="3.0.11-1",
        ecosystem="deb",
        severity="high",
        first_seen=timezone.now(),
    )
    discover("pod.json", "--no-scan")  # runs MIGRATE in an init container
    finding.refresh_from_db()
    hot = finding.priority
    assert finding.priority_components["running"] is True
    discover("cronjobs.json", "--no-scan")  # the pod is gone
    finding.refresh_from_db()
    assert finding.priority_components["running"] is False
    assert finding.priority < hot
