"""The local scheduler against moto's EventBridge Scheduler and Step Functions: which ticks fire,
once each, across a restart, and what is never replayed. Time is passed in, never waited for."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from batchgate_tools.local.scheduler import LocalScheduler, scheduled_time, tick_run_id
from tests.conftest import TemplateAws

ROLE = "arn:aws:iam::123456789012:role/batchgate-job-scheduler-role"
INPUT = {"jobId": "j1", "trigger": "schedule", "runId": "<aws.scheduler.execution-id>",
         "scheduledTime": "<aws.scheduler.scheduled-time>"}  # fmt: skip


class World:
    def __init__(self, aws: TemplateAws, tmp: Path) -> None:
        self.aws = aws
        self.scheduler = aws.client("scheduler")
        self.sfn = aws.client("stepfunctions")
        self.machine = aws.state_machines()["JobRunStateMachine"]
        self.group = aws.resolver.physical_name("JobScheduleGroup")
        self.state = tmp / "scheduler.json"

    def put(self, name: str, expression: str, **extra: Any) -> str:
        arn: str = self.scheduler.create_schedule(
            Name=name, GroupName=self.group, ScheduleExpression=expression,
            FlexibleTimeWindow={"Mode": "OFF"},
            Target={"Arn": self.machine, "RoleArn": ROLE, "Input": json.dumps(INPUT)}, **extra,
        )["ScheduleArn"]  # fmt: skip
        return arn

    def local(self) -> LocalScheduler:
        return LocalScheduler([self.group], self.state, threading.Event())

    def inputs(self) -> list[dict[str, Any]]:
        out = []
        for e in self.sfn.list_executions(stateMachineArn=self.machine)["executions"]:
            out.append(json.loads(self.sfn.describe_execution(executionArn=e["executionArn"])["input"]))
        return sorted(out, key=lambda i: i["scheduledTime"])


@pytest.fixture
def world(template_aws: TemplateAws, tmp_path: Path) -> World:
    return World(template_aws, tmp_path)


def test_a_rate_pinned_to_its_activation_fires_at_once_then_every_period_each_tick_once(world: World) -> None:
    start = datetime.now(UTC).replace(microsecond=0)
    arn = world.put("job-a", "rate(5 minutes)", StartDate=start)
    local = world.local()
    assert local.tick(start + timedelta(seconds=1)) == 1
    assert local.tick(start + timedelta(seconds=2)) == 0, "the same tick twice"
    assert local.tick(start + timedelta(minutes=4)) == 0, "the next tick is not due yet"
    assert local.tick(start + timedelta(minutes=5, seconds=1)) == 1
    fired = world.inputs()
    assert [f["scheduledTime"] for f in fired] == [
        scheduled_time(start),
        scheduled_time(start + timedelta(minutes=5)),
    ]
    assert fired[0]["runId"] == tick_run_id(arn, start) and fired[0]["jobId"] == "j1"
    assert fired[0]["runId"] != fired[1]["runId"]
    saved = json.loads(world.state.read_text())
    assert saved["fired"][arn] == (start + timedelta(minutes=5)).isoformat()
    assert saved["drift"]["fires"] == 2


def test_after_a_restart_a_fired_tick_does_not_fire_again_and_missed_ticks_are_not_replayed(
    world: World,
) -> None:
    start = datetime.now(UTC).replace(microsecond=0)
    world.put("job-b", "rate(1 minute)", StartDate=start)
    assert world.local().tick(start + timedelta(seconds=1)) == 1
    again = world.local()  # a new process reading the same data directory
    assert again.tick(start + timedelta(seconds=3)) == 0
    # Ten minutes later (the stack was starved, or the clock jumped): one skip, no burst.
    assert again.tick(start + timedelta(minutes=10, seconds=30)) == 0
    assert again.skipped == 10
    assert again.tick(start + timedelta(minutes=11, seconds=1)) == 1
    assert len(world.inputs()) == 2


def test_cron_in_its_time_zone_at_once_end_and_disabled_schedules(world: World) -> None:
    now = datetime.now(UTC)
    # A cron that ticks at the next whole minute, written in Tokyo time.
    nxt = (now + timedelta(minutes=1)).replace(second=0, microsecond=0)
    tokyo = nxt.astimezone(ZoneInfo("Asia/Tokyo"))
    world.put("job-c", f"cron({tokyo.minute} {tokyo.hour} * * ? *)", ScheduleExpressionTimezone="Asia/Tokyo")
    at = (now + timedelta(minutes=2)).replace(microsecond=0)
    world.put("job-at", f"at({at.strftime('%Y-%m-%dT%H:%M:%S')})")  # UTC by default
    world.put(
        "job-ended",
        "rate(1 minute)",
        StartDate=now - timedelta(minutes=5),
        EndDate=now - timedelta(minutes=2),
    )
    world.put("job-off", "rate(1 minute)", StartDate=now, State="DISABLED")
    local = world.local()
    assert local.tick(nxt - timedelta(seconds=1)) == 0
    assert local.tick(nxt + timedelta(seconds=1)) == 1
    assert local.tick(at + timedelta(seconds=1)) == 1
    assert local.tick(at + timedelta(minutes=5)) == 0, "at() fires once; the ended and disabled never"
    assert [f["scheduledTime"] for f in world.inputs()] == [scheduled_time(nxt), scheduled_time(at)]


def test_an_expression_the_parser_refuses_is_skipped_not_fatal(world: World) -> None:
    now = datetime.now(UTC)
    world.put("job-odd", "cron(0 3 LW * ? *)")
    world.put("job-ok", "rate(1 minute)", StartDate=now)
    assert world.local().tick(now + timedelta(seconds=1)) == 1
