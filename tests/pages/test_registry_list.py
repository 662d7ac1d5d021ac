"""The My Integrations table: columns, scoping, read-only members, sorting, paging, queries."""

from __future__ import annotations

import re

import pytest
from django_q.models import Schedule

from scans.schedules import sync_schedule

from .factories import add_registry, make_finding, make_image, make_run

pytestmark = pytest.mark.django_db

ORDERABLE = [
    "name",
    "provider",
    "access",
    "status",
    "last_scan",
    "repositories",
    "images",
    "findings",
    "interval",
]


def names_in(body: str) -> list[str]:
    return re.findall(r'data-name="([^"]+)"', body)


def test_it_lists_the_org_registries_with_their_facts(owner_client, org, other_org):
    reg = add_registry(org, name="prod-ecr", provider="ecr", schedule="every 6h")
    make_run(reg, status="failed", error="Access denied: allow ecr:DescribeImages")
    add_registry(other_org, name="their-registry")
    body = owner_client.get("/integrations/").content.decode()
    assert names_in(body) == ["prod-ecr"]
    assert "Every 6 hours" in body and "Amazon ECR" in body and "Private" in body
    assert 'data-status="failed"' in body and "allow ecr:DescribeImages" in body


def test_running_scan_shows_progress(owner_client, org):
    reg = add_registry(org, name="busy")
    make_run(reg, status="running", finished_at=None, selected=120, scanned=30, reused=5, failed=2)
    body = owner_client.get("/integrations/").content.decode()
    assert "37/120 images" in body and "data-running" in body


def test_open_findings_are_counted_per_severity(owner_client, org):
    reg = add_registry(org, name="r")
    image = make_image(reg)
    make_finding(image, severity="critical")
    make_finding(image, severity="high")
    make_finding(image, severity="high", status="resolved")
    body = owner_client.get("/integrations/").content.decode()
    assert 'title="1 critical"' in body and 'title="1 high"' in body


def test_interval_cell_has_the_tooltip_with_next_scan(owner_client, org):
    reg = add_registry(org, name="r", schedule="daily 02:00")
    sync_schedule(reg)
    nxt = Schedule.objects.get(name=f"scan-registry-{reg.pk}").next_run
    body = owner_client.get("/integrations/").content.decode()
    assert 'role="tooltip"' in body and "Scan Schedule" in body and "Next scan" in body
    assert f'<time datetime="{nxt.strftime("%Y-%m-%dT%H:%M:%S")}' in body


def test_members_see_it_read_only(teammate_client, org):
    add_registry(org, name="r")
    body = teammate_client.get("/integrations/").content.decode()
    assert "r" in names_in(body)
    assert "row-select" not in body and "rowmenu" not in body and "data-provider" not in body


def test_outsider_sees_none_of_it(outsider_client, org):
    add_registry(org, name="secret-registry")
    assert "secret-registry" not in outsider_client.get("/integrations/").content.decode()


def test_empty_state_leads_to_adding_a_registry(owner_client):
    body = owner_client.get("/integrations/").content.decode()
    assert "No registries connected yet" in body and "/integrations/add/" in body


def test_list_rejects_post(owner_client):
    assert owner_client.post("/integrations/").status_code == 405


@pytest.mark.parametrize("column", ORDERABLE)
def test_it_sorts_by_every_orderable_column(owner_client, org, column):
    for i, name in enumerate(["b", "a", "c"]):
        reg = add_registry(org, name=name, schedule=f"every {i + 1}h")
        make_run(reg, status=["failed", "succeeded", "running"][i])
    for sort in (column, f"-{column}"):
        response = owner_client.get(f"/integrations/?sort={sort}")
        assert response.status_code == 200
        assert sorted(names_in(response.content.decode())) == ["a", "b", "c"]
    assert names_in(owner_client.get("/integrations/?sort=name").content.decode()) == [
        "a",
        "b",
        "c",
    ]
    assert names_in(owner_client.get("/integrations/?sort=-name").content.decode()) == [
        "c",
        "b",
        "a",
    ]


def test_it_paginates_by_50(owner_client, org):
    for i in range(51):
        add_registry(org, name=f"r{i:02d}", url="https://x.example")
    assert len(names_in(owner_client.get("/integrations/").content.decode())) == 50
    assert names_in(owner_client.get("/integrations/?page=2").content.decode()) == ["r50"]


def _seed(org, start, stop):
    for i in range(start, stop):
        reg = add_registry(org, name=f"q{i:02d}", schedule="every 6h")
        sync_schedule(reg)
        make_run(reg)
        make_finding(make_image(reg, n=i))


def test_queries_do_not_grow_with_rows(owner_client, org, django_assert_max_num_queries):
    _seed(org, 0, 3)
    with django_assert_max_num_queries(20) as few:
        owner_client.get("/integrations/")
    _seed(org, 3, 30)
    with django_assert_max_num_queries(len(few.captured_queries)):
        body = owner_client.get("/integrations/").content.decode()
    assert len(names_in(body)) == 30


def test_row_checkboxes_are_labelled(owner_client, org):
    add_registry(org, name="prod")
    assert 'aria-label="Select prod"' in owner_client.get("/integrations/").content.decode()


def test_last_scan_says_how_long_ago(owner_client, org):
    from datetime import timedelta

    from django.utils import timezone

    make_run(
        add_registry(org, name="r"), finished_at=timezone.now() - timedelta(minutes=5, seconds=10)
    )
    assert "5 minutes ago" in owner_client.get("/integrations/").content.decode()


def test_sorting_by_open_findings_puts_critical_first(owner_client, org):
    critical, many_high = add_registry(org, name="crit"), add_registry(org, name="high")
    make_finding(make_image(critical, n=1), severity="critical")
    image = make_image(many_high, n=2)
    for i in range(5):
        make_finding(image, severity="high", package_key=f"k{i}")
    add_registry(org, name="clean")
    # The first click on the header (sort=findings) shows the worst first.
    assert names_in(owner_client.get("/integrations/?sort=findings").content.decode()) == [
        "crit",
        "high",
        "clean",
    ]
    assert names_in(owner_client.get("/integrations/?sort=-findings").content.decode()) == [
        "clean",
        "high",
        "crit",
    ]
