from __future__ import annotations

import pytest

from .factories import add_registry, make_finding, make_image, make_run

pytestmark = pytest.mark.django_db


def test_every_page_renders(owner_client, org):
    reg = add_registry(org, name="prod")
    make_run(reg)
    image = make_image(reg)
    finding = make_finding(image)
    for url in [
        "/",
        "/integrations/",
        "/findings/",
        f"/findings/{finding.pk}/",
        "/vulnerabilities/CVE-2024-0001/",
        "/acceptances/",
        "/images/",
        f"/images/{image.pk}/",
        "/integrations/add/oci/",
        f"/integrations/{reg.pk}/edit/",
    ]:
        response = owner_client.get(url)
        assert response.status_code == 200, (url, response.content[:3000])


def test_a_user_without_organization_sees_empty_pages(client, db):
    from tests.conftest import make_user

    client.force_login(make_user("nobody"))
    for url in [
        "/",
        "/integrations/",
        "/findings/",
        "/images/",
        "/acceptances/",
        "/findings/export.json",
    ]:
        assert client.get(url).status_code == 200, url
    assert client.post("/integrations/scan/").status_code == 403
