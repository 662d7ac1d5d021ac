"""The My Integrations table (django-tables2).

The queryset comes from :func:`registry_rows`: the last run, counts and next scan time from
``integrations.services.annotate_registry_table`` plus open findings per severity, all as
annotations, so rendering a page of rows issues no per-row queries.
"""

from __future__ import annotations

from typing import Any

import django_tables2 as tables
from django.db.models import Count, F, IntegerField, OuterRef, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce
from django.template.loader import render_to_string
from django.utils.html import format_html
from django.utils.safestring import SafeString

from scans.columns import IntervalColumn, LocalTimeColumn, SeverityCountsColumn
from scans.templatetags.scan_extras import SEVERITIES

from .models import Registry

__all__ = ["RegistryTable", "registry_rows"]


def _open_count(severity: str) -> Coalesce:
    from scans.vulndb.models import Finding

    counts = (
        Finding.objects.filter(image__registry=OuterRef("pk"), status="open", severity=severity)
        .values("image__registry")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return Coalesce(Subquery(counts, output_field=IntegerField()), Value(0))


def registry_rows(qs: QuerySet[Registry]) -> QuerySet[Registry]:
    """``qs`` annotated for the table (see the module docstring)."""
    from integrations.services import annotate_registry_table

    qs = annotate_registry_table(qs.select_related("organization"))
    qs = qs.annotate(**{f"open_{sev}": _open_count(sev) for sev in SEVERITIES})
    # Images done in the last run (scanned, reused or failed): the "37/120 images" progress.
    done = [Coalesce(F(f"last_run_{n}"), Value(0)) for n in ("done", "reused", "failed")]
    return qs.annotate(progress_done=done[0] + done[1] + done[2])


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
    findings = SeverityCountsColumn()
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
        return format_html(
            '<span class="pill access-{}">{}</span>', record.access, record.get_access_display()
        )

    def render_actions(self, record: Registry) -> SafeString:
        return render_to_string("integrations/_row_menu.html", {"r": record})
