"""Scan schedules: parse the schedule text of an integration, describe it, and keep its one
django-q2 ``Schedule`` row in sync.

Specs: ``every 6h``, ``daily 02:00``, ``weekly mon 02:00``, ``cron "0 2 * * *"``, ``off``; wall
clock times are read in the organization's time zone.

django-q2 evaluates cron expressions in ``settings.TIME_ZONE``, not in the organization's zone,
so every Schedule row gets its ``next_run`` computed here (in the organization's zone, daylight
saving included) and the scheduled task calls :func:`reschedule` first thing to put the right
``next_run`` back after django-q2 computed its own. ``every Nh`` uses django-q2's MINUTES type,
which does not care about time zones.
"""

from __future__ import annotations

import re
import shlex
import zoneinfo
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from croniter import croniter
from django.utils import timezone

if TYPE_CHECKING:
    from integrations.models import Registry

__all__ = [
    "ScheduleSpec",
    "describe_schedule",
    "ensure_maintenance_schedules",
    "next_run",
    "next_run_after",
    "parse_schedule",
    "reschedule",
    "schedule_name",
    "sync_org_schedules",
    "sync_schedule",
]

SCAN_TASK = "scans.tasks.scheduled_scan"
REAP_TASK = "scans.tasks.reap_stale_runs"
REAP_SCHEDULE = "regscan-reap-stale-runs"
DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
DAY_NAMES = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
_TIME = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")
_EVERY = re.compile(r"^(\d+)\s*h$")


@dataclass(frozen=True)
class ScheduleSpec:
    """A parsed schedule. ``kind`` is off, every, daily, weekly or cron."""

    kind: str
    hours: int = 0
    hour: int = 0
    minute: int = 0
    weekday: int = 0  # 0 = Monday
    cron: str = ""

    def cron_expression(self) -> str:
        """The cron expression of a daily/weekly/cron spec ("" for off and every)."""
        if self.kind == "daily":
            return f"{self.minute} {self.hour} * * *"
        if self.kind == "weekly":
            # cron counts days from Sunday = 0.
            return f"{self.minute} {self.hour} * * {(self.weekday + 1) % 7}"
        return self.cron


def _parse_time(text: str, spec: str) -> tuple[int, int]:
    match = _TIME.match(text)
    if not match:
        raise ValueError(f"{spec!r}: the time must be HH:MM (24-hour clock), e.g. 02:00.")
    return int(match.group(1)), int(match.group(2))


def parse_schedule(spec: str) -> ScheduleSpec:
    """Parse a schedule text; raises ValueError with a message saying what is wrong."""
    text = (spec or "").strip()
    try:
        words = shlex.split(text)
    except ValueError:
        raise ValueError(f"{spec!r}: unbalanced quotes.") from None
    if not words:
        raise ValueError("The schedule is empty; use e.g. 'daily 02:00' or 'off'.")
    kind, args = words[0].lower(), words[1:]
    if kind == "off" and not args:
        return ScheduleSpec("off")
    if kind == "every" and len(args) == 1:
        match = _EVERY.match(args[0].lower())
        if not match or not 1 <= int(match.group(1)) <= 24 * 31:
            raise ValueError(f"{spec!r}: use 'every Nh' with N hours between 1 and 744.")
        return ScheduleSpec("every", hours=int(match.group(1)))
    if kind == "daily" and len(args) == 1:
        hour, minute = _parse_time(args[0], spec)
        return ScheduleSpec("daily", hour=hour, minute=minute)
    if kind == "weekly" and len(args) == 2:
        day = args[0].lower()[:3]
        if day not in DAYS:
            raise ValueError(f"{spec!r}: the day must be one of {', '.join(DAYS)}.")
        hour, minute = _parse_time(args[1], spec)
        return ScheduleSpec("weekly", hour=hour, minute=minute, weekday=DAYS.index(day))
    if kind == "cron" and args:
        expr = " ".join(args)
        if len(expr.split()) != 5 or not croniter.is_valid(expr):
            raise ValueError(f"{spec!r}: not a valid 5-field cron expression.")
        return ScheduleSpec("cron", cron=expr)
    raise ValueError(
        f"{spec!r} is not a schedule; use 'every 6h', 'daily 02:00', 'weekly mon 02:00', "
        "'cron \"0 2 * * *\"' or 'off'."
    )


def describe_schedule(spec: str | ScheduleSpec) -> str:
    """The schedule in words ("Every 6 hours", "Daily at 02:00", ..., "Off")."""
    if isinstance(spec, str):
        try:
            spec = parse_schedule(spec)
        except ValueError:
            return f"Invalid: {spec}"
    if spec.kind == "every":
        return "Every hour" if spec.hours == 1 else f"Every {spec.hours} hours"
    if spec.kind == "daily":
        return f"Daily at {spec.hour:02d}:{spec.minute:02d}"
    if spec.kind == "weekly":
        return f"Weekly on {DAY_NAMES[spec.weekday]} at {spec.hour:02d}:{spec.minute:02d}"
    if spec.kind == "cron":
        return f"Custom: {spec.cron}"
    return "Off"


