"""All three kinds of registry side by side on My Integrations: how each non-private one was
found and when it was last seen, a filter by Registry Access, and Docker Hub's pull quota."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from .factories import add_registry

pytestmark = pytest.mark.django_db


def names_in(body: str) -> list[str]:
    return re.findall(r'data-name="([^"]+)"', body)


@pytest.fixture
def three_kinds(org, other_org):
    seen = timezone.now() - timedelta(hours=3)
    add_registry(org, name="prod", access="private")
    add_registry(
        org,
        name="docker.io",
        access="public_manual",
        discovered_via="scanimage",
        last_seen_at=seen,
        schedule="off",
    )
    add_registry(
        org,
        name="ghcr.io",
        access="system_managed",
        discovered_via="k8sdiscover (cluster prod)",
        last_seen_at=seen,
        schedule="off",
    )
    add_registry(other_org, name="quay.io", access="system_managed", discovered_via="k8sdiscover")


def test_all_three_kinds_show_side_by_side_with_how_they_were_found(owner_client, three_kinds):
    body = owner_client.get("/integrations/").content.decode()
    assert names_in(body) == ["docker.io", "ghcr.io", "prod"]
    assert "Private" in body and "Public/Manual" in body and "System-managed" in body
    assert "via scanimage" in body and "via k8sdiscover (cluster prod)" in body
    assert re.search(r"seen <time datetime=\"[^\"]+\"[^>]*>3\xa0hours ago</time>", body)


@pytest.mark.parametrize(
    ("access", "expected"),
    [
        ("private", ["prod"]),
        ("public_manual", ["docker.io"]),
        ("system_managed", ["ghcr.io"]),
        ("", ["docker.io", "ghcr.io", "prod"]),
        ("bogus", ["docker.io", "ghcr.io", "prod"]),
    ],
)
def test_the_access_filter(owner_client, three_kinds, access, expected):
    body = owner_client.get("/integrations/", {"access": access}).content.decode()
    assert names_in(body) == expected
    # The tabs count the organization's registries of each kind (never another org's).
    assert re.search(r'data-access-tab="all">All <span class="count">3</span>', body)
    assert re.search(
        r'data-access-tab="system_managed">System-managed <span class="count">1</span>', body
    )


def test_members_see_the_same_filter(teammate_client, three_kinds):
    body = teammate_client.get("/integrations/", {"access": "system_managed"}).content.decode()
    assert names_in(body) == ["ghcr.io"]


def test_docker_hub_pull_quota_is_shown(owner_client, org):
    add_registry(
        org,
        name="hub",
        provider="dockerhub",
        provider_state={"pull_ratelimit_remaining": 87, "pull_ratelimit_limit": 100},
    )
    body = owner_client.get("/integrations/").content.decode()
    assert "87 of 100 pulls left" in body
