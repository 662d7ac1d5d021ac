from __future__ import annotations

import pytest
from django.http import Http404
from django.test import RequestFactory

from accounts.models import Organization
from accounts.scoping import for_org, get_for_org_or_404, is_org_admin, user_organizations
from integrations.models import Registry


def _registry(org, name="reg"):
    return Registry.objects.create(organization=org, name=name, provider="oci", url="r.example")


def test_for_org_returns_only_that_orgs_rows(org, other_org):
    mine, theirs = _registry(org), _registry(other_org)
    assert list(for_org(Registry, org)) == [mine]
    assert theirs not in for_org(Registry.objects.all(), org)


def test_for_org_without_org_is_empty(org):
    _registry(org)
    assert list(for_org(Registry, None)) == []


def test_models_without_org_lookup_cannot_be_scoped(org):
    with pytest.raises(TypeError, match="org_lookup"):
        for_org(Organization, org)


def test_outsider_gets_404_on_another_orgs_object(org, other_org):
    theirs = _registry(other_org)
    request = RequestFactory().get("/")
    request.organization = org
    with pytest.raises(Http404):
        get_for_org_or_404(Registry, request, pk=theirs.pk)
    request.organization = other_org
    assert get_for_org_or_404(Registry, request, pk=theirs.pk) == theirs


def test_roles(owner, teammate, outsider, org, other_org):
    assert is_org_admin(owner, org)
    assert not is_org_admin(teammate, org)
    assert not is_org_admin(outsider, org)
    assert list(user_organizations(outsider)) == [other_org]


def test_a_user_in_two_orgs_switches_the_current_one(owner, org, other_org, owner_client):
    from accounts.services import add_to_org

    add_to_org(owner, other_org)
    response = owner_client.get("/integrations/")
    assert response.context["current_org"] == org
    response = owner_client.post(
        "/accounts/switch-organization/", {"organization": other_org.pk, "next": "/integrations/"}
    )
    assert response.status_code == 302 and response["Location"] == "/integrations/"
    response = owner_client.get("/integrations/")
    assert response.context["current_org"] == other_org
    assert not response.context["is_org_admin"]  # a member only, there


def test_switching_to_an_org_you_are_not_in_is_refused(owner_client, other_org, org):
    owner_client.post("/accounts/switch-organization/", {"organization": other_org.pk})
    response = owner_client.get("/integrations/")
    assert response.context["current_org"] == org


def test_switching_requires_post(owner_client):
    assert owner_client.get("/accounts/switch-organization/").status_code == 405
