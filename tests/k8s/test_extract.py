"""Reading kubectl JSON: every container kind, workloads, digests from the pod status."""

from __future__ import annotations

from pathlib import Path

import pytest

from scans.k8s import InputError, extract_containers, load_document, merge_containers

FIXTURES = Path(__file__).parent.parent / "fixtures" / "k8s"
NGINX = "sha256:5be1ecc7935f1dd85635d4feedaf660594030253cc97c9e9ca3819ffeac36b65"
ENVOY = "sha256:84532b306f259587c364bd7301e0813963d5b84fd27c9338f0862dab8f0499d7"
BUSYBOX = "sha256:9d75f0d7c398df565d7ac04c6819b62d6d8f9560f5eb4672596ecd8f7e96ae91"
NODEEXP = "sha256:db36deea403b65ff6c41180e0a6740bb0bc72adaa4b4f0966bccf97888472835"
NODEEXP_ID = "sha256:29e993974032d08448df0fd5bed3f8561e043b3f3c6d85fab0f96264b5b5fc5f"
APP = "sha256:34a4faec5cae33491b6f569a9bd3f458a36432df4487e0a9c297c36ccf07000c"
REPORT = "sha256:845e91831319e89c4d656bdb80c278ac09a7230d61e5dfd2e1b1fbb436ac8917"
ECR_API = "sha256:34fb46c847bb9df96e5205a39d382f648a6e8dce1e014cd85b4ca6a88d88ed03"
MIGRATE = "sha256:d80dc0a202c84e8fa4dcb3023143dff30cb5d99dae8c4731d84dab05aab52efb"


def rows(name: str, merged: bool = True) -> set[tuple]:
    extraction = extract_containers(load_document((FIXTURES / name).read_text()))
    assert extraction.errors == []
    containers = merge_containers(extraction.containers) if merged else extraction.containers
    return {
        (
            c.namespace,
            f"{c.workload_kind}/{c.workload_name}",
            c.container_type,
            c.container_name,
            str(c.image),
            c.digest,
            c.image_id,
        )
        for c in containers
    }


def test_it_reads_a_list_of_pods():
    assert rows("pods.json") == {
        (
            "shop",
            "Deployment/web",
            "container",
            "nginx",
            "docker.io/library/nginx:latest",
            NGINX,
            "",
        ),
        (
            "shop",
            "Deployment/web",
            "container",
            "proxy",
            "registry.example.com:5000/tools/envoy:v1.29",
            ENVOY,
            "",
        ),
        (
            "shop",
            "Deployment/web",
            "init",
            "wait-for-db",
            "docker.io/library/busybox:1.36",
            BUSYBOX,
            "",
        ),
        # tag+digest in the spec: the spec's digest wins; the plain sha256 imageID is the image id
        (
            "monitoring",
            "DaemonSet/node-agent",
            "container",
            "node-exporter",
            f"quay.io/prometheus/node-exporter:v1.7.0@{NODEEXP}",
            NODEEXP,
            NODEEXP_ID,
        ),
        ("default", "Pod/toolbox", "container", "app", "docker.io/acme/app:2.0", APP, ""),
        (
            "default",
            "Pod/toolbox",
            "ephemeral",
            "debugger-7xk2d",
            "docker.io/library/busybox:1.36",
            BUSYBOX,
            "",
        ),
        (
            "batch",
            "Job/nightly-report-29404680",
            "container",
            "report",
            "localhost:5000/batch/report:latest",
            REPORT,
            "",
        ),
        # still creating: no imageID yet
        ("shop", "StatefulSet/cache", "container", "redis", "docker.io/library/redis:7.2", "", ""),
    }


def test_replicas_collapse_into_one_row_each():
    extraction = extract_containers(load_document((FIXTURES / "pods.json").read_text()))
    assert len(extraction.containers) == 11  # two web replicas with three containers each
    assert len(merge_containers(extraction.containers)) == 8


def test_it_reads_a_single_pod_with_an_ecr_image_and_a_pinned_init_container():
    assert rows("pod.json") == {
        (
            "payments",
            "Deployment/api",
            "container",
            "api",
            "123456789012.dkr.ecr.eu-west-1.amazonaws.com/payments/api:1.4.2",
            ECR_API,
            "",
        ),
        (
            "payments",
            "Deployment/api",
            "init",
            "migrate",
            f"registry.example.com:5000/tools/migrate@{MIGRATE}",
            MIGRATE,
            "",
        ),
    }


def test_it_reads_a_typed_deployment_list():
    assert rows("deployments.json") == {
        ("shop", "Deployment/web", "container", "nginx", "docker.io/library/nginx:latest", "", ""),
        (
            "shop",
            "Deployment/web",
            "container",
            "proxy",
            "registry.example.com:5000/tools/envoy:v1.29",
            "",
            "",
        ),
        ("shop", "Deployment/web", "init", "wait-for-db", "docker.io/library/busybox:1.36", "", ""),
        (
            "payments",
            "Deployment/api",
            "container",
            "api",
            "123456789012.dkr.ecr.eu-west-1.amazonaws.com/payments/api:1.4.2",
            "",
            "",
        ),
    }


