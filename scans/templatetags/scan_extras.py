"""Small pure filters and tags for the pages: times in the user's zone, the Scan Interval
tooltip, severity badges and relative times.

The functions at the top are plain functions (tested with fixed datetimes); the template
filters and tags below only adapt them to templates.
"""

from __future__ import annotations

import zoneinfo
from datetime import datetime, tzinfo
from typing import Any

from django import template
from django.http import HttpRequest
from django.utils.html import format_html
from django.utils.safestring import SafeString

register = template.Library()

SEVERITIES = ("critical", "high", "medium", "low", "unknown")
_UNITS = (("day", 86400), ("hour", 3600), ("minute", 60), ("second", 1))


def format_duration(seconds: float) -> str:
    """Return a duration in its two largest units: ``"2 hours 5 minutes"``, ``"45 seconds"``.

    Negative durations are treated as their absolute value; zero gives ``"0 seconds"``.
    """
    remaining = int(abs(seconds))
    parts: list[str] = []
    for name, size in _UNITS:
        count, remaining = divmod(remaining, size)
        if count:
            parts.append(f"{count} {name}{'' if count == 1 else 's'}")
        if len(parts) == 2:
            break
    return " ".join(parts) or "0 seconds"


def relative_to(when: datetime | None, now: datetime) -> str:
    """``"5 minutes ago"`` / ``"in 3 hours"`` (largest unit only); ``"never"`` for None."""
    if when is None:
        return "never"
    delta = (when - now).total_seconds()
    if abs(delta) < 60:
        return "just now"
    text = format_duration(delta).split(" ")
    text = " ".join(text[:2])
    return f"in {text}" if delta > 0 else f"{text} ago"


def format_local(when: datetime, tz: tzinfo) -> str:
    """``when`` in ``tz`` as ``"2026-12-05 02:00 CET"`` (24-hour clock, zone abbreviation)."""
    local = when.astimezone(tz)
    return local.strftime("%Y-%m-%d %H:%M ") + (local.tzname() or "")


def time_html(when: datetime | None, tz: tzinfo, empty: str = "—") -> SafeString:
    """A ``<time datetime="ISO-8601 UTC">`` element showing ``when`` in ``tz``."""
    if when is None:
        return format_html('<span class="muted">{}</span>', empty)
    iso = when.astimezone(zoneinfo.ZoneInfo("UTC")).isoformat().replace("+00:00", "Z")
    return format_html('<time datetime="{}">{}</time>', iso, format_local(when, tz))


def tooltip_text(schedule_text: str, next_run: datetime | None, tz: tzinfo) -> str:
    """The Scan Interval tooltip as one line (the ``title`` text and the screen-reader text).

    ``"Scan Schedule: Daily at 02:00 · Next scan: 2026-12-05 02:00 CET"``; when nothing is
    scheduled the next scan reads ``"not scheduled"``.
    """
    nxt = format_local(next_run, tz) if next_run is not None else "not scheduled"
    return f"Scan Schedule: {schedule_text} · Next scan: {nxt}"


def resolve_time_zone(profile_zone: str, org_zone: str) -> tzinfo:
    """The zone to show times in: the user's own, else the organization's, else UTC.

    Unknown zone names (which validation normally prevents) fall back the same way.
    """
    for name in (profile_zone, org_zone):
        if name:
            try:
                return zoneinfo.ZoneInfo(name)
            except (zoneinfo.ZoneInfoNotFoundError, ValueError):
                continue
    return zoneinfo.ZoneInfo("UTC")


def request_time_zone(request: HttpRequest | None) -> tzinfo:
    """The time zone for ``request``'s user (cached on the request; at most one query)."""
    if request is None:
        return zoneinfo.ZoneInfo("UTC")
    cached = getattr(request, "_regscan_tz", None)
    if cached is not None:
        return cached
    user = getattr(request, "user", None)
    profile_zone = ""
    if user is not None and user.is_authenticated:
        from accounts.models import Profile

        profile_zone = (
            Profile.objects.filter(user=user).values_list("time_zone", flat=True).first() or ""
        )
    org = getattr(request, "organization", None)
    tz = resolve_time_zone(profile_zone, org.time_zone if org else "")
    request._regscan_tz = tz
    return tz


def severity_badge(severity: str | None, count: int | None = None) -> SafeString:
    """A coloured badge for a severity (``critical`` ... ``unknown``), optionally a count."""
    sev = (severity or "unknown").lower()
    if sev not in SEVERITIES:
        sev = "unknown"
    label = sev.capitalize() if count is None else f"{count} {sev.capitalize()}"
    return format_html('<span class="badge sev-{}">{}</span>', sev, label)


# --- Template adapters ---


@register.simple_tag(takes_context=True)
def local_time(context: dict[str, Any], when: datetime | None, empty: str = "—") -> SafeString:
    """``{% local_time dt %}``: a ``<time>`` element in the user's time zone."""
    return time_html(when, request_time_zone(context.get("request")), empty)


@register.filter
def severity(value: str | None) -> SafeString:
    """``{{ finding.severity|severity }}``: a severity badge."""
    return severity_badge(value)


@register.filter
def duration(seconds: float | None) -> str:
    """``{{ run.seconds|duration }}``."""
    return "—" if seconds is None else format_duration(seconds)


@register.filter
def short_digest(digest: str | None) -> str:
    """``sha256:0123456789ab`` (the algorithm and 12 hex digits)."""
    if not digest:
        return ""
    algo, _, hexpart = digest.partition(":")
    return f"{algo}:{hexpart[:12]}" if hexpart else digest[:19]
