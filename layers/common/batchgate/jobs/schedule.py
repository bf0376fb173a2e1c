"""Schedules as EventBridge Scheduler reads them: ``rate(…)``, ``cron(…)`` with AWS's six fields,
``at(…)``, an IANA time zone and optional start / end.

One parser serves both sides: the API checks a job's schedule with it (a 400 that says what is
wrong), ACTIVATE turns it into ``CreateSchedule``'s arguments, and the local stack's scheduler asks
it for the ticks, so what is accepted is what fires, in AWS and on a laptop.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import CroniterBadDateError, croniter

from batchgate.core.errors import InvalidRequest
from batchgate.jobs.models import Job

CODE = "BG-400-SCHEDULE"
SHAPES = (
    "rate(value unit), for example rate(15 minutes); "
    "cron(minutes hours day-of-month month day-of-week year), for example cron(0 3 * * ? *); "
    "or at(yyyy-mm-ddThh:mm:ss)"
)
_UNITS = {"minute": 60, "hour": 3600, "day": 86400}
_RATE = re.compile(r"^rate\(\s*(\S+)\s+(\S+)\s*\)$")
_CRON = re.compile(r"^cron\((.*)\)$")
_AT = re.compile(r"^at\((.*)\)$")
_AT_FORMAT = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}$")
_FIELD_NAMES = ("minutes", "hours", "day-of-month", "month", "day-of-week", "year")
# AWS's characters per field; croniter is then the judge of ranges and names.
_FIELD_CHARS = (
    re.compile(r"^[0-9,\-*/]+$"),
    re.compile(r"^[0-9,\-*/]+$"),
    re.compile(r"^[0-9,\-*/?LW]+$"),
    re.compile(r"^[0-9A-Za-z,\-*/]+$"),
    re.compile(r"^[0-9A-Za-z,\-*/?L#]+$"),
    re.compile(r"^[0-9,\-*/]+$"),
)
# A number in day-of-week that names a day (not a step after '/', not an nth after '#').
_DOW_NUMBER = re.compile(r"(?<![/#0-9])([1-7])(?![0-9])")


def _bad(message: str) -> InvalidRequest:
    return InvalidRequest(message, code=CODE)


@dataclass(frozen=True)
class Schedule:
    kind: Literal["rate", "cron", "at"]
    expression: str
    zone: ZoneInfo
    start: datetime | None = None
    end: datetime | None = None
    every: timedelta | None = None  # rate
    cron: str | None = None  # cron, in croniter's seven-field form
    at: datetime | None = None  # at, aware

    def next_tick(self, after: datetime, *, anchor: datetime) -> datetime | None:
        """The first tick strictly after ``after`` (aware), or None when there is no more.

        ``anchor`` is when the schedule was created: a rate() schedule without a start ticks from
        it (EventBridge Scheduler starts such a schedule at once)."""
        if self.kind == "at":
            assert self.at is not None
            return self.at if self.at > after else None
        floor = max(after, self.start - timedelta(microseconds=1)) if self.start else after
        if self.kind == "rate":
            assert self.every is not None
            origin = self.start or anchor
            if floor < origin:
                tick = origin
            else:
                steps = (floor - origin) // self.every + 1
                tick = origin + steps * self.every
        else:
            assert self.cron is not None
            try:
                tick = croniter(self.cron, floor.astimezone(self.zone)).get_next(datetime)
            except CroniterBadDateError:  # the year field has run out
                return None
        if self.end is not None and tick > self.end:
            return None
        return tick


def parse_schedule(body: dict[str, Any]) -> Schedule:
    """A job's ``schedule`` body, checked: raises ``InvalidRequest`` (BG-400-SCHEDULE) naming
    what is wrong."""
    expression = str(body.get("expression") or "").strip()
    zone = _zone(str(body.get("timezone") or "UTC"))
    start = _instant(body.get("start"), "start", zone)
    end = _instant(body.get("end"), "end", zone)
    if start is not None and end is not None and end <= start:
        raise _bad(f"schedule end {body.get('end')} is not after its start {body.get('start')}")
    if m := _RATE.match(expression):
        return Schedule("rate", expression, zone, start, end, every=_rate(m.group(1), m.group(2)))
    if m := _CRON.match(expression):
        return Schedule("cron", expression, zone, start, end, cron=_cron(m.group(1)))
    if m := _AT.match(expression):
        return Schedule("at", expression, zone, start, end, at=_at(m.group(1).strip(), zone))
    raise _bad(f"schedule expression {expression!r} is not one of {SHAPES}")


def next_fire(job: Job, now: datetime | None = None) -> int | None:
    """When an active job's schedule fires next (epoch ms), by the ticks the local scheduler and
    EventBridge Scheduler both follow; None for an inactive job or a schedule with no tick left.
    A rate() schedule without a start ticks from its ACTIVATE (architecture §32)."""
    if job.status != "active":
        return None
    schedule = parse_schedule(job.schedule.model_dump(exclude_none=True))
    anchor = datetime.fromtimestamp((job.activated or job.created) / 1000, UTC)
    if schedule.kind == "rate" and schedule.start is None:
        schedule = Schedule(
            schedule.kind, schedule.expression, schedule.zone, anchor, schedule.end, every=schedule.every
        )
    tick = schedule.next_tick(now or datetime.now(UTC), anchor=anchor)
    return None if tick is None else int(tick.timestamp() * 1000)


def scheduler_arguments(schedule: Schedule) -> dict[str, Any]:
    """``CreateSchedule``'s arguments for the timing: expression, time zone, start and end."""
    arguments: dict[str, Any] = {
        "ScheduleExpression": schedule.expression,
        "ScheduleExpressionTimezone": schedule.zone.key,
    }
    if schedule.start is not None:
        arguments["StartDate"] = schedule.start
    if schedule.end is not None:
        arguments["EndDate"] = schedule.end
    return arguments


