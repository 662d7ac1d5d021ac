"""Findings: priority order, filters, acceptance hidden and counted, CSV/JSON export, detail."""

from __future__ import annotations

import csv
import io
import json
import re

import pytest

from .factories import add_registry, make_finding, make_image, make_vulnerability

pytestmark = pytest.mark.django_db

ORDERABLE = [
    "priority",
    "severity",
    "vulnerability",
    "package",
    "fixed_version",
    "kev",
    "epss",
    "images_affected",
    "image",
    "first_seen",
    "status",
]


def ids_in(body: str) -> list[int]:
    return [int(i) for i in re.findall(r'data-finding="(\d+)"', body)]


@pytest.fixture
def cast(org, other_org):
    reg = add_registry(org, name="prod")
    api = make_image(reg, repo="shop/api", tag="1.0", n=1)
    web = make_image(reg, repo="shop/web", tag="2.0", n=2)
    crit = make_vulnerability("CVE-2024-1111", severity="critical", cvss_score=9.8)
    low = make_vulnerability("CVE-2024-2222", severity="low", cvss_score=3.1)
    theirs = make_image(add_registry(other_org, name="theirs"), n=3)
    return {
        "reg": reg,
        "top": make_finding(api, crit, priority=90, kev=True, epss=0.42),
        "nofix": make_finding(web, low, priority=10, fixed_version="", package_name="zlib"),
        "resolved": make_finding(web, crit, priority=80, status="resolved"),
        "foreign": make_finding(theirs, crit, priority=99),
    }


def test_open_findings_in_priority_order_with_components(owner_client, cast):
    body = owner_client.get("/findings/").content.decode()
    assert ids_in(body) == [cast["top"].pk, cast["nofix"].pk]
    assert "KEV" in body and "42.0%" in body and "3.0.11-1~deb12u2" in body and "no fix" in body
    assert "Vulnerability data as of" in body


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("severity=critical", ["top"]),
        ("severity=critical&severity=low", ["top", "nofix"]),
        ("fixable=true", ["top"]),
        ("fixable=false", ["nofix"]),
        ("kev=true", ["top"]),
        ("status=resolved", ["resolved"]),
        ("status=all", ["top", "resolved", "nofix"]),
        ("q=zlib", ["nofix"]),
        ("q=CVE-2024-1111", ["top"]),
        ("repository=shop/api", ["top"]),
    ],
)
def test_filters(owner_client, cast, query, expected):
    assert ids_in(owner_client.get(f"/findings/?{query}").content.decode()) == [
        cast[k].pk for k in expected
    ]


def test_registry_filter_offers_only_the_orgs_registries(owner_client, cast):
    body = owner_client.get(f"/findings/?registry={cast['reg'].pk}").content.decode()
    assert "theirs" not in body and ids_in(body) == [cast["top"].pk, cast["nofix"].pk]


def test_accepted_findings_are_hidden_and_counted(owner_client, owner, cast):
    from django.utils import timezone

    from scans.models.triage import accept_risk

    accept_risk(cast["top"], actor=owner, scope="finding", justification="not reachable here", owner=owner,
                expires_at=timezone.localdate() + timezone.timedelta(days=3))  # fmt: skip
    body = owner_client.get("/findings/").content.decode()
    assert ids_in(body) == [cast["nofix"].pk]
    assert "1 open finding risk-accepted" in body
    assert ids_in(owner_client.get("/findings/?accepted=accepted").content.decode()) == [
        cast["top"].pk
    ]
    assert len(ids_in(owner_client.get("/findings/?accepted=all").content.decode())) == 2


def test_csv_export_is_the_filtered_set(owner_client, cast):
    response = owner_client.get("/findings/export.csv?severity=critical&status=all")
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert [(r["vulnerability"], r["status"]) for r in rows] == [
        ("CVE-2024-1111", "open"),
        ("CVE-2024-1111", "resolved"),
    ]
    assert rows[0]["image"] == "prod/shop/api:1.0" and rows[0]["kev"] == "True"


def test_json_export_has_the_cli_finding_keys(owner_client, cast):
    data = json.loads(b"".join(owner_client.get("/findings/export.json").streaming_content))
    assert [d["vulnerability"] for d in data] == ["CVE-2024-1111", "CVE-2024-2222"]
    keys = {"image", "digest", "package", "version", "ecosystem", "purl", "vulnerability", "aliases",
            "severity", "cvss_score", "fixed_version", "status", "kev", "epss"}  # fmt: skip
    assert keys <= set(data[0])


