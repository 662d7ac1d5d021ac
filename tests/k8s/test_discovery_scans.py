"""End to end: pods running images of a real local registry are discovered and scanned by
digest (django-q2 runs tasks inline in the test settings)."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import CommandError, call_command

from integrations.models import Registry, RegistryAccess
from scans.k8s import annotate_running, running_digests
from scans.models import Image, RunningImage
from tests.support.layers import apk_installed
from tests.support.oci_images import make_layer

pytestmark = [pytest.mark.slow, pytest.mark.django_db]

OS_RELEASE = b'NAME="Alpine Linux"\nID=alpine\nVERSION_ID=3.19.1\n'


def alpine_layer() -> bytes:
    db = apk_installed(
        [
            {"P": "musl", "V": "1.2.4-r2", "A": "x86_64", "o": "musl"},
            {"P": "zlib", "V": "1.3.1-r0", "A": "x86_64", "o": "zlib"},
        ]
    )
    return make_layer({"etc/os-release": OS_RELEASE, "lib/apk/db/installed": db})


def pod(name: str, image: str, image_id: str) -> dict:
    """A Pod as `kubectl get pods -o json` shows it once its container runs."""
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": "apps", "uid": f"uid-{name}"},
        "spec": {"containers": [{"name": "main", "image": image}]},
        "status": {
            "phase": "Running",
            "containerStatuses": [
                {
                    "name": "main",
                    "image": image,
                    "imageID": image_id,
                    "ready": True,
                    "restartCount": 0,
                    "state": {"running": {"startedAt": "2026-12-04T10:00:00Z"}},
                }
            ],
        },
    }


def discover(tmp_path, *pods: dict) -> tuple[int, dict, str]:
    path = tmp_path / "pods.json"
    path.write_text(json.dumps({"apiVersion": "v1", "kind": "List", "items": list(pods)}))
    out, err = io.StringIO(), io.StringIO()
    code = 0
    try:
        call_command("k8sdiscover", str(path), "--json", "--cluster", "lab", stdout=out, stderr=err)
    except CommandError as exc:
        code = exc.returncode
    return code, json.loads(out.getvalue()), err.getvalue()


def test_an_anonymous_registry_image_is_scanned_by_its_running_digest(org, make_registry, tmp_path):
    lab = make_registry(auth=None)
    digest = lab.push_image("team/app", "1.0", [alpine_layer()])
    # The tag moves on after the pod started: the scan must follow the running digest.
    lab.push_image("team/app", "1.0", [alpine_layer(), make_layer({"new.txt": b"x"})])
    code, report, err = discover(
        tmp_path, pod("app", f"{lab.host}/team/app:1.0", f"{lab.host}/team/app@{digest}")
    )
    assert code == 0, err
    [item] = report["images"]
    assert (item["digest"], item["scan"], item["registry_access"]) == (
        digest,
        "scanned",
        RegistryAccess.SYSTEM_MANAGED,
    )
    registry = Registry.objects.get(organization=org, url=lab.host)
    assert registry.access == RegistryAccess.SYSTEM_MANAGED
    image = Image.objects.get(registry=registry, digest=digest)
    assert (image.sbom.os_id, image.sbom.os_version) == ("alpine", "3.19.1")
    assert set(image.sbom.packages.values_list("name", "version")) == {
        ("musl", "1.2.4-r2"),
        ("zlib", "1.3.1-r0"),
    }
    assert Image.objects.filter(registry=registry).count() == 1  # only what runs was pulled
    assert running_digests(org) == {digest}
    assert (
        annotate_running(Image.objects.filter(pk=image.pk), image_path="").get().running_in_cluster
    )


def test_an_integrations_credentials_are_used_for_its_host(org, registry, repo_name, tmp_path):
    integration = Registry.objects.create(
        organization=org,
        name="lab",
        provider="oci",
        url=registry.url,
        username=registry.username,
        schedule="off",
    )
    integration.set_secret(registry.password)
    integration.save()
    digest = registry.push_image(repo_name, "v2", [alpine_layer()])
    code, report, err = discover(
        tmp_path,
        pod(
            "api",
            f"{registry.host}/{repo_name}@{digest}",
            f"docker-pullable://{registry.host}/{repo_name}@{digest}",
        ),
    )
    assert code == 0, err
    [item] = report["images"]
    assert (item["registry"], item["scan"]) == ("lab", "scanned")
    assert Registry.objects.filter(organization=org).count() == 1
    image = Image.objects.get(registry=integration, digest=digest)
    assert image.sbom.os_id == "alpine"


def test_a_registry_that_refuses_anonymous_pulls_fails_the_scan_not_the_discovery(
    org, registry, repo_name, tmp_path
):
    digest = registry.push_image(repo_name, "v1", [alpine_layer()])
    code, report, err = discover(
        tmp_path,
        pod("locked", f"{registry.host}/{repo_name}:v1", f"{registry.host}/{repo_name}@{digest}"),
    )
    assert code == 1
    [item] = report["images"]
    assert item["scan"] == "failed" and item["scan_error"]
    assert "credentials" in item["scan_error"]
    assert registry.password not in item["scan_error"]
    assert report["counts"]["scans_failed"] == 1
    row = RunningImage.objects.get()
    assert row.still_running and row.scan_status == "failed"
    assert not Image.objects.filter(digest=digest).exists()
