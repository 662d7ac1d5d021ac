"""Registry occurrences: host normalisation, integration lookup, idempotent recording."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from accounts.models import OrgGroup
from integrations.models import Registry, RegistryAccess
from integrations.occurrences import find_integration, record_registry_occurrence, registry_host

SYSTEM = RegistryAccess.SYSTEM_MANAGED
MANUAL = RegistryAccess.PUBLIC_MANUAL


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("https://Reg.example.com:443/", "reg.example.com"),
        ("reg.example.com:443", "reg.example.com"),
        ("http://reg.example.com:80/v2/", "reg.example.com"),
        ("http://reg.example.com:443", "reg.example.com:443"),
        ("https://reg.example.com:8443/path", "reg.example.com:8443"),
        ("127.0.0.1:5000", "127.0.0.1:5000"),
        ("LOCALHOST:5000", "localhost:5000"),
        ("https://user:pw@reg.example.com", "reg.example.com"),
        ("docker.io", "docker.io"),
        ("index.docker.io", "docker.io"),
        ("https://registry-1.docker.io/v2/", "docker.io"),
        ("registry.hub.docker.com", "docker.io"),
        ("[::1]:5000", "[::1]:5000"),
    ],
)
def test_it_normalises_registry_hosts(given, expected):
    assert registry_host(given) == expected


@pytest.mark.parametrize("bad", ["", "   ", "https://", "not a host", "reg.example.com:port"])
def test_it_rejects_non_hosts(bad):
    with pytest.raises(ValueError):
        registry_host(bad)


def make_integration(org, **fields) -> Registry:
    defaults = {"name": "int", "provider": "oci", "access": RegistryAccess.PRIVATE}
    return Registry.objects.create(organization=org, **(defaults | fields))


def test_it_finds_the_integration_by_url_or_endpoint(org, other_org):
    by_url = make_integration(org, name="a", url="https://reg.example.com")
    by_endpoint = make_integration(
        org, name="b", url="https://public.example.com", registry_endpoint="http://127.0.0.1:5000"
    )
    make_integration(other_org, name="x", url="https://other.example.com")
    assert find_integration(org, "REG.example.com:443") == by_url
    assert find_integration(org, "127.0.0.1:5000") == by_endpoint
    assert find_integration(org, "public.example.com") == by_endpoint
    assert find_integration(org, "other.example.com") is None
    assert find_integration(org, "127.0.0.1:5001") is None


def test_it_finds_ecr_and_docker_hub_integrations(org):
    ecr = make_integration(
        org, name="ecr", provider="ecr", registry_id="123456789012", region="eu-west-1"
    )
    hub = make_integration(org, name="hub", provider="dockerhub")
    assert find_integration(org, "123456789012.dkr.ecr.eu-west-1.amazonaws.com") == ecr
    assert find_integration(org, "123456789012.dkr.ecr.us-east-1.amazonaws.com") is None
    assert find_integration(org, "210987654321.dkr.ecr.eu-west-1.amazonaws.com") is None
    assert find_integration(org, "index.docker.io") == hub


def test_it_ignores_non_private_registries_when_finding_integrations(org):
    make_integration(org, name="seen", url="reg.example.com", access=SYSTEM)
    assert find_integration(org, "reg.example.com") is None


def test_it_records_an_occurrence_once(org):
    first = record_registry_occurrence(org, "https://Reg.Example.com", SYSTEM, "k8sdiscover prod")
    first_seen = first.last_seen_at
    again = record_registry_occurrence(org, "reg.example.com:443", SYSTEM, "k8sdiscover prod")
    assert again.pk == first.pk
    assert again.last_seen_at >= first_seen
    row = Registry.objects.get(pk=first.pk)
    assert (row.name, row.url, row.provider, row.access, row.schedule) == (
        "reg.example.com",
        "reg.example.com",
        "oci",
        SYSTEM,
        "off",
    )
    assert row.discovered_via == "k8sdiscover prod"
    assert Registry.objects.filter(organization=org).count() == 1


def test_it_keeps_occurrences_per_organization(org, other_org):
    mine = record_registry_occurrence(org, "reg.example.com", MANUAL, "scanimage")
    theirs = record_registry_occurrence(other_org, "reg.example.com", MANUAL, "scanimage")
    assert mine.pk != theirs.pk
    assert theirs.organization == other_org


def test_it_reuses_an_existing_integration(org):
    integration = make_integration(org, name="corp", url="https://reg.example.com")
    got = record_registry_occurrence(org, "reg.example.com", SYSTEM, "k8sdiscover")
    assert got == integration
    assert Registry.objects.filter(organization=org).count() == 1
    assert Registry.objects.get(pk=integration.pk).access == RegistryAccess.PRIVATE


def test_it_suffixes_the_name_when_taken(org):
    make_integration(org, name="reg.example.com", url="https://elsewhere.example.com")
    got = record_registry_occurrence(org, "reg.example.com", MANUAL, "scanimage")
    assert got.name == "reg.example.com-2"
    assert got.access == MANUAL


def test_kubernetes_discovery_upgrades_a_manual_occurrence(org):
    manual = record_registry_occurrence(org, "reg.example.com", MANUAL, "scanimage")
    system = record_registry_occurrence(org, "reg.example.com", SYSTEM, "k8sdiscover prod")
    assert system.pk == manual.pk
    assert Registry.objects.get(pk=manual.pk).access == SYSTEM
    back = record_registry_occurrence(org, "reg.example.com", MANUAL, "scanimage")
    assert Registry.objects.get(pk=back.pk).access == SYSTEM


def test_it_never_creates_a_service_user(org):
    record_registry_occurrence(org, "reg.example.com", SYSTEM, "k8sdiscover")
    org.refresh_from_db()
    assert org.service_user_id is None
    assert not OrgGroup.objects.get(organization=org, name="admins").users.exists()


def test_it_refuses_private_access(org):
    with pytest.raises(ValueError):
        record_registry_occurrence(org, "reg.example.com", RegistryAccess.PRIVATE, "x")


@pytest.mark.django_db(transaction=True)
def test_concurrent_recorders_get_one_row(org):
    results, errors = [], []
    barrier = threading.Barrier(4)

    def record():
        try:
            barrier.wait()
            results.append(record_registry_occurrence(org, "race.example.com", SYSTEM, "k8s").pk)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=record) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert len(set(results)) == 1
    assert Registry.objects.filter(organization=org, url="race.example.com").count() == 1
