"""Reusable django-tables2 cells: severity badges, times in the user's zone, the Scan Interval
cell with its tooltip, and open findings by severity.

Every cell renders from values already on the row (select_related or annotations): rendering
a row never queries the database.
"""

from __future__ import annotations

from typing import Any

import django_tables2 as tables
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from scans.schedules import describe_schedule
from scans.templatetags.scan_extras import (
    SEVERITIES,
    format_local,
    relative_to,
    request_time_zone,
    severity_badge,
    time_html,
    tooltip_text,
)

__all__ = ["IntervalColumn", "LocalTimeColumn", "SeverityColumn", "SeverityCountsColumn"]


class SeverityColumn(tables.Column):
    """A severity value as a coloured badge."""

    def render(self, value: str) -> SafeString:
        return severity_badge(value)


class LocalTimeColumn(tables.Column):
    """A datetime as ``<time datetime=...>`` in the viewer's time zone ("—" when empty).

    ``date_only=True`` shows the local day and keeps the full time in the ``title``;
    ``relative=True`` adds "5 minutes ago" below the time."""

    def __init__(
        self, *args: Any, date_only: bool = False, relative: bool = False, **kwargs: Any
    ) -> None:
        kwargs.setdefault("default", None)
        self.date_only, self.relative = date_only, relative
        super().__init__(*args, **kwargs)

    def render(self, value: Any, table: tables.Table) -> SafeString:
        tz = request_time_zone(getattr(table, "request", None))
        if self.relative:
            ago = relative_to(value, timezone.now())
            return format_html(
                '{}<span class="muted small block">{}</span>', time_html(value, tz), ago
            )
        if not self.date_only:
            return time_html(value, tz)
        full = format_local(value, tz)
        return format_html(
            '<time datetime="{}" title="{}">{}</time>', value.isoformat(), full, full[:10]
        )

    def value(self, value: Any) -> str:
        return value.isoformat() if value else ""


class IntervalColumn(tables.Column):
    """The Scan Interval: the schedule in words, with a tooltip (hover and keyboard focus)
    giving the Scan Schedule and the Next scan time.

    The value is the schedule text (``daily 02:00``); ``next_scan_at`` comes from the row
    (an annotation of the table's queryset).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("verbose_name", "Scan Interval")
        kwargs.setdefault("accessor", "schedule")
        kwargs.setdefault("order_by", ("next_scan_at",))
        super().__init__(*args, **kwargs)

    def render(self, value: str, record: Any, table: tables.Table) -> SafeString:
        value = describe_schedule(value)
        tz = request_time_zone(getattr(table, "request", None))
        nxt = getattr(record, "next_scan_at", None)
        tip_id = f"scan-tip-{record.pk}"
        next_html = (
            time_html(nxt, tz)
            if nxt
            else format_html('<span class="muted">{}</span>', "not scheduled")
        )
        label = tooltip_text(value, nxt, tz)
        return format_html(
            '<span class="tip" tabindex="0" aria-describedby="{id}" data-tooltip>{text}'
            '<span class="tip-body" role="tooltip" id="{id}" aria-label="{label}">'
            '<span class="tip-row"><span class="tip-key">Scan Schedule</span>'
            '<span class="tip-schedule">{text}</span></span>'
            '<span class="tip-row"><span class="tip-key">Next scan</span>'
            '<span class="tip-next">{next}</span></span></span></span>',
            id=tip_id,
            text=value,
            label=label,
            next=next_html,
        )


class SeverityCountsColumn(tables.Column):
    """Open findings by severity as a row of small counters (zero counts are dimmed).

    Reads ``open_<severity>`` attributes (annotations) from the row.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("verbose_name", "Open findings")
        kwargs.setdefault("accessor", "open_critical")
        kwargs.setdefault("order_by", ("-open_critical", "-open_high", "-open_medium"))
        kwargs.setdefault("empty_values", ())
        super().__init__(*args, **kwargs)

    def render(self, record: Any) -> SafeString:
        counts = [(sev, getattr(record, f"open_{sev}", 0) or 0) for sev in SEVERITIES]
        return format_html(
            '<span class="sevcounts">{}</span>',
            format_html_join(
                "",
                '<span class="sevcount sev-{0}{2}" title="{1} {0}">{1}</span>',
                ((sev, n, "" if n else " zero") for sev, n in counts),
            ),
        )

    def value(self, record: Any) -> str:
        return " ".join(f"{sev}={getattr(record, f'open_{sev}', 0) or 0}" for sev in SEVERITIES)
