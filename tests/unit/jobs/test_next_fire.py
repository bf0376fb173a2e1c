"""A job's ``nextFire``: the next tick of an active job's schedule (the dashboard shows it)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from batchgate.jobs.models import Job, JobSchedule
from batchgate.jobs.schedule import next_fire

CREATED = datetime(2026, 11, 30, 12, 0, 0, tzinfo=UTC)
ACTIVATED = datetime(2026, 11, 30, 12, 0, 7, tzinfo=UTC)


def ms(d: datetime) -> int:
    return int(d.timestamp() * 1000)


def job(expression: str, status: str = "active", **schedule: Any) -> Job:
    return Job(
        id="j1",
        org="o",
        sandbox="s",
        name="n",
        workflow="ingest-s3",
        schedule=JobSchedule(expression=expression, **schedule),
        status=status,
        created=ms(CREATED),
        updated=ms(CREATED),
        createdUser="u",
        updatedUser="u",
        activated=ms(ACTIVATED),
    )


def test_an_inactive_job_has_no_next_fire() -> None:
    assert next_fire(job("rate(1 hour)", status="inactive")) is None
    assert job("rate(1 hour)", status="inactive").to_api()["nextFire"] is None


def test_a_rate_ticks_from_its_activation() -> None:
    now = datetime(2026, 11, 30, 14, 30, tzinfo=UTC)
    assert next_fire(job("rate(1 hour)"), now) == ms(datetime(2026, 11, 30, 15, 0, 7, tzinfo=UTC))


def test_a_cron_ticks_in_its_time_zone() -> None:
    now = datetime(2026, 11, 30, 14, 30, tzinfo=UTC)
    fire = next_fire(job("cron(0 3 * * ? *)", timezone="Europe/Paris"), now)
    assert fire == ms(datetime(2026, 12, 1, 2, 0, tzinfo=UTC))  # 03:00 in Paris is 02:00 UTC in winter


def test_a_schedule_past_its_end_or_at_has_none() -> None:
    now = datetime(2026, 12, 5, tzinfo=UTC)
    assert next_fire(job("at(2026-12-01T00:00:00)"), now) is None
    assert next_fire(job("rate(1 day)", end="2026-12-02T00:00:00"), now) is None
    assert next_fire(job("at(2026-12-09T10:00:00)"), now) == ms(datetime(2026, 12, 9, 10, tzinfo=UTC))
