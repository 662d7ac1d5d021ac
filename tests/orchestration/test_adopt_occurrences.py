"""An integration created for a host that regscan already saw (a single-image scan, a running
workload) takes over what was recorded there: nothing is lost, nothing shows twice."""

from __future__ import annotations

from integrations.models import Registry, RegistryAccess
from integrations.services import create_registry
from scans.models import Image, Repository, RunningImage, Tag
from scans.vulndb.models import Finding
from tests.k8s.test_k8sdiscover import discover
from tests.pages.factories import make_finding, make_image


def test_a_new_integration_takes_over_what_was_seen_at_its_host(org, owner, other_org):
    discover(
        "pods.json", "--no-scan", "--org", org.name
    )  # registry.example.com:5000, System-managed
    seen = Registry.objects.get(organization=org, url="registry.example.com:5000")
    assert seen.access == RegistryAccess.SYSTEM_MANAGED
    running = RunningImage.objects.filter(registry=seen).count()
    finding = make_finding(make_image(seen, repo="platform/envoy", tag="1.29"))
    elsewhere = Registry.objects.create(
        organization=other_org,
        name="theirs",
        provider="oci",
        url="registry.example.com:5000",
        access=RegistryAccess.SYSTEM_MANAGED,
    )

    corp = create_registry(
        org,
        owner,
        name="corp",
        provider="oci",
        url="https://registry.example.com:5000",
        schedule="off",
        initial_scan=False,
    )

    assert not Registry.objects.filter(pk=seen.pk).exists()
    assert running and RunningImage.objects.filter(registry=corp).count() == running
    image = Image.objects.get(pk=finding.image_id)
    assert image.registry == corp
    assert Repository.objects.get(name="platform/envoy").registry == corp
    assert Tag.objects.get(name="1.29").images.get() == image
    assert Finding.objects.get(pk=finding.pk).status == "open"  # kept, with its history
    # Another organization's registry at the same host is never touched.
    assert Registry.objects.filter(pk=elsewhere.pk).exists()


def test_other_hosts_and_private_integrations_stay(org, owner):
    discover("pods.json", "--no-scan")
    before = set(Registry.objects.filter(organization=org).values_list("name", flat=True))
    create_registry(
        org,
        owner,
        name="corp",
        provider="oci",
        url="https://other.example.com",
        schedule="off",
        initial_scan=False,
    )
    after = set(Registry.objects.filter(organization=org).values_list("name", flat=True))
    assert after == before | {"corp"}
