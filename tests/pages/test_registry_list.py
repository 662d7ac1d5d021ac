from __future__ import annotations

import pytest

from .factories import add_registry

pytestmark = pytest.mark.django_db


def test_it_lists_the_org_registries(owner_client, org, other_org):
    add_registry(org, name="prod-ecr", provider="ecr", schedule="every 6h")
    add_registry(other_org, name="their-registry")
    response = owner_client.get("/integrations/")
    assert response.status_code == 200
    body = response.content.decode()
    assert "prod-ecr" in body
    assert "Every 6 hours" in body
    assert "their-registry" not in body
