"""Risk acceptance: scopes, expiry, revocation, permissions and the OpenVEX export."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from scans.models import RiskAcceptance
from scans.models.triage import accept_risk, annotate_accepted
from scans.vulndb.models import Finding

from .factories import add_registry, make_finding, make_image, make_vulnerability

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(org):
    reg = add_registry(org, name="prod", url="https://registry.example.com")
    other = add_registry(org, name="staging")
    vuln = make_vulnerability("CVE-2024-1111", severity="critical")
    return {
        "api1": make_finding(make_image(reg, repo="shop/api", tag="1.0", n=1), vuln),
        "api2": make_finding(make_image(reg, repo="shop/api", tag="2.0", n=2), vuln),
        "web": make_finding(make_image(reg, repo="shop/web", tag="1.0", n=3), vuln),
        "staging": make_finding(make_image(other, repo="shop/api", tag="1.0", n=4), vuln),
        "other_vuln": make_finding(
            make_image(reg, repo="shop/api", tag="3.0", n=5), make_vulnerability("CVE-2024-9999")
        ),
    }


def accepted_keys(world, now=None):
    now = now or timezone.now()
    flags = dict(annotate_accepted(Finding.objects.all(), now).values_list("pk", "is_accepted"))
    return {k for k, f in world.items() if flags[f.pk]}


def accept(world, owner, key="api1", days=30, **kw):
    return accept_risk(world[key], actor=owner, owner=owner, justification="compensating control",
                       expires_at=timezone.localdate() + timedelta(days=days), **kw)  # fmt: skip


def test_finding_scope_covers_only_that_finding(world, owner):
    accept(world, owner, scope="finding")
    assert accepted_keys(world) == {"api1"}


def test_repository_scope_covers_the_vulnerability_in_that_repository(world, owner):
    repo = world["api1"].image.tags.get().repository
    accept(world, owner, scope="repository", repository=repo)
    assert accepted_keys(world) == {"api1", "api2"}


def test_registry_scope_covers_the_whole_integration_only(world, owner):
    accept(world, owner, scope="registry")
    assert accepted_keys(world) == {"api1", "api2", "web"}


def test_expired_and_revoked_acceptances_come_back(world, owner):
    acceptance = accept(world, owner, scope="registry", days=2)
    assert accepted_keys(world, timezone.now() + timedelta(days=1)) == {"api1", "api2", "web"}
    assert accepted_keys(world, timezone.now() + timedelta(days=4)) == set()
    acceptance.revoked_at = timezone.now()
    acceptance.save()
    assert accepted_keys(world) == set()


def test_owner_accepts_through_the_page(owner_client, owner, world):
    day = (timezone.localdate() + timedelta(days=10)).isoformat()
    data = {
        "scope": "finding",
        "justification": "behind the WAF, not exposed",
        "owner": owner.pk,
        "expires_at": day,
    }
    response = owner_client.post(f"/findings/{world['api1'].pk}/accept/", data)
    assert response.status_code == 302
    acceptance = RiskAcceptance.objects.get()
    assert acceptance.finding == world["api1"] and acceptance.created_by == owner
    assert timezone.localtime(acceptance.expires_at).date().isoformat() == day


def test_acceptance_needs_a_future_expiry_and_a_repository_for_repo_scope(
    owner_client, owner, world
):
    past = (timezone.localdate() - timedelta(days=1)).isoformat()
    base = {"justification": "behind the WAF, not exposed", "owner": owner.pk}
    owner_client.post(
        f"/findings/{world['api1'].pk}/accept/", {**base, "scope": "finding", "expires_at": past}
    )
    future = (timezone.localdate() + timedelta(days=5)).isoformat()
    owner_client.post(
        f"/findings/{world['api1'].pk}/accept/",
        {**base, "scope": "repository", "expires_at": future},
    )
    assert not RiskAcceptance.objects.exists()


def test_accept_permissions(teammate_client, outsider_client, owner_client, world, teammate):
    data = {"scope": "finding", "justification": "behind the WAF, not exposed", "owner": teammate.pk,
            "expires_at": (timezone.localdate() + timedelta(days=5)).isoformat()}  # fmt: skip
    assert teammate_client.post(f"/findings/{world['api1'].pk}/accept/", data).status_code == 403
    assert outsider_client.post(f"/findings/{world['api1'].pk}/accept/", data).status_code == 404
    assert owner_client.get(f"/findings/{world['api1'].pk}/accept/").status_code == 405
    assert not RiskAcceptance.objects.exists()


def test_revoke(owner_client, teammate_client, outsider_client, owner, world):
    acceptance = accept(world, owner, scope="finding")
    assert outsider_client.post(f"/acceptances/{acceptance.pk}/revoke/").status_code == 404
    assert teammate_client.post(f"/acceptances/{acceptance.pk}/revoke/").status_code == 403
    assert owner_client.get(f"/acceptances/{acceptance.pk}/revoke/").status_code == 405
    assert owner_client.post(f"/acceptances/{acceptance.pk}/revoke/").status_code == 302
    acceptance.refresh_from_db()
    assert acceptance.revoked_at is not None and accepted_keys(world) == set()


def test_acceptance_list_is_scoped(owner_client, outsider_client, owner, world):
    accept(world, owner, scope="registry")
    assert "CVE-2024-1111" in owner_client.get("/acceptances/").content.decode()
    assert "CVE-2024-1111" not in outsider_client.get("/acceptances/").content.decode()


def test_openvex_export(owner_client, outsider_client, owner, world):
    repo = world["api1"].image.tags.get().repository
    accept(world, owner, scope="repository", repository=repo)
    doc = json.loads(owner_client.get("/acceptances/openvex.json").content)
    assert doc["@context"] == "https://openvex.dev/ns/v0.2.0" and doc["version"] == 1
    (statement,) = doc["statements"]
    assert statement["vulnerability"]["name"] == "CVE-2024-1111"
    assert (
        statement["status"] == "affected"
        and "compensating control" in statement["action_statement"]
    )
    products = sorted(p["@id"] for p in statement["products"])
    assert products == sorted(
        f"pkg:oci/api@{f.image.digest.replace(':', '%3A')}?repository_url=registry.example.com/shop/api"
        for f in (world["api1"], world["api2"])
    )
    assert json.loads(outsider_client.get("/acceptances/openvex.json").content)["statements"] == []


def test_acceptance_list_queries_do_not_grow(
    owner_client, owner, world, django_assert_max_num_queries
):
    accept(world, owner, scope="finding")
    with django_assert_max_num_queries(20) as few:
        owner_client.get("/acceptances/")
    for _ in range(30):
        accept(world, owner, scope="registry")
        accept(world, owner, key="api2", scope="finding")
    with django_assert_max_num_queries(len(few.captured_queries)):
        owner_client.get("/acceptances/")


def test_expiry_day_ends_in_the_users_time_zone(owner_client, owner, org, world):
    import zoneinfo

    org.time_zone = "Pacific/Auckland"
    org.save()
    day = timezone.localdate() + timedelta(days=10)
    data = {
        "scope": "finding",
        "justification": "behind the WAF, not exposed",
        "owner": owner.pk,
        "expires_at": day.isoformat(),
    }
    owner_client.post(f"/findings/{world['api1'].pk}/accept/", data)
    local = RiskAcceptance.objects.get().expires_at.astimezone(
        zoneinfo.ZoneInfo("Pacific/Auckland")
    )
    assert (local.date(), local.hour, local.minute) == (day, 23, 59)


def test_openvex_leaves_out_acceptances_with_nothing_open(owner_client, owner, world):
    accept(world, owner, scope="finding")
    Finding.objects.filter(pk=world["api1"].pk).update(status="resolved")
    assert json.loads(owner_client.get("/acceptances/openvex.json").content)["statements"] == []
