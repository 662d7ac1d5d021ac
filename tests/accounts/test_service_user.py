from __future__ import annotations

import threading

import pytest
from django.contrib.auth import authenticate
from django.db import close_old_connections, connection

from accounts.models import OrgGroup, OrgRole, Profile
from accounts.services import SERVICE_USER_PREFIX, ensure_service_user


def test_it_creates_a_service_user_in_admins(org):
    user = ensure_service_user(org)
    assert user.username.startswith(SERVICE_USER_PREFIX)
    suffix = user.username.removeprefix(SERVICE_USER_PREFIX)
    assert len(suffix) >= 8 and suffix.isalnum() and suffix == suffix.lower()
    assert (
        OrgGroup.objects.get(organization=org, name=OrgRole.ADMINS)
        .users.filter(pk=user.pk)
        .exists()
    )
    assert Profile.objects.get(user=user).is_service_user


def test_it_is_idempotent(org):
    first = ensure_service_user(org)
    second = ensure_service_user(org)
    assert first.pk == second.pk
    assert Profile.objects.filter(is_service_user=True).count() == 1


def test_each_organization_gets_its_own(org, other_org):
    assert ensure_service_user(org).pk != ensure_service_user(other_org).pk


def test_it_cannot_log_in_with_a_password(org, client):
    user = ensure_service_user(org)
    assert not user.has_usable_password()
    assert authenticate(username=user.username, password="") is None
    assert authenticate(username=user.username, password=user.password) is None
    response = client.post("/login/", {"username": user.username, "password": user.password})
    assert response.status_code == 200  # the form again, with an error
    assert "_auth_user_id" not in client.session


@pytest.mark.django_db(transaction=True)
def test_concurrent_creation_yields_one_user():
    """Eight threads race to create the service user; exactly one exists afterwards.

    On PostgreSQL this exercises SELECT ... FOR UPDATE; on SQLite, IMMEDIATE transactions.
    """
    from accounts.services import get_or_create_org

    org = get_or_create_org("race")
    barrier = threading.Barrier(8)
    results: list[int] = []
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            barrier.wait()
            results.append(ensure_service_user(org).pk)
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)
        finally:
            close_old_connections()
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(set(results)) == 1
    assert Profile.objects.filter(is_service_user=True).count() == 1
