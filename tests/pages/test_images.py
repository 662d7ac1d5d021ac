"""Images: the tag list (sorting, scoping, queries), image detail and the CycloneDX download."""

from __future__ import annotations

import json
import re

import pytest

from scans.models import Package, Sbom

from .factories import add_registry, make_finding, make_image

pytestmark = pytest.mark.django_db

ORDERABLE = ["registry", "repository", "name", "pushed_at", "last_scanned", "findings"]
BASE, APP = "sha256:" + "1" * 64, "sha256:" + "2" * 64


def tags_in(body: str) -> list[str]:
    return re.findall(r'<a href="/images/\d+/"><code>([^<]+)</code>', body)


@pytest.fixture
def image(org):
    reg = add_registry(org, name="prod")
    sbom = Sbom.objects.create(
        digest="sha256:" + "a" * 64,
        os_id="debian",
        os_version="12",
        os_name="Debian GNU/Linux 12 (bookworm)",
        layer_digests=[BASE, APP],
    )
    img = make_image(reg, repo="shop/api", tag="1.0", n=7, sbom=sbom)
    Package.objects.create(
        sbom=sbom,
        name="libssl3",
        version="3.0.9-1",
        ecosystem="deb",
        purl="pkg:deb/debian/libssl3@3.0.9-1",
        source_name="openssl",
        source_version="3.0.9-1",
        layer_digest=BASE,
    )
    Package.objects.create(
        sbom=sbom,
        name="flask",
        version="2.0.0",
        ecosystem="pypi",
        purl="pkg:pypi/flask@2.0.0",
        layer_digest=APP,
    )
    make_finding(img)
    return img


def test_image_list_shows_tags_with_platform_and_counts(owner_client, outsider_client, image):
    body = owner_client.get("/images/").content.decode()
    assert tags_in(body) == ["1.0"] and "linux/amd64" in body and "shop/api" in body
    assert 'title="1 high"' in body
    assert tags_in(outsider_client.get("/images/").content.decode()) == []


def test_image_list_filters(owner_client, org, image):
    make_image(image.registry, repo="shop/web", tag="9.9", n=8)
    assert tags_in(owner_client.get("/images/?q=web").content.decode()) == ["9.9"]
    assert owner_client.post("/images/").status_code == 405


@pytest.mark.parametrize("column", ORDERABLE)
def test_it_sorts_by_every_orderable_column(owner_client, image, column):
    make_image(image.registry, repo="shop/web", tag="9.9", n=8)
    for sort in (column, f"-{column}"):
        response = owner_client.get(f"/images/?sort={sort}")
        assert response.status_code == 200 and sorted(tags_in(response.content.decode())) == [
            "1.0",
            "9.9",
        ]


def test_image_list_queries_do_not_grow(owner_client, org, django_assert_max_num_queries):
    reg = add_registry(org, name="prod")
    for i in range(3):
        make_finding(make_image(reg, repo=f"r{i}", n=i))
    with django_assert_max_num_queries(20) as few:
        owner_client.get("/images/")
    for i in range(3, 30):
        make_finding(make_image(reg, repo=f"r{i}", n=i))
    with django_assert_max_num_queries(len(few.captured_queries)):
        assert len(tags_in(owner_client.get("/images/").content.decode())) == 30


def test_image_detail_lists_packages_with_their_layer_and_findings(owner_client, image):
    body = owner_client.get(f"/images/{image.pk}/").content.decode()
    assert "libssl3" in body and "flask" in body
    assert (
        "#1 <code>sha256:111111111111</code>" in body
        and "#2 <code>sha256:222222222222</code>" in body
    )
    assert "CVE-2024-0001" in body and "Download SBOM (CycloneDX)" in body


def test_image_detail_scoping(outsider_client, owner_client, image):
    assert outsider_client.get(f"/images/{image.pk}/").status_code == 404
    assert outsider_client.get(f"/images/{image.pk}/sbom.cdx.json").status_code == 404
    assert owner_client.post(f"/images/{image.pk}/").status_code == 405


def test_cyclonedx_download(owner_client, image):
    response = owner_client.get(f"/images/{image.pk}/sbom.cdx.json")
    assert response.status_code == 200 and "attachment" in response["Content-Disposition"]
    bom = json.loads(response.content)
    assert bom["bomFormat"] == "CycloneDX"
    assert {c["purl"] for c in bom["components"]} == {
        "pkg:deb/debian/libssl3@3.0.9-1",
        "pkg:pypi/flask@2.0.0",
    }


def test_no_sbom_no_download(owner_client, org):
    img = make_image(add_registry(org, name="r"), n=9)
    assert owner_client.get(f"/images/{img.pk}/sbom.cdx.json").status_code == 404


def test_image_detail_queries_do_not_grow(owner_client, image, django_assert_max_num_queries):
    with django_assert_max_num_queries(30) as few:
        owner_client.get(f"/images/{image.pk}/")
    for i in range(30):
        Package.objects.create(
            sbom=image.sbom,
            name=f"pkg{i}",
            version="1",
            ecosystem="pypi",
            purl=f"pkg:pypi/pkg{i}@1",
            layer_digest=APP,
        )
        make_finding(image, package_key=f"k{i}")
    with django_assert_max_num_queries(len(few.captured_queries)):
        assert "pkg29" in owner_client.get(f"/images/{image.pk}/").content.decode()


def test_push_dates_say_where_they_came_from(owner_client, image):
    image.tags.update(pushed_at_source="config")
    assert "(image created)" in owner_client.get("/images/").content.decode()
    image.tags.update(pushed_at_source="registry")
    assert "(image created)" not in owner_client.get("/images/").content.decode()
