"""What ``batchgate jobs …`` prints: jobs, runs and their steps as tables (``--json`` prints the
API's JSON instead, in job_commands.py). Times are UTC, ISO-8601 as ``output.when`` writes them."""

from __future__ import annotations

import json
from typing import Any

from batchgate_tools.cli.output import fields, table, when

MESSAGE_WIDTH = 60


def duration(started: int | None, ended: int | None) -> str:
    """``ended - started`` (milliseconds) for people: 0.4s, 12.0s, 3m05s, 2h10m; empty while open."""
    if not started or not ended:
        return ""
    seconds = max(ended - started, 0) / 1000
    if seconds < 60:
        return f"{seconds:.1f}s"
    whole = int(seconds)
    if whole < 3600:
        return f"{whole // 60}m{whole % 60:02d}s"
    return f"{whole // 3600}h{whole % 3600 // 60:02d}m"


def value(v: Any) -> str:
    """An attribute's value: text as it is, anything else as JSON."""
    return v if isinstance(v, str) else json.dumps(v, sort_keys=True)


def short(text: str | None, width: int = MESSAGE_WIDTH) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= width else text[: width - 1] + "…"


def metrics(m: dict[str, Any] | None) -> str:
    return " ".join(f"{k}={v}" for k, v in (m or {}).items())


def workflows_text(found: list[dict[str, Any]]) -> str:
    blocks = []
    for w in found:
        rows = [
            [
                a.get("name"),
                a.get("type") + (f" ({'|'.join(a['enum'])})" if a.get("enum") else ""),
                "yes" if a.get("required") else "",
                "" if a.get("default") is None else value(a["default"]),
                a.get("description"),
            ]
            for a in w.get("attributes") or []
        ]
        blocks.append(
            f"{w.get('name')}\n  {w.get('description')}\n"
            f"  steps: {' → '.join(w.get('steps') or [])}\n\n"
            + table(["ATTRIBUTE", "TYPE", "REQUIRED", "DEFAULT", "DESCRIPTION"], rows)
        )
    return "\n\n".join(blocks)


def jobs_table(found: list[dict[str, Any]]) -> str:
    rows = [
        [
            j["id"],
            j.get("name"),
            j.get("workflow"),
            j.get("status"),
            (j.get("schedule") or {}).get("expression"),
            (j.get("schedule") or {}).get("timezone"),
            j.get("runningRun") and "running",
            when(j.get("updated")),
        ]
        for j in found
    ]
    header = ["ID", "NAME", "WORKFLOW", "STATUS", "SCHEDULE", "TIMEZONE", "RUN", "UPDATED"]
    return table(header, rows) + f"\n({len(rows)} jobs)"


def run_summary(run: dict[str, Any] | None) -> str:
    """One line for a job's last run: id, status, trigger, start and duration."""
    if not run:
        return "never run"
    took = duration(run.get("started"), run.get("ended"))
    return (
        f"{run['id']} {run.get('status')} ({run.get('trigger')}, started {when(run.get('started'))}"
        + (f", took {took}" if took else "")
        + ")"
    )


def job_details(
    job: dict[str, Any], last_run: dict[str, Any] | None = None, *, with_run: bool = False
) -> str:
    schedule = job.get("schedule") or {}
    pairs: list[tuple[str, Any]] = [
        ("id", job.get("id")),
        ("name", job.get("name")),
        ("description", job.get("description")),
        ("workflow", job.get("workflow")),
        ("status", job.get("status")),
        ("schedule", schedule.get("expression")),
        ("start", schedule.get("start")),
        ("end", schedule.get("end")),
        ("timezone", schedule.get("timezone")),
        ("created", f"{when(job.get('created'))} by {job.get('createdUser')}"),
        ("updated", f"{when(job.get('updated'))} by {job.get('updatedUser')}"),
    ]
    if with_run:
        pairs.append(("running", job.get("runningRun")))
        pairs.append(("last run", run_summary(last_run)))
    rows = [[k, value(v)] for k, v in (job.get("attributes") or {}).items()]
    return fields(pairs) + "\n\n" + table(["ATTRIBUTE", "VALUE"], rows)


def runs_table(found: list[dict[str, Any]]) -> str:
    rows = [
        [
            r["id"],
            r.get("jobName"),
            r.get("trigger"),
            r.get("status"),
            when(r.get("started")),
            when(r.get("ended")),
            duration(r.get("started"), r.get("ended")),
            ",".join(r.get("batches") or []),
            short(r.get("message")),
        ]
        for r in found
    ]
    header = ["RUN", "JOB", "TRIGGER", "STATUS", "STARTED", "ENDED", "DURATION", "BATCHES", "MESSAGE"]
    return table(header, rows) + f"\n({len(rows)} runs)"


def run_details(run: dict[str, Any]) -> str:
    head = fields(
        [
            ("id", run.get("id")),
            ("job", f"{run.get('jobName')} ({run.get('jobId')})"),
            ("workflow", run.get("workflow")),
            ("trigger", run.get("trigger")),
            ("status", run.get("status")),
            ("scheduled", run.get("scheduledTime")),
            ("started", when(run.get("started"))),
            ("ended", when(run.get("ended"))),
            ("duration", duration(run.get("started"), run.get("ended"))),
            ("batches", ", ".join(run.get("batches") or [])),
            ("message", run.get("message")),
        ]
    )
    steps = [
        [
            s.get("name"),
            s.get("status"),
            when(s.get("started")),
            when(s.get("ended")),
            duration(s.get("started"), s.get("ended")),
            s.get("message"),
            metrics(s.get("metrics")),
        ]
        for s in run.get("steps") or []
    ]
    out = (
        head + "\n\n" + table(["STEP", "STATUS", "STARTED", "ENDED", "DURATION", "MESSAGE", "METRICS"], steps)
    )
    errors = run.get("errors") or []
    if errors:
        rows = [
            [
                e.get("code"),
                " ".join(f"{k}={e[k]}" for k in ("file", "row", "field") if e.get(k) is not None),
                e.get("message") or e.get("description"),
            ]
            for e in errors
        ]
        out += "\n\n" + table(["ERROR", "WHERE", "MESSAGE"], rows)
    return out