def test_outsider_exports_nothing_of_ours(outsider_client, cast):
    data = json.loads(b"".join(outsider_client.get("/findings/export.json").streaming_content))
    assert [d["registry"] for d in data] == ["theirs"]


def test_list_and_export_reject_post(owner_client):
    assert owner_client.post("/findings/").status_code == 405
    assert owner_client.post("/findings/export.csv").status_code == 405


@pytest.mark.parametrize("column", ORDERABLE)
def test_it_sorts_by_every_orderable_column(owner_client, cast, column):
    for sort in (column, f"-{column}"):
        response = owner_client.get(f"/findings/?sort={sort}")
        assert response.status_code == 200
        assert sorted(ids_in(response.content.decode())) == sorted(
            [cast["top"].pk, cast["nofix"].pk]
        )


def test_queries_do_not_grow_with_rows(owner_client, org, django_assert_max_num_queries):
    reg = add_registry(org, name="prod")
    vuln = make_vulnerability()

    def seed(start, stop):
        for i in range(start, stop):
            make_finding(make_image(reg, repo=f"r{i}", n=i), vuln)

    seed(0, 3)
    with django_assert_max_num_queries(30) as few:
        owner_client.get("/findings/")
    seed(3, 30)
    with django_assert_max_num_queries(len(few.captured_queries)):
        assert len(ids_in(owner_client.get("/findings/").content.decode())) == 30


def test_finding_detail_shows_the_upgrade_and_every_affected_image(owner_client, cast):
    body = owner_client.get(f"/findings/{cast['top'].pk}/").content.decode()
    text = " ".join(re.sub(r"<[^>]+>", "", body).split())
    assert "upgrade openssl to 3.0.11-1~deb12u2" in text
    assert "prod/shop/api:1.0" in text and "prod/shop/web:2.0" in text  # open and resolved
    assert "theirs" not in text
    assert "Accept risk" in body


def test_finding_detail_scoping(outsider_client, teammate_client, owner_client, cast):
    assert outsider_client.get(f"/findings/{cast['top'].pk}/").status_code == 404
    member_view = teammate_client.get(f"/findings/{cast['top'].pk}/").content.decode()
    assert "Accept risk" not in member_view and "Only admins" in member_view
    assert owner_client.post(f"/findings/{cast['top'].pk}/").status_code == 405


def test_vulnerability_detail(owner_client, outsider_client, cast):
    body = owner_client.get("/vulnerabilities/CVE-2024-1111/").content.decode()
    assert "prod/shop/api:1.0" in body
    assert outsider_client.get("/vulnerabilities/CVE-2024-2222/").status_code == 404
    assert owner_client.get("/vulnerabilities/CVE-1999-0000/").status_code == 404


def test_detail_queries_do_not_grow_with_affected_images(
    owner_client, org, django_assert_max_num_queries
):
    reg = add_registry(org, name="prod")
    vuln = make_vulnerability()
    first = make_finding(make_image(reg, repo="r0", n=0), vuln)
    for i in range(1, 3):
        make_finding(make_image(reg, repo=f"r{i}", n=i), vuln)
    with django_assert_max_num_queries(40) as few:
        owner_client.get(f"/findings/{first.pk}/")
    for i in range(3, 30):
        make_finding(make_image(reg, repo=f"r{i}", n=i), vuln)
    with django_assert_max_num_queries(len(few.captured_queries)):
        owner_client.get(f"/findings/{first.pk}/")
    with django_assert_max_num_queries(len(few.captured_queries)):
        assert "r29" in owner_client.get("/vulnerabilities/CVE-2024-0001/").content.decode()


def test_csv_cells_never_start_a_formula(owner_client, org):
    image = make_image(add_registry(org, name="prod"), n=1)
    make_finding(image, package_name='=HYPERLINK("http://evil.example","x")')
    rows = list(
        csv.DictReader(
            io.StringIO(
                b"".join(owner_client.get("/findings/export.csv").streaming_content).decode()
            )
        )
    )
    assert rows[0]["package"].startswith("'=HYPERLINK")


def test_reference_links_are_only_http(owner_client, org):
    vuln = make_vulnerability(
        "CVE-2024-7777",
        references=[
            {"type": "WEB", "url": "javascript:alert(1)"},
            {"type": "ADVISORY", "url": "https://example.org/a"},
        ],
    )
    make_finding(make_image(add_registry(org, name="prod"), n=1), vuln)
    body = owner_client.get("/vulnerabilities/CVE-2024-7777/").content.decode()
    assert 'href="javascript:' not in body and 'href="https://example.org/a"' in body
