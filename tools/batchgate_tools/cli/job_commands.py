"""``batchgate jobs …``: scheduled jobs and their runs from the command line (through the SDK).

A job is named by its id or its name wherever one is taken. Connection settings as for every API
command (api_commands.CONNECTION_ENV). ``create`` and ``edit`` build the body from ``--file`` and
the flags (flags win); ``edit`` merges what it is given into the job as it is, so
``--attr prefix=2026/`` changes one attribute and keeps the others.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from batchgate_tools.cli import job_output, output
from batchgate_tools.cli.api_commands import EXIT_FAILED, EXIT_OK, _parser, connection_options
from batchgate_tools.cli.connection import CliError, api_client, guard
from batchgate_tools.client import Client, ClientError

ATTR_HELP = (
    "an attribute as key=value; repeat for several. The value is JSON when it parses (7, true, "
    '{"delimiter": ";"}, null for the default), else text; an attribute the workflow types as a '
    "string always takes the text as written"
)
FILE_HELP = (
    'a JSON body: {"name", "description", "workflow", "attributes": {...}, "schedule": {"expression", '
    '"start", "end", "timezone"}}; flags override what it says'
)
SCHEDULE_FIELDS = ("expression", "start", "end", "timezone")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    conn = connection_options()
    shown = argparse.ArgumentParser(add_help=False)
    shown.add_argument("--json", action="store_true", help="print the API's JSON instead of a table")

    jobs = _parser(
        sub,
        "jobs",
        help="scheduled jobs and their runs",
        description="A job runs a workflow (`batchgate jobs workflows`) with its attribute values on an "
        "EventBridge Scheduler schedule. JOB is a job's id or its name.",
    ).add_subparsers(dest="jobs_command", required=True)

    wf = _parser(
        jobs, "workflows", parents=[conn, shown], help="the workflows a job can run, and their attributes"
    )
    wf.set_defaults(func=cmd_workflows)

    jc = _parser(
        jobs,
        "create",
        parents=[conn, shown],
        help="create a job (inactive)",
        description="`batchgate jobs create --name hourly --workflow ingest-s3 --attr datasetId=DS "
        "--attr bucket=partner-drop --attr prefix=exports/ --attr format=csv --schedule 'rate(1 hour)'`",
    )
    jc.add_argument("--name", help="the job's name, unique in the sandbox")
    jc.add_argument("--workflow", help="ingest-s3, ingest-http or export-feed (`batchgate jobs workflows`)")
    _body_options(jc)
    jc.set_defaults(func=cmd_create)

    jl = _parser(jobs, "list", parents=[conn, shown], help="list jobs, newest first")
    jl.add_argument("--name")
    jl.add_argument("--status", choices=("active", "inactive"))
    jl.add_argument("--workflow")
    jl.set_defaults(func=cmd_list)

    js = _parser(jobs, "show", parents=[conn, shown], help="show a job: schedule, attributes, last run")
    js.add_argument("job", metavar="JOB", help="the job's id or name")
    js.set_defaults(func=cmd_show)

    je = _parser(
        jobs,
        "edit",
        parents=[conn, shown],
        help="change an inactive job's description, attributes or schedule",
        description="Only what is given changes: --attr merges into the attributes, --schedule / --start / "
        "--end / --timezone into the schedule (an empty --start or --end removes it). An active job "
        "answers BG-409-JOB-ACTIVE: deactivate it first.",
    )
    je.add_argument("job", metavar="JOB", help="the job's id or name")
    _body_options(je)
    je.set_defaults(func=cmd_edit)

    for name, help_text in (
        ("activate", "switch the job's schedule on"),
        ("deactivate", "switch the job's schedule off"),
    ):
        p = _parser(jobs, name, parents=[conn, shown], help=help_text)
        p.add_argument("job", metavar="JOB", help="the job's id or name")
        p.set_defaults(func=cmd_switch, action=name)

    jr = _parser(
        jobs,
        "run",
        parents=[conn, shown],
        help="run a job now (trigger manual)",
        description="Prints the run's id; with --wait, polls until the run ends and prints it with its "
        "steps. Exit codes: 0 started (or succeeded with --wait), 1 the run failed or was skipped "
        "(another run of the job was going), 2 an error.",
    )
    jr.add_argument("job", metavar="JOB", help="the job's id or name")
    jr.add_argument("--wait", action="store_true", help="wait for the run to end and print it")
    jr.add_argument("--timeout", type=float, default=600.0, help="seconds to wait (default 600)")
    jr.set_defaults(func=cmd_run)

    jd = _parser(jobs, "delete", parents=[conn], help="delete an inactive job (its runs stay in the history)")
    jd.add_argument("job", metavar="JOB", help="the job's id or name")
    jd.set_defaults(func=cmd_delete)

    jh = _parser(jobs, "runs", parents=[conn, shown], help="run history, newest first")
    jh.add_argument("--job", metavar="JOB", help="one job's runs: its id or name (a deleted job's name too)")
    jh.add_argument("--status", choices=("running", "success", "failed", "skipped"))
    jh.add_argument("--limit", type=int, default=20)
    jh.add_argument("--start", type=int, default=0, help="skip this many runs (paging)")
    jh.set_defaults(func=cmd_runs)

    rs = _parser(jobs, "run-show", parents=[conn, shown], help="show a run and its steps")
    rs.add_argument("run", metavar="RUN", help="the run's id")
    rs.set_defaults(func=cmd_run_show)


def _body_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--file", type=Path, help=FILE_HELP)
    p.add_argument("--description")
    p.add_argument("--attr", action="append", default=[], metavar="KEY=VALUE", help=ATTR_HELP)
    p.add_argument(
        "--schedule",
        metavar="EXPR",
        help="EventBridge Scheduler's expression: 'rate(15 minutes)', 'cron(0 3 * * ? *)' (6 fields), "
        "'at(2026-12-01T03:00:00)'",
    )
    p.add_argument("--start", help="ISO-8601: no tick before it")
    p.add_argument("--end", help="ISO-8601: no tick after it")
    p.add_argument("--timezone", help="an IANA time zone for cron() and at() (default UTC)")


# -- building bodies ------------------------------------------------------------------------
def parse_attrs(items: list[str]) -> list[tuple[str, str, Any]]:
    """``key=value`` → (key, the text, its value: JSON when it parses, else the text)."""
    out = []
    for item in items:
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise CliError(f"--attr {item!r} is not KEY=VALUE (for example --attr prefix=exports/)")
        try:
            parsed: Any = json.loads(text)
        except ValueError:
            parsed = text
        out.append((key.strip(), text, parsed))
    return out


def typed_attrs(client: Client, workflow: str | None, items: list[str]) -> dict[str, Any]:
    """The ``--attr`` values; an attribute the workflow declares as a string keeps its text
    (``--attr prefix=2026`` is the prefix "2026", not the number), except ``null`` (its default)."""
    parsed = parse_attrs(items)
    if not parsed:
        return {}
    types = {
        a["name"]: a["type"]
        for w in client.workflows()
        if w["name"] == workflow
        for a in w.get("attributes") or []
    }
    return {
        key: text if types.get(key) == "string" and value is not None else value
        for key, text, value in parsed
    }


def read_file(path: Path | None) -> dict[str, Any]:
    if path is None:
        return {}
    try:
        doc = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise CliError(f"{path} is not JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise CliError(f"{path} must hold a JSON object (a job body), not {type(doc).__name__}")
    return doc


def schedule_flags(args: argparse.Namespace) -> dict[str, Any]:
    given = {"expression": args.schedule, "start": args.start, "end": args.end, "timezone": args.timezone}
    # An empty --start / --end says "none"; None means the flag was not given.
    return {k: (v or None) for k, v in given.items() if v is not None}


def file_schedule(doc: dict[str, Any]) -> dict[str, Any]:
    schedule = doc.get("schedule")
    if schedule is None:
        return {}
    if isinstance(schedule, str):
        return {"expression": schedule}
    if not isinstance(schedule, dict):
        raise CliError(
            '"schedule" in the file must be an expression or {"expression", "start", "end", "timezone"}'
        )
    return dict(schedule)


def file_attributes(doc: dict[str, Any]) -> dict[str, Any]:
    attributes = doc.get("attributes") or {}
    if not isinstance(attributes, dict):
        raise CliError('"attributes" in the file must be a JSON object')
    return dict(attributes)


# -- commands ---------------------------------------------------------------------------------
def _print(args: argparse.Namespace, doc: Any, text: str) -> int:
    print(output.as_json(doc) if args.json else text)
    return EXIT_OK


@guard
def cmd_workflows(args: argparse.Namespace) -> int:
    found = api_client(args).workflows()
    return _print(args, found, job_output.workflows_text(found))


@guard
def cmd_create(args: argparse.Namespace) -> int:
    client = api_client(args)
    doc = read_file(args.file)
    name = args.name or doc.get("name")
    workflow = args.workflow or doc.get("workflow")
    if not name:
        raise CliError('give the job a name: --name or "name" in --file')
    if not workflow:
        raise CliError(
            'give the job a workflow: --workflow or "workflow" in --file (`batchgate jobs workflows`)'
        )
    schedule = {k: v for k, v in {**file_schedule(doc), **schedule_flags(args)}.items() if v is not None}
    if not schedule.get("expression"):
        raise CliError("give the job a schedule: --schedule 'rate(1 hour)' (or \"schedule\" in --file)")
    attributes = {**file_attributes(doc), **typed_attrs(client, workflow, args.attr)}
    description = args.description if args.description is not None else doc.get("description", "")
    job = client.create_job(name, workflow, attributes, schedule, description=description)
    return _print(args, job, job_output.job_details(job))


@guard
def cmd_list(args: argparse.Namespace) -> int:
    found = api_client(args).jobs(name=args.name, status=args.status, workflow=args.workflow)
    return _print(args, found, job_output.jobs_table(found))


@guard
def cmd_show(args: argparse.Namespace) -> int:
    client = api_client(args)
    job = client.job(args.job)
    if args.json:
        return _print(args, job, "")
    newest = client.runs(job_id=job["id"], limit=1)
    return _print(args, job, job_output.job_details(job, newest[0] if newest else None, with_run=True))


@guard
def cmd_edit(args: argparse.Namespace) -> int:
    client = api_client(args)
    doc = read_file(args.file)
    job = client.job(args.job)
    changes: dict[str, Any] = {k: doc[k] for k in ("name", "workflow") if k in doc}
    description = args.description if args.description is not None else doc.get("description")
    if description is not None:
        changes["description"] = description
    given_attrs = {**file_attributes(doc), **typed_attrs(client, job["workflow"], args.attr)}
    if given_attrs:
        changes["attributes"] = {**(job.get("attributes") or {}), **given_attrs}
    given_schedule = {**file_schedule(doc), **schedule_flags(args)}
    if given_schedule:
        merged = {**(job.get("schedule") or {}), **given_schedule}
        changes["schedule"] = {k: v for k, v in merged.items() if k in SCHEDULE_FIELDS and v is not None}
    if not changes:
        raise CliError(
            "nothing to change: give --description, --attr, --schedule, --start, --end, --timezone or --file"
        )
    edited = client.edit_job(job["id"], **changes)
    return _print(args, edited, job_output.job_details(edited))


@guard
def cmd_switch(args: argparse.Namespace) -> int:
    client = api_client(args)
    job = client.activate_job(args.job) if args.action == "activate" else client.deactivate_job(args.job)
    return _print(args, job, job_output.job_details(job))


@guard
def cmd_delete(args: argparse.Namespace) -> int:
    client = api_client(args)
    job = client.job(args.job)
    client.delete_job(job["id"])
    print(f"deleted job {job['id']} ({job['name']})")
    return EXIT_OK


class RunProgress:
    """``waiting: running (step copy)`` on stderr, redrawn in place."""

    def __call__(self, run: dict[str, Any]) -> None:
        steps = run.get("steps") or []
        where = f" (step {steps[-1]['name']})" if steps else ""
        sys.stderr.write(f"\rwaiting: {run['status']}{where:<24}")
        if run["status"] != "running":
            sys.stderr.write("\n")
        sys.stderr.flush()


@guard
def cmd_run(args: argparse.Namespace) -> int:
    client = api_client(args)
    run_id = client.run_job(args.job)
    if not args.wait:
        print(output.as_json({"runId": run_id}) if args.json else run_id)
        return EXIT_OK
    print(f"run {run_id} started", file=sys.stderr)
    run = client.wait_run(run_id, timeout=args.timeout, progress=RunProgress())
    _print(args, run, job_output.run_details(run))
    return EXIT_OK if run["status"] == "success" else EXIT_FAILED


@guard
def cmd_runs(args: argparse.Namespace) -> int:
    client = api_client(args)
    job_id = job_name = None
    if args.job:
        try:
            job_id = client.job(args.job)["id"]
        except ClientError as exc:
            if exc.status != 404:
                raise
            job_name = args.job  # a deleted job's runs stay in the history under its name
    found = client.runs(
        job_id=job_id, job_name=job_name, status=args.status, limit=args.limit, start=args.start
    )
    return _print(args, found, job_output.runs_table(found))


@guard
def cmd_run_show(args: argparse.Namespace) -> int:
    run = api_client(args).run(args.run)
    return _print(args, run, job_output.run_details(run))