def job_schedule_arguments(job: Job) -> dict[str, Any]:
    """``CreateSchedule``'s timing arguments for an activated job. A rate() without a start is
    pinned to the activation, so the ticks stay on the job's grid when its schedule is put again
    (the local stack puts schedules back after a restart)."""
    schedule = parse_schedule(job.schedule.model_dump())
    arguments = scheduler_arguments(schedule)
    if schedule.kind == "rate" and schedule.start is None and job.activated is not None:
        arguments["StartDate"] = datetime.fromtimestamp(job.activated / 1000, UTC)
    return arguments


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise _bad(
            f"schedule timezone {name!r} is not an IANA time zone (for example Europe/Paris)"
        ) from None


def _instant(value: Any, field: str, zone: ZoneInfo) -> datetime | None:
    if value in (None, ""):
        return None
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError:
        raise _bad(f"schedule {field} {value!r} is not an ISO-8601 date and time") from None
    # Without an offset, a time is read in the schedule's time zone, as the console does.
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=zone)


def _rate(value: str, unit: str) -> timedelta:
    if not value.isdigit() or int(value) < 1:
        raise _bad(f"rate() value {value!r} must be a whole number of at least 1")
    count = int(value)
    singular = unit.rstrip("s") if unit.endswith("s") else unit
    if singular not in _UNITS:
        raise _bad(f"rate() unit {unit!r} must be minute(s), hour(s) or day(s)")
    wanted = singular if count == 1 else singular + "s"
    if unit != wanted:
        raise _bad(
            f"rate({value} {unit}) must be written rate({value} {wanted}): singular for 1, plural above"
        )
    return timedelta(seconds=count * _UNITS[singular])


def _cron(inner: str) -> str:
    fields = inner.split()
    if len(fields) != 6:
        raise _bad(
            f"cron() takes 6 fields ({' '.join(_FIELD_NAMES)}), got {len(fields)}: "
            "AWS's cron has a year and no seconds, for example cron(0 3 * * ? *)"
        )
    for name, value, chars in zip(_FIELD_NAMES, fields, _FIELD_CHARS, strict=True):
        if not chars.match(value):
            raise _bad(f"cron() {name} field {value!r} has characters AWS does not allow there")
    minutes, hours, dom, month, dow, year = fields
    if (dom == "?") == (dow == "?"):
        raise _bad(
            "cron() takes '?' in exactly one of day-of-month and day-of-week "
            f"(got {dom!r} and {dow!r}), for example cron(0 3 * * ? *) or cron(0 3 ? * MON *)"
        )
    if "LW" in dom:
        raise _bad("cron() day-of-month 'LW' is not supported by batchgate's scheduler; use 'L' or 'nW'")
    translated = f"{minutes} {hours} {_dom(dom)} {month} {_dow(dow)} 0 {year}"
    try:
        croniter(translated)
    except (ValueError, KeyError) as exc:
        # croniter names its own seven-field form in brackets; the user wrote AWS's six.
        reason = str(exc).split("] ", 1)[-1]
        raise _bad(f"cron({inner}) {reason} (a value out of its field's range, or an unknown name)") from None
    return translated


def _dom(value: str) -> str:
    return "*" if value == "?" else value


def _dow(value: str) -> str:
    """AWS numbers the week 1-7 from Sunday, croniter 0-6; AWS's last-Friday ``6L`` is ``L5``."""
    if value == "?":
        return "*"
    if value == "L":
        return "6"  # a bare L in day-of-week is the week's last day, Saturday
    shifted = _DOW_NUMBER.sub(lambda m: str(int(m.group(1)) - 1), value)
    return re.sub(r"^(\d|[A-Za-z]{3})L$", r"L\1", shifted)


def _at(value: str, zone: ZoneInfo) -> datetime:
    if not _AT_FORMAT.match(value):
        raise _bad(f"at({value}) must be at(yyyy-mm-ddThh:mm:ss), a local time in the schedule's time zone")
    try:
        return datetime.fromisoformat(value).replace(tzinfo=zone)
    except ValueError:
        raise _bad(f"at({value}) is not a real date and time") from None