def test_it_reads_daemonsets_and_statefulsets():
    assert rows("daemonsets.json") == {
        (
            "monitoring",
            "DaemonSet/node-agent",
            "container",
            "node-exporter",
            f"quay.io/prometheus/node-exporter:v1.7.0@{NODEEXP}",
            NODEEXP,
            "",
        ),
        (
            "monitoring",
            "DaemonSet/node-agent",
            "init",
            "sysctl",
            "docker.io/library/alpine:3.19",
            "",
            "",
        ),
    }
    assert rows("statefulsets.json") == {
        (
            "shop",
            "StatefulSet/db",
            "container",
            "postgres",
            "docker.io/library/postgres:16.1-bookworm",
            "",
            "",
        ),
    }


def test_it_reads_a_cronjobs_job_template():
    assert rows("cronjobs.json") == {
        (
            "batch",
            "CronJob/nightly-report",
            "container",
            "report",
            "localhost:5000/batch/report:latest",
            "",
            "",
        ),
        ("batch", "CronJob/nightly-report", "init", "fetch", "ghcr.io/acme/fetch-data:0.3", "", ""),
    }


def test_it_reads_jobs_and_names_a_cronjobs_job_by_its_cronjob():
    assert rows("jobs.json") == {
        (
            "batch",
            "CronJob/nightly-report",
            "container",
            "report",
            "localhost:5000/batch/report:latest",
            "",
            "",
        ),
        (
            "shop",
            "Job/db-migrate",
            "container",
            "migrate",
            "[::1]:5000/tools/migrate:2024.1",
            "",
            "",
        ),
    }


def test_a_mixed_list_ignores_kinds_without_pods_and_merges_owners():
    extraction = extract_containers(load_document((FIXTURES / "mixed.json").read_text()))
    assert extraction.ignored == {"Service": 1}
    assert rows("mixed.json") == {
        ("shop", "Deployment/web", "container", "nginx", "docker.io/library/nginx:1.25", "", ""),
        (
            "ops",
            "CronJob/cleanup",
            "container",
            "kubectl",
            "docker.io/bitnami/kubectl:1.29",
            "",
            "",
        ),
    }


def test_malformed_references_are_reported_and_the_rest_read():
    extraction = extract_containers(load_document((FIXTURES / "malformed.json").read_text()))
    assert [str(c.image) for c in extraction.containers] == [
        "docker.io/library/alpine:3.19",
        "ghcr.io/acme/worker:1.0",
    ]
    assert [(e["container"], e["image"]) for e in extraction.errors] == [
        ("upper", "Nginx:latest"),
        ("empty", ""),
        ("short-digest", "registry.example.com/app@sha256:abc123"),
        ("space", "registry.example.com/app:bad tag"),
        ("no-image", ""),
    ]
    assert all(e["object"] == "Pod/broken" and e["error"] for e in extraction.errors)
    assert "lower case" in extraction.errors[0]["error"]


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", "empty"),
        ("{not json", "not JSON"),
        ("[1, 2]", "got a JSON list"),
        ('{"items": []}', "no `kind`"),
        ('{"kind": "Service", "metadata": {}}', "unsupported kind 'Service'"),
        ('{"kind": "ConfigMapList", "items": []}', "unsupported kind 'ConfigMapList'"),
        ('{"kind": "List", "items": {}}', "no `items` list"),
        ('{"kind": "PodList"}', "no `items` list"),
    ],
)
def test_it_refuses_documents_that_are_not_kubernetes_json(text, problem):
    with pytest.raises(InputError, match=problem):
        load_document(text)


def test_an_unusable_registry_port_is_reported():
    doc = load_document(
        '{"kind": "Pod", "metadata": {"name": "p"}, "spec": {"containers": ['
        '{"name": "a", "image": "reg.example.com:1234567/app"}, {"name": "b", "image": "app"}]}}'
    )
    extraction = extract_containers(doc)
    assert [c.container_name for c in extraction.containers] == ["b"]
    assert extraction.errors[0]["container"] == "a"
    assert "Not a registry host" in extraction.errors[0]["error"]


def test_a_containers_field_that_is_not_a_list_is_reported():
    doc = load_document(
        '{"kind": "Pod", "metadata": {"name": "p", "namespace": "x"}, "spec": {'
        '"containers": [{"name": "a", "image": "app"}], "initContainers": {"name": "b"}}}'
    )
    extraction = extract_containers(doc)
    assert [c.container_name for c in extraction.containers] == ["a"]
    assert extraction.errors == [
        {"namespace": "x", "object": "Pod/p", "error": "`initContainers` is not a list"}
    ]


def test_objects_without_a_pod_spec_are_reported():
    doc = load_document(
        '{"kind": "List", "items": [{"kind": "Pod", "metadata": {"name": "p"}}, 7]}'
    )
    extraction = extract_containers(doc)
    assert extraction.containers == []
    assert [e["error"] for e in extraction.errors] == [
        "no pod spec",
        "list item is not a JSON object, skipped",
    ]
    assert extraction.ignored == {}
