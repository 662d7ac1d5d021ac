"""The My Integrations table (django-tables2).

The queryset comes from :func:`registry_rows`: the last run, counts and next scan time from
``integrations.services.annotate_registry_table`` and a sort key for open findings, all as
annotations; :func:`attach_open_counts` adds the page's open findings per severity with one
grouped query. Rendering a page of rows issues no per-row queries.
"""

from __future__ import annotations

from typing import Any

import django_tables2 as tables
from django.db.models import (
    BigIntegerField,
    Case,
    Count,
    F,
    OuterRef,
    QuerySet,
    Subquery,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Coalesce
from django.template.loader import render_to_string
from django.utils.html import format_html
from django.utils.safestring import SafeString

from scans.columns import IntervalColumn, LocalTimeColumn, SeverityCountsColumn
from scans.templatetags.scan_extras import SEVERITIES

from .models import Registry, RegistryAccess

__all__ = ["RegistryTable", "attach_open_counts", "registry_rows"]


# Weights that order rows by open critical, then high, then medium... findings (up to 999 each).
_RANK = {"critical": 10**12, "high": 10**9, "medium": 10**6, "low": 10**3, "unknown": 1}


def _open_rank() -> Coalesce:
    """One correlated subquery giving a sort key for the Open findings column."""
    from scans.vulndb.models import Finding

    weight = Case(
        *(When(severity=sev, then=Value(w)) for sev, w in _RANK.items()),
        default=Value(0),
        output_field=BigIntegerField(),
    )
    ranks = (
        Finding.objects.filter(image__registry=OuterRef("pk"), status="open")
        .values("image__registry")
        .annotate(rank=Sum(weight))
        .values("rank")
    )
    return Coalesce(Subquery(ranks, output_field=BigIntegerField()), Value(0))


def registry_rows(qs: QuerySet[Registry]) -> QuerySet[Registry]:
    """``qs`` annotated for the table (see the module docstring)."""
    from integrations.services import annotate_registry_table

    qs = annotate_registry_table(qs.select_related("organization"))
    # Images done in the last run (scanned, reused or failed): the "37/120 images" progress.
    done = [Coalesce(F(f"last_run_{n}"), Value(0)) for n in ("done", "reused", "failed")]
    return qs.annotate(progress_done=done[0] + done[1] + done[2], open_rank=_open_rank())


def attach_open_counts(table: tables.Table) -> None:
    """Set ``open_<severity>`` on the rows of the table's current page from one grouped query.

    Counting per row in SQL meant five correlated subqueries per registry, each walking all of
    its open findings; one GROUP BY over the page's registries walks them once.
    """
    from scans.vulndb.models import Finding

    records = [row.record for row in table.paginated_rows]
    counts = (
        Finding.objects.filter(image__registry__in=[r.pk for r in records], status="open")
        .values_list("image__registry", "severity")
        .annotate(n=Count("pk"))
        .order_by()
    )
    found = {(registry, sev): n for registry, sev, n in counts}
    for record in records:
        for sev in SEVERITIES:
            setattr(record, f"open_{sev}", found.get((record.pk, sev), 0))


class StatusColumn(tables.Column):
    """Last run: running with progress, succeeded, partial, failed with the reason."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("accessor", "last_run_status")
        kwargs.setdefault("empty_values", ())
        super().__init__(*args, **kwargs)

    def render(self, record: Registry) -> SafeString:
        return render_to_string("integrations/_status_cell.html", {"r": record})


class RegistryTable(tables.Table):
    selection = tables.CheckBoxColumn(
        accessor="pk",
        attrs={
            "th__input": {"aria-label": "Select all integrations", "data-select-all": ""},
            "td__input": {
                "name": "registry",
                "class": "row-select",
                "aria-label": lambda record: f"Select {record.name}",
            },
        },
    )
    name = tables.Column(linkify=lambda record: f"/images/?registry={record.pk}")
    provider = tables.Column(verbose_name="Type")
    access = tables.Column(verbose_name="Registry Access")
    status = StatusColumn(verbose_name="Status")
    last_scan = LocalTimeColumn(
        verbose_name="Last scan",
        accessor="last_run_finished",
        order_by=("last_run_finished",),
        relative=True,
    )
    repositories = tables.Column(
        verbose_name="Repositories", accessor="repositories_count", default=0
    )
    images = tables.Column(verbose_name="Images", accessor="images_count", default=0)
    findings = SeverityCountsColumn(order_by=("-open_rank",))
    interval = IntervalColumn()
    actions = tables.Column(empty_values=(), orderable=False, verbose_name="")

    class Meta:
        model = Registry
        fields = ()
        sequence = (
            "selection",
            "name",
            "provider",
            "access",
            "status",
            "last_scan",
            "repositories",
            "images",
            "findings",
            "interval",
            "actions",
        )
        attrs = {"class": "table registry-table", "id": "registry-table"}
        row_attrs = {
            "data-registry": lambda record: record.pk,
            "data-name": lambda record: record.name,
            "data-running": lambda record: (
                "1" if record.last_run_status in ("queued", "running") else None
            ),
        }
        empty_text = "No integrations yet."
        order_by = ("name",)

    def before_render(self, request: Any) -> None:
        # Members see the table read-only: no selection and no row menu.
        if not getattr(request, "is_org_admin", False):
            self.columns.hide("selection")
            self.columns.hide("actions")

    def render_access(self, record: Registry) -> SafeString:
        # Private integrations were made on purpose; the others say how and when they were seen.
        return render_to_string("integrations/_access_cell.html", {"r": record})

    def render_provider(self, record: Registry) -> SafeString:
        quota = record.provider_state or {}
        if "pull_ratelimit_remaining" not in quota:
            return format_html("{}", record.get_provider_display())
        return format_html(
            '{}<br><span class="muted small" title="Docker Hub pull quota, as of the last scan">'
            "{} of {} pulls left</span>",
            record.get_provider_display(),
            quota["pull_ratelimit_remaining"],
            quota.get("pull_ratelimit_limit", "?"),
        )

    def render_actions(self, record: Registry) -> SafeString:
        return render_to_string("integrations/_row_menu.html", {"r": record})


def access_tabs(registries: Any, current: str) -> list[dict[str, Any]]:
    """Filter tabs (All, Private, Public/Manual, System-managed) with their counts: one query."""
    counts = dict(
        registries.order_by()
        .values_list("access")
        .annotate(n=Count("id"))
        .values_list("access", "n")
    )
    tabs = [{"value": "", "label": "All", "count": sum(counts.values()), "current": not current}]
    for value, label in RegistryAccess.choices:
        tabs.append(
            {
                "value": value,
                "label": label,
                "count": counts.get(value, 0),
                "current": current == value,
            }
        )
    return tabs
