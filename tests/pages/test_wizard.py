"""The integration wizard: steps, write-only credentials, test connection, create and edit."""

from __future__ import annotations

import pytest
from django_q.models import Schedule

from integrations.models import Registry
from integrations.services import create_registry
from scans.models import ScanRun

from .factories import add_registry

pytestmark = pytest.mark.django_db

CLOSED = "http://127.0.0.1:9"
ADD = "/integrations/add/oci/"
CONFIG = {"schedule_kind": "every", "every_hours": "6", "max_tags": "10", "action": "save"}


def walk_to_configuration(client, name="lab", url=CLOSED, secret="s3cret-token"):
    assert client.post(ADD + "details/", {"name": name, "url": url}).status_code == 302
    creds = {"username": "robot", "secret": secret}
    assert client.post(ADD + "credentials/", creds).status_code == 302


def test_each_step_shows_the_provider_prerequisites(owner_client):
    for step in ("details", "credentials", "test", "configuration"):
        body = owner_client.get(ADD + step + "/").content.decode()
        assert "Before you start" in body and "OCI Distribution API" in body, step


def test_unknown_provider_or_step_is_404(owner_client):
    assert owner_client.get("/integrations/add/nexus/").status_code == 404
    assert owner_client.get(ADD + "payment/").status_code == 404


def test_members_cannot_use_the_wizard(teammate_client, org):
    reg = add_registry(org, name="r")
    assert teammate_client.get(ADD).status_code == 403
    assert teammate_client.post(ADD + "details/", {"name": "x", "url": CLOSED}).status_code == 403
    assert teammate_client.post(f"/integrations/{reg.pk}/edit/", CONFIG).status_code == 403


def test_outsider_cannot_edit(outsider_client, org):
    reg = add_registry(org, name="r")
    assert outsider_client.get(f"/integrations/{reg.pk}/edit/").status_code == 404


def test_wizard_rejects_delete(owner_client):
    assert owner_client.delete(ADD).status_code == 405


def test_details_are_validated(owner_client, org):
    add_registry(org, name="taken")
    body = owner_client.post(ADD + "details/", {"name": "taken", "url": ""}).content.decode()
    assert "already exists" in body and "This field is required" in body


def test_secret_is_write_only(owner_client):
    walk_to_configuration(owner_client, secret="s3cret-token")
    body = owner_client.get(ADD + "credentials/").content.decode()
    assert "s3cret-token" not in body
    assert "leave the field blank to keep it" in body
    assert "s3cret-token" not in str(dict(owner_client.session))


def test_test_connection_shows_the_providers_message(owner_client):
    walk_to_configuration(owner_client)
    body = owner_client.post(ADD + "test/").content.decode()
    assert "Connection failed" in body and "127.0.0.1:9" in body


def test_create_saves_schedules_and_starts_the_first_scan(owner_client, org):
    walk_to_configuration(owner_client, secret="s3cret-token")
    response = owner_client.post(ADD + "configuration/", CONFIG)
    assert response.status_code == 302 and response.url == "/integrations/"
    reg = Registry.objects.get(organization=org, name="lab")
    assert reg.secret().reveal() == "s3cret-token" and reg.username == "robot"
    assert reg.schedule == "every 6h"
    assert Schedule.objects.filter(name=f"scan-registry-{reg.pk}").exists()
    assert ScanRun.objects.get(registry=reg).trigger == "initial"


def test_invalid_configuration_is_shown_not_saved(owner_client, org):
    walk_to_configuration(owner_client)
    body = owner_client.post(
        ADD + "configuration/", {**CONFIG, "schedule_kind": "cron", "cron": "61 * * *"}
    ).content.decode()
    assert "not a valid 5-field cron expression" in body
    assert not Registry.objects.filter(organization=org).exists()


def test_edit_opens_configuration_with_current_values(owner_client, org):
    reg = create_registry(
        org,
        None,
        initial_scan=False,
        name="r",
        provider="oci",
        url=CLOSED,
        schedule="weekly tue 04:15",
    )
    body = owner_client.get(f"/integrations/{reg.pk}/edit/").content.decode()
    assert 'aria-current="step"' in body and "Configuration" in body and ">Update<" in body
    assert (
        'value="weekly" selected' in body
        and 'value="tue" selected' in body
        and 'value="04:15"' in body
    )


def test_update_saves_reschedules_and_keeps_a_blank_secret(owner_client, org):
    reg = create_registry(
        org,
        None,
        initial_scan=False,
        name="r",
        provider="oci",
        url=CLOSED,
        secret="keep-me",
        schedule="daily 02:00",
    )
    before = Schedule.objects.get(name=f"scan-registry-{reg.pk}")
    edit = f"/integrations/{reg.pk}/edit/"
    assert (
        owner_client.post(edit + "credentials/", {"username": "other", "secret": ""}).status_code
        == 302
    )
    response = owner_client.post(edit + "configuration/", {**CONFIG, "schedule_kind": "off"})
    assert response.status_code == 302
    reg.refresh_from_db()
    assert reg.schedule == "off" and reg.username == "other"
    assert reg.secret().reveal() == "keep-me"
    assert not Schedule.objects.filter(pk=before.pk).exists()
    assert not ScanRun.objects.filter(registry=reg).exists()  # Update does not scan


@pytest.mark.parametrize("kind", ["ecr", "acr", "dockerhub", "artifactory", "oci"])
def test_every_provider_has_its_fields_and_prerequisites(owner_client, kind):
    from integrations.providers import get_provider_class

    cls = get_provider_class(kind)
    pages = "".join(
        owner_client.get(f"/integrations/add/{kind}/{step}/").content.decode()
        for step in ("details", "credentials")
    )
    for spec in cls.credential_fields:
        assert f'name="{spec.name}"' in pages, spec.name
    for spec in cls.credential_fields:
        if spec.secret:
            assert f'type="password" name="{spec.name}"' in pages
    assert cls.prerequisites[:40] in pages.replace("&#x27;", "'")
