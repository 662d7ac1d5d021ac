"""Server-drawn SVG charts for the dashboard: pure functions from numbers to markup.

No JavaScript and no chart library: each function returns a small accessible ``<svg>``
(``role="img"`` with a ``<title>`` and text labels) sized by a viewBox so CSS can scale it.
"""

from __future__ import annotations

from datetime import date

from django import template
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe

register = template.Library()

COLORS = {
    "critical": "#7f1d1d",
    "high": "#c2410c",
    "medium": "#b7791f",
    "low": "#2b6cb0",
    "unknown": "#6b7280",
    "open": "#b3261e",
    "fixed": "#1e7a46",
}


def _scale(value: float, top: float, width: float) -> float:
    return 0.0 if top <= 0 else round(width * value / top, 1)


def severity_bars(counts: list[tuple[str, int]], *, title: str) -> SafeString:
    """Horizontal bars, one per severity: ``[("critical", 3), ("high", 12), ...]``."""
    width, row, label_w = 560, 30, 80
    top = max((n for _, n in counts), default=0)
    bars = format_html_join(
        "",
        '<g transform="translate(0,{y})"><text x="0" y="19" class="lbl">{label}</text>'
        '<rect x="{x}" y="5" width="{w}" height="20" rx="3" fill="{color}"></rect>'
        '<text x="{tx}" y="19" class="val">{n}</text></g>',
        (
            {
                "y": i * row,
                "label": sev.capitalize(),
                "x": label_w,
                "w": max(_scale(n, top, width - label_w - 50), 1 if n else 0),
                "color": COLORS.get(sev, COLORS["unknown"]),
                "tx": label_w + _scale(n, top, width - label_w - 50) + 6,
                "n": n,
            }
            for i, (sev, n) in enumerate(counts)
        ),
    )
    return format_html(
        '<svg class="chart" role="img" viewBox="0 0 {} {}" aria-label="{}"><title>{}</title>{}</svg>',
        width,
        row * len(counts) + 4,
        title,
        title,
        bars,
    )


def stacked_bars(rows: list[tuple[str, list[tuple[str, int]]]], *, title: str) -> SafeString:
    """One horizontal stacked bar per row: ``[("prod-ecr", [("critical", 2), ...]), ...]``."""
    width, row, label_w = 560, 30, 150
    top = max((sum(n for _, n in parts) for _, parts in rows), default=0)
    groups = []
    for i, (label, parts) in enumerate(rows):
        x, rects = float(label_w), []
        for sev, n in parts:
            w = _scale(n, top, width - label_w - 50)
            if n:
                rects.append(
                    format_html(
                        '<rect x="{}" y="5" width="{}" height="20" fill="{}"><title>{}: {} {}</title></rect>',
                        x, w, COLORS.get(sev, COLORS["unknown"]), label, n, sev,
                    )
                )  # fmt: skip
            x += w
        total = sum(n for _, n in parts)
        groups.append(
            format_html(
                '<g transform="translate(0,{})"><text x="0" y="19" class="lbl">{}</text>{}'
                '<text x="{}" y="19" class="val">{}</text></g>',
                i * row,
                label[:22],
                mark_safe("".join(rects)),  # noqa: S308 - each rect was built by format_html
                x + 6,
                total,
            )
        )
    return format_html(
        '<svg class="chart" role="img" viewBox="0 0 {} {}" aria-label="{}"><title>{}</title>{}</svg>',
        width,
        max(row * len(rows), row) + 4,
        title,
        title,
        mark_safe("".join(groups)),  # noqa: S308 - each group was built by format_html
    )


def trend_chart(points: list[tuple[date, int, int]], *, title: str) -> SafeString:
    """Open findings (line) and findings fixed that day (bars) per day:
    ``[(day, open_count, fixed_that_day), ...]``."""
    width, height, pad_l, pad_b, pad_t = 1100, 220, 40, 24, 12
    if not points:
        return format_html('<p class="muted">{}</p>', "No findings yet.")
    top = max(max(o for _, o, _ in points), max(f for _, _, f in points), 1)
    step = (width - pad_l - 10) / max(len(points), 1)
    plot_h = height - pad_b - pad_t

    def y(v: int) -> float:
        return round(pad_t + plot_h - plot_h * v / top, 1)

    bars = format_html_join(
        "",
        '<rect x="{}" y="{}" width="{}" height="{}" fill="{}"><title>{}: {} fixed</title></rect>',
        (
            (round(pad_l + i * step + step * 0.2, 1), y(f), round(step * 0.6, 1),
             round(pad_t + plot_h - y(f), 1), COLORS["fixed"], d.isoformat(), f)
            for i, (d, _, f) in enumerate(points)
        ),
    )  # fmt: skip
    line = " ".join(
        f"{round(pad_l + i * step + step / 2, 1)},{y(o)}" for i, (_, o, _) in enumerate(points)
    )
    dots = format_html_join(
        "",
        '<circle cx="{}" cy="{}" r="2.5" fill="{}"><title>{}: {} open</title></circle>',
        (
            (round(pad_l + i * step + step / 2, 1), y(o), COLORS["open"], d.isoformat(), o)
            for i, (d, o, _) in enumerate(points)
        ),
    )
    first, last = points[0][0], points[-1][0]
    return format_html(
        '<svg class="chart wide" role="img" viewBox="0 0 {w} {h}" aria-label="{t}"><title>{t}</title>'
        '<line x1="{pl}" y1="{base}" x2="{w}" y2="{base}" class="axis"></line>'
        '<text x="{tl}" y="{ty}" class="tick" text-anchor="end">{top}</text>'
        '<text x="{tl}" y="{base}" class="tick" text-anchor="end">0</text>'
        '{bars}<polyline points="{line}" fill="none" stroke="{oc}" stroke-width="2"></polyline>{dots}'
        '<text x="{pl}" y="{h}" class="tick">{first}</text>'
        '<text x="{w}" y="{h}" class="tick" text-anchor="end">{last}</text></svg>',
        w=width, h=height - 2, t=title, pl=pad_l, base=pad_t + plot_h, tl=pad_l - 6, ty=pad_t + 4,
        top=top, bars=bars, line=line, oc=COLORS["open"], dots=dots,
        first=first.strftime("%d %b"), last=last.strftime("%d %b"),
    )  # fmt: skip


@register.simple_tag
def chart_severity(counts: list[tuple[str, int]], title: str) -> SafeString:
    return severity_bars(counts, title=title)


@register.simple_tag
def chart_stacked(rows: list[tuple[str, list[tuple[str, int]]]], title: str) -> SafeString:
    return stacked_bars(rows, title=title)


@register.simple_tag
def chart_trend(points: list[tuple[date, int, int]], title: str) -> SafeString:
    return trend_chart(points, title=title)
