"""Scan Now (row and bulk) and Delete on My Integrations: admins only, org-scoped."""

from __future__ import annotations

import pytest

from integrations.models import Registry
from scans.models import ScanRun

from .factories import add_registry

pytestmark = pytest.mark.django_db

# Nothing listens on the discard port: a scan fails fast without leaving loopback.
CLOSED = "http://127.0.0.1:9"


@pytest.fixture
def reg(org):
    return add_registry(org, name="lab", url=CLOSED)


def test_owner_scans_one_registry(owner_client, reg):
    response = owner_client.post(f"/integrations/{reg.pk}/scan/", follow=True)
    assert response.redirect_chain[-1][0] == "/integrations/"
    run = ScanRun.objects.get(registry=reg)
    assert run.trigger == "manual"
    assert "Scan of lab started." in response.content.decode()


def test_scan_rejects_get(owner_client, reg):
    assert owner_client.get(f"/integrations/{reg.pk}/scan/").status_code == 405


def test_member_cannot_scan(teammate_client, reg):
    assert teammate_client.post(f"/integrations/{reg.pk}/scan/").status_code == 403
    assert not ScanRun.objects.exists()


def test_outsider_gets_404(outsider_client, reg):
    assert outsider_client.post(f"/integrations/{reg.pk}/scan/").status_code == 404
    assert outsider_client.get(f"/integrations/{reg.pk}/delete/").status_code == 404
    assert outsider_client.get(f"/integrations/{reg.pk}/edit/").status_code == 404


def test_bulk_scan_scans_each_selected_registry_of_the_org(owner_client, org, other_org, reg):
    second = add_registry(org, name="lab-2", url=CLOSED)
    foreign = add_registry(other_org, name="theirs", url=CLOSED)
    owner_client.post("/integrations/scan/", {"registry": [reg.pk, second.pk, foreign.pk]})
    assert set(ScanRun.objects.values_list("registry__name", flat=True)) == {"lab", "lab-2"}


def test_bulk_scan_without_selection_says_so(owner_client, reg):
    response = owner_client.post("/integrations/scan/", follow=True)
    assert "Select one or more integrations" in response.content.decode()


def test_bulk_scan_rules(client, teammate_client, owner_client, reg):
    assert owner_client.get("/integrations/scan/").status_code == 405
    assert teammate_client.post("/integrations/scan/", {"registry": [reg.pk]}).status_code == 403


def test_scan_of_a_busy_registry_is_refused_with_a_message(owner_client, reg):
    ScanRun.objects.create(registry=reg, trigger="manual", status="running")
    response = owner_client.post(f"/integrations/{reg.pk}/scan/", follow=True)
    assert ScanRun.objects.filter(registry=reg).count() == 1
    assert 'class="message warning"' in response.content.decode()


def test_owner_deletes_after_confirming(owner_client, reg):
    assert (
        "Delete the integration lab?"
        in owner_client.get(f"/integrations/{reg.pk}/delete/").content.decode()
    )
    response = owner_client.post(f"/integrations/{reg.pk}/delete/")
    assert response.status_code == 302
    assert not Registry.objects.filter(pk=reg.pk).exists()


def test_member_cannot_delete(teammate_client, reg):
    assert teammate_client.post(f"/integrations/{reg.pk}/delete/").status_code == 403
    assert Registry.objects.filter(pk=reg.pk).exists()


def test_delete_rejects_put(owner_client, reg):
    assert owner_client.put(f"/integrations/{reg.pk}/delete/").status_code == 405


def test_refusals_and_missing_pages_are_explained(teammate_client, owner_client, reg):
    refused = teammate_client.post(f"/integrations/{reg.pk}/scan/")
    assert (
        refused.status_code == 403
        and "Only the organization&#x27;s admins can start scans." in refused.content.decode()
    )
    missing = owner_client.get("/integrations/999999/delete/")
    assert missing.status_code == 404 and "nothing at this address" in missing.content.decode()
