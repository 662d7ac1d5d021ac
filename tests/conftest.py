"""The fixed cast (STYLE.md section 9): ``owner`` (admins of ``org``), ``teammate`` (members of
``org``) and ``outsider`` (admins of ``other_org``), each with a logged-in client."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from accounts.models import Organization, OrgRole
from accounts.services import add_to_org, get_or_create_org

# Fixture modules, one per area; each area adds its fixtures to its own module.
pytest_plugins = ["tests.support.registry", "tests.support.layers", "tests.support.browser"]

# Where tests leave screenshots and logs worth looking at.
OUTPUT_DIR = Path(
    os.environ.get("REGSCAN_TEST_OUTPUT", Path(__file__).parent.parent / "test-output")
)


@pytest.fixture
def org(db) -> Organization:
    return get_or_create_org("acme")


@pytest.fixture
def other_org(db) -> Organization:
    return get_or_create_org("globex")


def make_user(username: str, org: Organization | None = None, role: str = OrgRole.MEMBERS):
    user = get_user_model().objects.create_user(username=username, password="pw-" + username)
    if org is not None:
        add_to_org(user, org, role)
    return user


@pytest.fixture
def owner(org):
    return make_user("alice", org, OrgRole.ADMINS)


@pytest.fixture
def teammate(org):
    return make_user("bob", org, OrgRole.MEMBERS)


@pytest.fixture
def outsider(other_org):
    return make_user("charlie", other_org, OrgRole.ADMINS)


def _client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def owner_client(owner) -> Client:
    return _client_for(owner)


@pytest.fixture
def teammate_client(teammate) -> Client:
    return _client_for(teammate)


@pytest.fixture
def outsider_client(outsider) -> Client:
    return _client_for(outsider)


@pytest.fixture
def output_dir(request) -> Path:
    path = OUTPUT_DIR / request.node.name
    path.mkdir(parents=True, exist_ok=True)
    return path
