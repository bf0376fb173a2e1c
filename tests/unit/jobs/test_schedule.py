"""Schedules as EventBridge Scheduler reads them: what is refused, and when each kind ticks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from batchgate.core.errors import InvalidRequest
from batchgate.jobs.schedule import parse_schedule, scheduler_arguments

PARIS = ZoneInfo("Europe/Paris")
ANCHOR = datetime(2026, 11, 30, 12, 0, 7, tzinfo=UTC)


def ticks(body: dict, after: datetime, n: int = 3, anchor: datetime = ANCHOR) -> list[datetime]:
    schedule = parse_schedule(body)
    out: list[datetime] = []
    while len(out) < n:
        tick = schedule.next_tick(after, anchor=anchor)
        if tick is None:
            break
        out.append(tick)
        after = tick
    return out


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ({"expression": "cron(0 3 * * ?)"}, "cron() takes 6 fields"),
        ({"expression": "cron(0 0 3 * * ? *)"}, "got 7"),
        ({"expression": "cron(0 3 * * MON *)"}, "'?' in exactly one of day-of-month and day-of-week"),
        ({"expression": "cron(0 3 ? * ? *)"}, "'?' in exactly one"),
        ({"expression": "cron(61 3 * * ? *)"}, "out of range"),
        ({"expression": "cron(0 3 * FOO ? *)"}, "cron(0 3 * FOO ? *)"),
        ({"expression": "cron(0 3 ? * MON% *)"}, "day-of-week field 'MON%'"),
        ({"expression": "cron(0 3 LW * ? *)"}, "'LW' is not supported"),
        ({"expression": "rate(1 minutes)"}, "rate(1 minute): singular for 1"),
        ({"expression": "rate(5 minute)"}, "rate(5 minutes)"),
        ({"expression": "rate(0 minutes)"}, "at least 1"),
        ({"expression": "rate(1.5 hours)"}, "whole number"),
        ({"expression": "rate(2 weeks)"}, "minute(s), hour(s) or day(s)"),
        ({"expression": "every 5 minutes"}, "rate(value unit)"),
        ({"expression": ""}, "is not one of"),
        ({"expression": "at(2026-12-01 03:00)"}, "at(yyyy-mm-ddThh:mm:ss)"),
        ({"expression": "at(2026-02-30T03:00:00)"}, "not a real date"),
        ({"expression": "rate(1 hour)", "timezone": "Mars/Olympus"}, "not an IANA time zone"),
        ({"expression": "rate(1 hour)", "start": "tomorrow"}, "start 'tomorrow' is not an ISO-8601"),
        (
            {"expression": "rate(1 hour)", "start": "2026-12-02T00:00:00Z", "end": "2026-12-01T00:00:00Z"},
            "is not after its start",
        ),
        (
            {"expression": "rate(1 hour)", "start": "2026-12-01T00:00:00Z", "end": "2026-12-01T00:00:00Z"},
            "is not after its start",
        ),
    ],
)
def test_a_bad_schedule_is_a_400_that_says_what_is_wrong(body: dict, says: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        parse_schedule(body)
    assert caught.value.code == "BG-400-SCHEDULE"
    assert says in str(caught.value), str(caught.value)


def test_rate_without_start_ticks_from_creation_at_once_then_every_period() -> None:
    got = ticks({"expression": "rate(15 minutes)"}, ANCHOR - timedelta(seconds=1))
    assert got == [ANCHOR, ANCHOR + timedelta(minutes=15), ANCHOR + timedelta(minutes=30)]
    # Asked mid-period, the next tick stays on the anchor's grid.
    later = parse_schedule({"expression": "rate(15 minutes)"}).next_tick(
        ANCHOR + timedelta(minutes=20), anchor=ANCHOR
    )
    assert later == ANCHOR + timedelta(minutes=30)


def test_rate_with_start_and_end_ticks_from_start_and_stops_at_end() -> None:
    body = {"expression": "rate(1 hour)", "start": "2026-12-01T08:00:00", "end": "2026-12-01T10:30:00"}
    got = ticks(body, ANCHOR, n=10)
    start = datetime(2026, 12, 1, 8, tzinfo=UTC)
    assert got == [start, start + timedelta(hours=1), start + timedelta(hours=2)]


def test_cron_is_read_in_its_time_zone_across_daylight_saving() -> None:
    body = {"expression": "cron(0 3 * * ? *)", "timezone": "Europe/Paris"}
    got = ticks(body, datetime(2027, 3, 26, 12, tzinfo=UTC), n=3)
    assert [t.astimezone(PARIS).hour for t in got] == [3, 3, 3]
    # 03:00 in Paris is 02:00 UTC before the change of 28 March 2027, 01:00 UTC after it.
    assert [t.astimezone(UTC).hour for t in got] == [2, 1, 1]


def test_cron_day_of_week_numbers_are_aws_ones_sunday_is_1() -> None:
    after = datetime(2026, 11, 30, tzinfo=UTC)  # a Monday
    sundays = ticks({"expression": "cron(0 9 ? * 1 *)"}, after)
    assert {t.strftime("%a") for t in sundays} == {"Sun"}
    weekdays = ticks({"expression": "cron(30 9 ? * 2-6 *)"}, after, n=7)
    assert [t.strftime("%a") for t in weekdays] == ["Mon", "Tue", "Wed", "Thu", "Fri", "Mon", "Tue"]
    named = ticks({"expression": "cron(0 9 ? * MON-FRI *)"}, after, n=5)
    assert [t.strftime("%a") for t in named] == ["Mon", "Tue", "Wed", "Thu", "Fri"]


def test_cron_last_and_nth_weekdays() -> None:
    after = datetime(2026, 7, 1, tzinfo=UTC)
    last_friday = ticks({"expression": "cron(0 3 ? * 6L *)"}, after, n=2)
    assert [t.date().isoformat() for t in last_friday] == ["2026-07-31", "2026-08-28"]
    second_monday = ticks({"expression": "cron(0 3 ? * 2#2 *)"}, after, n=2)
    assert [t.date().isoformat() for t in second_monday] == ["2026-07-13", "2026-08-10"]
    month_end = ticks({"expression": "cron(0 3 L * ? *)"}, after, n=2)
    assert [t.date().isoformat() for t in month_end] == ["2026-07-31", "2026-08-31"]
    nearest_weekday = ticks({"expression": "cron(0 3 15W * ? *)"}, after, n=2)
    assert [t.date().isoformat() for t in nearest_weekday] == [
        "2026-07-15",
        "2026-08-14",
    ]  # 15 Aug: a Saturday


def test_cron_year_field_ends_the_schedule() -> None:
    got = ticks({"expression": "cron(0 12 1 12 ? 2026)"}, ANCHOR, n=5)
    assert got == [datetime(2026, 12, 1, 12, tzinfo=UTC)]


def test_at_fires_once_in_its_time_zone() -> None:
    body = {"expression": "at(2026-12-24T18:00:00)", "timezone": "America/New_York"}
    got = ticks(body, ANCHOR, n=5)
    assert got == [datetime(2026, 12, 24, 23, tzinfo=UTC)]
    assert ticks(body, datetime(2026, 12, 25, tzinfo=UTC)) == []


def test_scheduler_arguments_carry_expression_zone_start_and_end() -> None:
    schedule = parse_schedule(
        {
            "expression": "cron(0 3 * * ? *)",
            "timezone": "Europe/Paris",
            "start": "2026-12-01T00:00:00",
            "end": "2027-01-01T00:00:00+00:00",
        }
    )
    assert scheduler_arguments(schedule) == {
        "ScheduleExpression": "cron(0 3 * * ? *)",
        "ScheduleExpressionTimezone": "Europe/Paris",
        "StartDate": datetime(2026, 12, 1, tzinfo=PARIS),
        "EndDate": datetime(2027, 1, 1, tzinfo=UTC),
    }
    assert scheduler_arguments(parse_schedule({"expression": "rate(1 day)"})) == {
        "ScheduleExpression": "rate(1 day)",
        "ScheduleExpressionTimezone": "UTC",
    }
