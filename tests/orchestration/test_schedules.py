"""Schedule specs: parsing, words, next run times (daylight saving included), the Schedule row."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django_q.models import Schedule

from scans.schedules import (
    describe_schedule,
    next_run,
    next_run_after,
    parse_schedule,
    reschedule,
    sync_schedule,
)


@pytest.mark.parametrize(
    ("spec", "words"),
    [
        ("every 6h", "Every 6 hours"),
        ("every 1h", "Every hour"),
        ("daily 02:00", "Daily at 02:00"),
        ("daily 7:05", "Daily at 07:05"),
        ("weekly mon 02:00", "Weekly on Monday at 02:00"),
        ("weekly Sunday 23:59", "Weekly on Sunday at 23:59"),
        ('cron "0 2 * * *"', "Custom: 0 2 * * *"),
        ("off", "Off"),
    ],
)
def test_it_describes_schedules_in_words(spec, words):
    assert describe_schedule(spec) == words


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("", "empty"),
        ("daily 25:00", "HH:MM"),
        ("weekly xyz 02:00", "day must be one of"),
        ("every 0h", "every Nh"),
        ("every 6", "every Nh"),
        ('cron "0 2 * *"', "cron expression"),
        ('cron "61 2 * * *"', "cron expression"),
        ("hourly", "is not a schedule"),
        ('cron "0 2', "quotes"),
    ],
)
def test_it_rejects_bad_specs_with_a_clear_message(spec, message):
    with pytest.raises(ValueError, match=message):
        parse_schedule(spec)


def utc(*args):
    return datetime(*args, tzinfo=UTC)


@pytest.mark.parametrize(
    ("spec", "now", "tz", "expected"),
    [
        # Europe/Berlin: CET (+1) before 2026-03-29 02:00, CEST (+2) after, CET again from
        # 2026-10-25 03:00 CEST.
        ("daily 02:00", utc(2026, 3, 27, 12), "Europe/Berlin", utc(2026, 3, 28, 1)),
        ("daily 02:00", utc(2026, 3, 29, 12), "Europe/Berlin", utc(2026, 3, 30, 0)),
        # 02:30 does not exist on the spring-forward day: it runs at 03:30 CEST (01:30 UTC).
        ("daily 02:30", utc(2026, 3, 28, 12), "Europe/Berlin", utc(2026, 3, 29, 1, 30)),
        # 02:00 exists twice on the fall-back day: the first one (CEST) counts.
        ("daily 02:00", utc(2026, 10, 24, 12), "Europe/Berlin", utc(2026, 10, 25, 0)),
        ("daily 02:00", utc(2026, 10, 25, 12), "Europe/Berlin", utc(2026, 10, 26, 1)),
        ("weekly mon 02:00", utc(2026, 10, 21, 12), "Europe/Berlin", utc(2026, 10, 26, 1)),
        ("weekly sun 04:00", utc(2026, 3, 22, 12), "Europe/Berlin", utc(2026, 3, 29, 2)),
        ('cron "0 2 * * *"', utc(2026, 3, 29, 12), "Europe/Berlin", utc(2026, 3, 30, 0)),
        ("daily 02:00", utc(2026, 3, 29, 12), "UTC", utc(2026, 3, 30, 2)),
        ("daily 09:00", utc(2026, 1, 1, 8), "America/New_York", utc(2026, 1, 1, 14)),
        ("every 6h", utc(2026, 3, 29, 0, 30), "Europe/Berlin", utc(2026, 3, 29, 6, 30)),
    ],
)
def test_it_computes_next_run_in_the_org_time_zone(spec, now, tz, expected):
    assert next_run_after(parse_schedule(spec), now, tz) == expected


def test_off_has_no_next_run():
    assert next_run_after(parse_schedule("off"), utc(2026, 1, 1), "UTC") is None


@pytest.fixture
def registry(org):
    from integrations.models import Registry

    org.time_zone = "Europe/Berlin"
    org.save()
    return Registry.objects.create(
        organization=org, name="r1", provider="oci", url="https://r.example", schedule="off"
    )


def test_sync_schedule_keeps_one_row_per_registry(registry):
    registry.schedule = "daily 02:00"
    sync_schedule(registry, now=utc(2026, 3, 29, 12))
    row = Schedule.objects.get(name=f"scan-registry-{registry.pk}")
    assert row.schedule_type == Schedule.CRON
    assert row.cron == "0 2 * * *"
    assert row.func == "scans.tasks.scheduled_scan"
    assert next_run(registry) == utc(2026, 3, 30, 0)

    registry.schedule = "every 6h"
    sync_schedule(registry, now=utc(2026, 3, 29, 12))
    row = Schedule.objects.get(name=f"scan-registry-{registry.pk}")
    assert (row.schedule_type, row.minutes) == (Schedule.MINUTES, 360)
    assert next_run(registry) == utc(2026, 3, 29, 18)

    registry.schedule = "off"
    sync_schedule(registry)
    assert not Schedule.objects.filter(name=f"scan-registry-{registry.pk}").exists()
    assert next_run(registry) is None


def test_disabled_registries_have_no_schedule(registry):
    registry.schedule = "daily 02:00"
    registry.enabled = False
    sync_schedule(registry)
    assert next_run(registry) is None


def test_reschedule_fixes_django_q_server_time_zone_next_run(registry):
    registry.schedule = "daily 02:00"
    sync_schedule(registry, now=utc(2026, 3, 28, 12))
    # django-q2 computes the next run of the cron in settings.TIME_ZONE (UTC here) after firing.
    Schedule.objects.filter(name=f"scan-registry-{registry.pk}").update(
        next_run=utc(2026, 3, 30, 2)
    )
    reschedule(registry, now=utc(2026, 3, 29, 1, 0, 5))
    assert next_run(registry) == utc(2026, 3, 30, 0)


def test_sync_schedule_also_schedules_the_stale_run_reaper(registry):
    registry.schedule = "every 2h"
    sync_schedule(registry)
    reaper = Schedule.objects.get(name="regscan-reap-stale-runs")
    assert reaper.func == "scans.tasks.reap_stale_runs"
    refresh = Schedule.objects.get(name="vulndb-refresh")
    assert refresh.func == "scans.vulndb.tasks.refresh_vulnerability_data"


def test_a_time_zone_change_moves_the_next_runs(registry):
    from zoneinfo import ZoneInfo

    from scans.schedules import sync_org_schedules

    registry.schedule = "daily 02:00"
    registry.save()
    sync_schedule(registry, now=utc(2026, 3, 30, 12))
    berlin = next_run(registry)
    org = registry.organization
    org.time_zone = "America/New_York"
    org.save()
    assert sync_org_schedules(org) == 1
    assert next_run(registry) != berlin
    assert next_run(registry).astimezone(ZoneInfo("America/New_York")).hour == 2
