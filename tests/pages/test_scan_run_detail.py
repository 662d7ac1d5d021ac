"""One scan run's page: counts, error and the per-image ledger."""

from __future__ import annotations

import re

import pytest

from scans.models import ImageScan

from .factories import add_registry, make_image, make_run

pytestmark = pytest.mark.django_db

ORDERABLE = ["order", "repository", "tag", "digest", "platform", "status", "finished_at"]


@pytest.fixture
def run(org):
    reg = add_registry(org, name="prod")
    run = make_run(reg, status="partial", selected=3, scanned=1, failed=1, error="")
    image = make_image(reg, n=1)
    ImageScan.objects.create(
        run=run,
        order=1,
        repository="shop/api",
        tag="1.0",
        status="scanned",
        image=image,
        digest=image.digest,
    )
    ImageScan.objects.create(
        run=run,
        order=2,
        repository="shop/api",
        tag="0.9",
        status="skipped",
        reason="older than the newest 10",
    )
    ImageScan.objects.create(
        run=run,
        order=3,
        repository="shop/api",
        tag="latest",
        status="failed",
        error="blob digest mismatch",
    )
    return run


def tags_in(body):
    return re.findall(r"<code>([^<]+)</code></(?:a|td)>", body)


def test_run_page_shows_the_ledger_in_scan_order(owner_client, run):
    body = owner_client.get(f"/scans/{run.pk}/").content.decode()
    assert tags_in(body) == ["1.0", "0.9", "latest"]
    assert "older than the newest 10" in body and "blob digest mismatch" in body
    assert 'data-run-status="partial"' in body


def test_integrations_row_links_to_its_last_run(owner_client, run):
    assert f'href="/scans/{run.pk}/"' in owner_client.get("/integrations/").content.decode()


def test_run_page_scoping(outsider_client, owner_client, run):
    assert outsider_client.get(f"/scans/{run.pk}/").status_code == 404
    assert owner_client.post(f"/scans/{run.pk}/").status_code == 405


@pytest.mark.parametrize("column", ORDERABLE)
def test_ledger_sorts_by_every_orderable_column(owner_client, run, column):
    for sort in (column, f"-{column}"):
        body = owner_client.get(f"/scans/{run.pk}/?sort={sort}").content.decode()
        assert sorted(tags_in(body)) == ["0.9", "1.0", "latest"]


def test_queries_do_not_grow_with_the_ledger(owner_client, run, django_assert_max_num_queries):
    with django_assert_max_num_queries(20) as few:
        owner_client.get(f"/scans/{run.pk}/")
    for i in range(4, 31):
        ImageScan.objects.create(
            run=run,
            order=i,
            repository="shop/web",
            tag=f"t{i}",
            status="skipped",
            reason="unchanged",
        )
    with django_assert_max_num_queries(len(few.captured_queries)):
        assert len(tags_in(owner_client.get(f"/scans/{run.pk}/").content.decode())) == 30
