"""The pure helpers behind the Scan Interval tooltip, times and badges (fixed datetimes)."""

from __future__ import annotations

import zoneinfo
from datetime import UTC, datetime, timedelta

import pytest

from scans.templatetags.scan_extras import (
    format_duration,
    format_local,
    relative_to,
    resolve_time_zone,
    severity_badge,
    short_digest,
    time_html,
    tooltip_text,
)

BERLIN = zoneinfo.ZoneInfo("Europe/Berlin")
NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)


def test_tooltip_shows_schedule_and_next_scan_in_the_users_zone():
    text = tooltip_text("Daily at 02:00", datetime(2026, 12, 5, 1, 0, tzinfo=UTC), BERLIN)
    assert text == "Scan Schedule: Daily at 02:00 · Next scan: 2026-12-05 02:00 CET"


def test_tooltip_follows_daylight_saving():
    text = tooltip_text("Every 6 hours", datetime(2026, 7, 1, 10, 0, tzinfo=UTC), BERLIN)
    assert text.endswith("Next scan: 2026-07-01 12:00 CEST")


def test_tooltip_without_a_next_run_says_not_scheduled():
    assert tooltip_text("Off", None, BERLIN) == "Scan Schedule: Off · Next scan: not scheduled"


def test_time_element_carries_utc_iso_and_local_text():
    html = time_html(datetime(2026, 12, 5, 1, 0, tzinfo=UTC), BERLIN)
    assert html == '<time datetime="2026-12-05T01:00:00Z">2026-12-05 02:00 CET</time>'
    assert "—" in time_html(None, BERLIN)


def test_format_local_converts_zones():
    assert (
        format_local(datetime(2026, 1, 1, 23, 30, tzinfo=UTC), zoneinfo.ZoneInfo("Asia/Tokyo"))
        == "2026-01-02 08:30 JST"
    )


@pytest.mark.parametrize(
    ("profile", "org", "expected"),
    [
        ("Asia/Tokyo", "Europe/Berlin", "Asia/Tokyo"),
        ("", "Europe/Berlin", "Europe/Berlin"),
        ("", "", "UTC"),
        ("Not/AZone", "", "UTC"),
    ],
)
def test_users_zone_wins_over_the_organizations(profile, org, expected):
    assert str(resolve_time_zone(profile, org)) == expected


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0 seconds"),
        (45, "45 seconds"),
        (3600, "1 hour"),
        (7500, "2 hours 5 minutes"),
        (90061, "1 day 1 hour"),
        (-120, "2 minutes"),
    ],
)
def test_format_duration(seconds, text):
    assert format_duration(seconds) == text


def test_relative_times():
    assert relative_to(NOW - timedelta(minutes=5), NOW) == "5 minutes ago"
    assert relative_to(NOW + timedelta(hours=3, minutes=10), NOW) == "in 3 hours"
    assert relative_to(NOW, NOW) == "just now"
    assert relative_to(None, NOW) == "never"


def test_severity_badge_escapes_and_normalizes():
    assert severity_badge("HIGH") == '<span class="badge sev-high">High</span>'
    assert severity_badge("<script>") == '<span class="badge sev-unknown">Unknown</span>'
    assert severity_badge("critical", 3) == '<span class="badge sev-critical">3 Critical</span>'


def test_short_digest():
    assert short_digest("sha256:" + "ab" * 32) == "sha256:abababababab"
    assert short_digest("") == ""
