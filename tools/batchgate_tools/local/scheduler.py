"""EventBridge Scheduler, locally: moto stores schedules and never fires them, so this thread reads
the stack's schedule groups every second and starts each due tick's target itself.

It honours what ``batchgate.jobs.schedule`` parses (rate, cron, at, start, end, time zone), the one
parser the API checks schedules with, so what is accepted is what fires. Each tick fires once:

- the last tick fired per schedule is kept in ``{data-dir}/scheduler.json``, written as soon as the
  target has started, and no tick at or before it fires again, across restarts too;
- moto forgets schedules when the stack stops: restart recovery puts back the schedules of active
  jobs, so they are created anew, and ticks that fell while the stack was down are not replayed (a
  laptop closed over the weekend does not start 200 hourly runs);
- a tick found more than ``CATCH_UP_SECONDS`` late (the process was starved) is skipped and
  counted, for the same reason;
- the run id of a tick (Scheduler's ``<aws.scheduler.execution-id>``) and the execution name are
  derived from the schedule and the tick: a tick started twice is one execution and one run.

Drift (when the target started minus the tick) is measured per fire and summed up in the same file.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from batchgate.aws.clients import client
from batchgate.aws.executions import Executions
from batchgate.core.errors import BatchgateError
from batchgate.jobs.schedule import Schedule, parse_schedule

logger = logging.getLogger(__name__)

CATCH_UP_SECONDS = 60
_CATCH_UP = timedelta(seconds=CATCH_UP_SECONDS)
EXECUTION_ID = "<aws.scheduler.execution-id>"
SCHEDULED_TIME = "<aws.scheduler.scheduled-time>"


def tick_run_id(schedule_arn: str, tick: datetime) -> str:
    return hashlib.sha256(f"{schedule_arn}@{tick.astimezone(UTC).isoformat()}".encode()).hexdigest()[:24]


def scheduled_time(tick: datetime) -> str:
    """As Scheduler writes ``<aws.scheduler.scheduled-time>``: UTC, seconds, a Z."""
    return tick.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Drift:
    """Fire time minus tick, in milliseconds, over every fire of this stack's lifetime."""

    count: int = 0
    total_ms: float = 0.0
    max_ms: float = 0.0
    samples: list[float] = field(default_factory=list)

    def add(self, ms: float) -> None:
        self.count += 1
        self.total_ms += ms
        self.max_ms = max(self.max_ms, ms)
        self.samples = [*self.samples[-999:], ms]

    def summary(self) -> dict[str, Any]:
        ordered = sorted(self.samples)
        return {
            "fires": self.count,
            "meanMs": round(self.total_ms / self.count, 1) if self.count else None,
            "p50Ms": round(ordered[len(ordered) // 2], 1) if ordered else None,
            "maxMs": round(self.max_ms, 1) if self.count else None,
        }


@dataclass
class _Known:
    """A schedule as last read, with its parsed timing (re-read when it is modified)."""

    modified: datetime
    detail: dict[str, Any]
    timing: Schedule | None  # None: an expression the parser refuses (logged once)


class LocalScheduler(threading.Thread):
    def __init__(
        self, groups: list[str], state_path: Path, stop: threading.Event, period: float = 0.5
    ) -> None:
        super().__init__(name="local-scheduler", daemon=True)
        self.groups = groups
        self.state_path = state_path
        self.stop_event = stop
        self.period = period
        self.known: dict[str, _Known] = {}
        self.drift = Drift()
        self.fired: dict[str, str] = {}  # schedule ARN -> last tick fired (ISO-8601)
        self.skipped = 0
        if state_path.exists():
            saved = json.loads(state_path.read_text())
            self.fired = dict(saved.get("fired", {}))

    def run(self) -> None:
        while not self.stop_event.wait(self.period):
            try:
                self.tick(datetime.now(UTC))
            except Exception as exc:  # a bad moment of moto's must not end the scheduler
                if self.stop_event.is_set():
                    return
                logger.warning("local scheduler pass failed: %s", exc)

    # -- one pass -----------------------------------------------------------------------
    def tick(self, now: datetime) -> int:
        """Fire every schedule's due tick; how many fired."""
        fired = 0
        for summary in self._schedules():
            if summary.get("State") != "ENABLED":
                continue
            known = self._read(summary)
            if known.timing is None:
                continue
            fired += self._fire_due(known, now)
        return fired

    def _schedules(self) -> list[dict[str, Any]]:
        scheduler = client("scheduler")
        out: list[dict[str, Any]] = []
        for group in self.groups:
            kwargs: dict[str, Any] = {"GroupName": group}
            while True:
                page = scheduler.list_schedules(**kwargs)
                out.extend(page.get("Schedules", []))
                if not page.get("NextToken"):
                    break
                kwargs["NextToken"] = page["NextToken"]
        return out

    def _read(self, summary: dict[str, Any]) -> _Known:
        arn = summary["Arn"]
        known = self.known.get(arn)
        if known is not None and known.modified == summary["LastModificationDate"]:
            return known
        detail = client("scheduler").get_schedule(Name=summary["Name"], GroupName=summary["GroupName"])
        timing: Schedule | None
        try:
            timing = parse_schedule(
                {
                    "expression": detail["ScheduleExpression"],
                    "timezone": detail.get("ScheduleExpressionTimezone") or "UTC",
                    "start": _iso(detail.get("StartDate")),
                    "end": _iso(detail.get("EndDate")),
                }
            )
        except BatchgateError as exc:
            logger.warning("schedule %s cannot fire locally: %s", arn, exc)
            timing = None
        known = _Known(summary["LastModificationDate"], detail, timing)
        self.known[arn] = known
        return known

    def _fire_due(self, known: _Known, now: datetime) -> int:
        detail, timing = known.detail, known.timing
        assert timing is not None
        arn = detail["Arn"]
        created = detail["CreationDate"].astimezone(UTC)
        after = created - timedelta(microseconds=1)
        if timing.start is not None:
            # A start a moment before the schedule was created (ACTIVATE pins a rate() to its own
            # instant) is a tick to fire now; one from long ago is not replayed.
            after = max(min(after, timing.start - timedelta(microseconds=1)), created - _CATCH_UP)
        if arn in self.fired:
            after = max(after, datetime.fromisoformat(self.fired[arn]))
        tick = timing.next_tick(after, anchor=created)
        if tick is None or tick > now:
            return 0
        if now - tick > _CATCH_UP:
            # Missed while the stack was down: skip to the latest tick, fire nothing.
            missed = 0
            while tick is not None and tick <= now:
                latest, missed = tick, missed + 1
                tick = timing.next_tick(latest, anchor=created)
            self.skipped += missed
            logger.warning(
                "schedule %s: %d tick(s) missed while the stack was down, not replayed", arn, missed
            )
            self._remember(arn, latest)
            return 0
        self._start(detail, tick)
        self.drift.add((datetime.now(UTC) - tick).total_seconds() * 1000)
        self._remember(arn, tick)
        return 1

    def _start(self, detail: dict[str, Any], tick: datetime) -> None:
        target = detail["Target"]
        run_id = tick_run_id(detail["Arn"], tick)
        text = (target.get("Input") or "{}").replace(EXECUTION_ID, run_id)
        text = text.replace(SCHEDULED_TIME, scheduled_time(tick))
        if not target["Arn"].startswith("arn:aws:states:"):
            logger.warning(
                "schedule %s targets %s: only state machines fire locally", detail["Arn"], target["Arn"]
            )
            return
        _, started = Executions().start(target["Arn"], f"sched-{run_id}", json.loads(text))
        if not started:
            return  # the same tick, started before: one execution
        logger.info("schedule %s fired its tick %s (run %s)", detail["Arn"], scheduled_time(tick), run_id)

    def _remember(self, arn: str, tick: datetime) -> None:
        self.fired[arn] = tick.astimezone(UTC).isoformat()
        state = {"fired": self.fired, "drift": self.drift.summary(), "skippedTicks": self.skipped}
        tmp = self.state_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(state, indent=2))
        tmp.replace(self.state_path)


def _iso(value: Any) -> str | None:
    return value.astimezone(UTC).isoformat() if isinstance(value, datetime) else None