def next_run_after(spec: ScheduleSpec, now: datetime, tz_name: str) -> datetime | None:
    """The first run time strictly after ``now`` (aware, UTC), or None for ``off``.

    Wall-clock specs are stepped in the local time of ``tz_name``: a time that does not exist
    on the spring-forward day (02:30 in Europe/Berlin) runs at the same offset as before the
    change (03:30 local), and a time that exists twice in autumn runs at its first occurrence.
    """
    if spec.kind == "off":
        return None
    if spec.kind == "every":
        return now + timedelta(hours=spec.hours)
    tz = zoneinfo.ZoneInfo(tz_name)
    local = now.astimezone(tz).replace(tzinfo=None)
    it = croniter(spec.cron_expression(), local)
    for _ in range(1000):
        candidate = it.get_next(datetime).replace(tzinfo=tz).astimezone(UTC)
        if candidate > now:
            return candidate
    raise ValueError(f"No run time found for {spec.cron_expression()!r}.")


def schedule_name(registry: Registry) -> str:
    return f"scan-registry-{registry.pk}"


def _schedule_model():
    from django_q.models import Schedule

    return Schedule


def next_run(registry: Registry) -> datetime | None:
    """When the registry is scanned next by its schedule (None when off or disabled)."""
    row = _schedule_model().objects.filter(name=schedule_name(registry)).first()
    return row.next_run if row else None


def sync_schedule(registry: Registry, *, now: datetime | None = None) -> None:
    """Create, update or delete the registry's django-q2 Schedule to match its settings.

    Raises ValueError when the registry's schedule text does not parse.
    """
    Schedule = _schedule_model()
    spec = parse_schedule(registry.schedule)
    name = schedule_name(registry)
    if spec.kind == "off" or not registry.enabled:
        Schedule.objects.filter(name=name).delete()
        return
    now = now or timezone.now()
    tz_name = registry.organization.time_zone or "UTC"
    fields = {
        "func": SCAN_TASK,
        "args": repr((registry.pk,)),
        "repeats": -1,
        "next_run": next_run_after(spec, now, tz_name),
    }
    if spec.kind == "every":
        fields.update(schedule_type=Schedule.MINUTES, minutes=spec.hours * 60, cron=None)
    else:
        fields.update(schedule_type=Schedule.CRON, cron=spec.cron_expression(), minutes=None)
    row, _ = Schedule.objects.update_or_create(name=name, defaults=fields)
    # Schedule.save() replaces next_run of a new CRON row with its own (server time zone) value.
    Schedule.objects.filter(pk=row.pk).update(next_run=fields["next_run"])
    ensure_maintenance_schedules()


def sync_org_schedules(organization) -> int:
    """Re-sync every integration schedule of ``organization`` (call after its time zone
    changes); returns how many registries were synced."""
    from integrations.models import Registry

    registries = list(Registry.objects.filter(organization=organization))
    for registry in registries:
        registry.organization = organization
        sync_schedule(registry)
    return len(registries)


def reschedule(registry: Registry, *, now: datetime | None = None) -> None:
    """Put the right ``next_run`` (organization time zone) on the registry's cron Schedule.

    Called by the scheduled task after django-q2 computed its own next run in
    ``settings.TIME_ZONE``; a no-op for ``every Nh`` schedules and missing rows.
    """
    spec = parse_schedule(registry.schedule)
    if spec.kind in ("off", "every"):
        return
    when = next_run_after(spec, now or timezone.now(), registry.organization.time_zone or "UTC")
    _schedule_model().objects.filter(name=schedule_name(registry)).update(next_run=when)


def ensure_maintenance_schedules() -> None:
    """Make sure the periodic jobs exist once an integration is scheduled: the stale-run
    reaper (every 5 minutes) and the vulnerability data refresh (``scans.vulndb.tasks``)."""
    from scans.vulndb.tasks import SCHEDULE_NAME, ensure_refresh_schedule

    Schedule = _schedule_model()
    if not Schedule.objects.filter(name=SCHEDULE_NAME).exists():
        ensure_refresh_schedule()
    if not Schedule.objects.filter(name=REAP_SCHEDULE).exists():
        Schedule.objects.get_or_create(
            name=REAP_SCHEDULE,
            defaults={
                "func": REAP_TASK,
                "schedule_type": Schedule.MINUTES,
                "minutes": 5,
                "repeats": -1,
                "next_run": timezone.now() + timedelta(minutes=5),
            },
        )
