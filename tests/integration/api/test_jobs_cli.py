"""Scheduled jobs through the SDK and ``batchgate jobs …``, against the API function in process.

The job-run state machine records its executions here without running them; ``play_run`` plays
it with its own tasks (``workflow/job_run.py``) on the execution's input, as the task worker
would, so the runs, steps and metrics the CLI prints are the ones a real run writes.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

from batchgate.aws.job_store import JobStore
from batchgate.settings import settings
from batchgate.workflow import job_run
from batchgate.workflow.context import TaskContext
from batchgate_tools.cli.job_commands import parse_attrs
from batchgate_tools.client import Client, ClientError
from tests.integration.api.harness import Aws

Cli = Callable[[Sequence[str]], int]
SOURCE = "partner-drop"
SCHEMA = {"fields": [{"name": "id", "type": "string", "required": True}]}


@pytest.fixture
def dataset(client: Client, aws: Aws) -> str:
    aws.s3.create_bucket(Bucket=SOURCE)
    return client.create_dataset("people", SCHEMA)


def job_store(aws: Aws) -> JobStore:
    return JobStore(aws.template.table)


def drop(aws: Aws, *names: str) -> None:
    for name in names:
        aws.s3.put_object(Bucket=SOURCE, Key=f"exports/{name}", Body=b'{"id": "1"}\n{"id": "2"}\n')


def play_run(aws: Aws, run_id: str, batch_status: str = "success", *, only_start: bool = False) -> None:
    """The job-run machine for the execution RUN started: Start, Prepare, and, when there is
    something new, CreateBatch, Copy, Complete, the batch reaching ``batch_status`` (as the
    complete machine would leave it), CheckBatch; then Finish. ``only_start``: the run stops
    after Start, holding the job's lock, as a run in the middle of its work does."""
    arn = settings().job_run_state_machine_arn
    assert arn
    (execution,) = [
        e for e in aws.sfn.list_executions(stateMachineArn=arn)["executions"] if e["name"] == f"run-{run_id}"
    ]
    state = json.loads(aws.sfn.describe_execution(executionArn=execution["executionArn"])["input"])
    ctx = TaskContext.create(settings())
    if not job_run.job_start(ctx, state)["go"] or only_start:
        return
    if job_run.job_prepare(ctx, state)["files"]:
        made = job_run.job_create_batch(ctx, state)
        if made["files"]:
            job_run.job_copy(ctx, state)
            job_run.job_complete(ctx, state)
            b = aws.store.get_batch(state["org"], state["sandbox"], made["batchId"])
            aws.store.save_batch(
                b.model_copy(update={"status": batch_status}),
                expected_status=b.status,
                expected_version=b.version,
            )
            assert job_run.job_check_batch(ctx, state)["final"]
    job_run.job_finish(ctx, state)


def one_line_error(err: str) -> str:
    assert err.endswith("\n") and err.count("\n") == 1, err
    return err.strip()


def create_args(dataset: str, name: str = "hourly", *extra: str) -> list[str]:
    return [
        "jobs", "create", "--name", name, "--workflow", "ingest-s3",
        "--attr", f"datasetId={dataset}", "--attr", f"bucket={SOURCE}", "--attr", "prefix=exports/",
        "--attr", "format=json", "--schedule", "cron(0 3 * * ? *)", "--timezone", "Europe/Paris",
        *extra,
    ]  # fmt: skip


# -- SDK ------------------------------------------------------------------------------------------
def test_sdk_jobs_by_id_or_name_and_runs(client: Client, aws: Aws, dataset: str) -> None:
    kinds = {w["name"]: w for w in client.workflows()}
    assert {"ingest-s3", "ingest-http", "export-feed"} <= set(kinds)
    assert [a["name"] for a in kinds["export-feed"]["attributes"]] == ["feedId", "mode"]
    attrs = {"datasetId": dataset, "bucket": SOURCE, "prefix": "exports/", "format": "json"}
    job = client.create_job("hourly", "ingest-s3", attrs, "rate(1 hour)", description="partner files")
    assert job["status"] == "inactive" and job["schedule"] == {
        "expression": "rate(1 hour)",
        "timezone": "UTC",
    }
    assert client.job("hourly") == client.job(job["id"]) == job
    assert [j["id"] for j in client.jobs(name="hourly")] == [job["id"]]
    assert client.jobs(status="active") == [] and client.jobs(workflow="ingest-http") == []
    assert client.edit_job("hourly", description="the partner's drop")["description"] == "the partner's drop"
    assert client.activate_job("hourly")["status"] == "active"
    with pytest.raises(ClientError) as info:
        client.edit_job(job["id"], description="no")
    assert info.value.status == 409 and info.value.code == "BG-409-JOB-ACTIVE"
    assert client.deactivate_job(job["id"])["status"] == "inactive"

    drop(aws, "a.json", "b.json")
    run_id = client.run_job("hourly")
    assert client.run(run_id)["status"] == "running"
    play_run(aws, run_id)
    done = client.wait_run(run_id, timeout=5)
    assert done["status"] == "success" and done["trigger"] == "manual" and len(done["batches"]) == 1
    assert [s["name"] for s in done["steps"]] == [
        "start", "list", "create-batch", "copy", "complete", "wait", "finish",
    ]  # fmt: skip
    assert next(s for s in done["steps"] if s["name"] == "list")["metrics"]["files"] == 2
    again = client.run_job(job["id"])
    play_run(aws, again)  # nothing new: succeeds with no batch
    assert client.run(again)["batches"] == [] and client.run(again)["status"] == "success"
    assert [r["id"] for r in client.runs(job_name="hourly")] == [again, run_id]
    assert [r["id"] for r in client.runs(job_id=job["id"], limit=1, start=1)] == [run_id]

    client.delete_job("hourly")
    with pytest.raises(ClientError) as info:
        client.job("hourly")
    assert info.value.code == "BG-404-JOB" and "'hourly'" in info.value.message
    assert len(client.runs(job_name="hourly")) == 2  # the history stays


def test_sdk_wait_run_times_out_on_a_run_that_goes_on(client: Client, dataset: str) -> None:
    attrs = {"datasetId": dataset, "bucket": SOURCE, "format": "json"}
    job = client.create_job("slow", "ingest-s3", attrs, {"expression": "rate(5 minutes)"})
    run_id = client.run_job(job["id"])
    with pytest.raises(TimeoutError, match=f"run {run_id} still running"):
        client.wait_run(run_id, timeout=0, interval=0)


# -- CLI ------------------------------------------------------------------------------------------
def test_cli_workflows(cli: Cli, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli(["jobs", "workflows"]) == 0
    out = capsys.readouterr().out
    assert (
        "ingest-s3\n  Ingest, as one batch per run" in out
        and "export-feed\n  Run a sync of an export feed" in out
    )
    assert "steps: start → list → create-batch → copy → complete → wait → finish" in out
    line = next(x for x in out.splitlines() if x.startswith("format "))
    assert line.split()[:4] == ["format", "string", "(json|csv|parquet)", "yes"]
    assert cli(["jobs", "workflows", "--json"]) == 0
    assert "ingest-http" in [w["name"] for w in json.loads(capsys.readouterr().out)]


def test_cli_job_lifecycle(cli: Cli, aws: Aws, dataset: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli([*create_args(dataset), "--description", "nightly partner drop"]) == 0
    out = capsys.readouterr().out
    assert "status       inactive" in out and "schedule     cron(0 3 * * ? *)" in out
    assert "timezone     Europe/Paris" in out and "description  nightly partner drop" in out
    assert f"datasetId                   {dataset}" in out
    assert "partialIngestionPercentage  0" in out  # the workflow's default, filled in by the API
    assert cli(["jobs", "list", "--json"]) == 0
    (job,) = json.loads(capsys.readouterr().out)
    assert job["name"] == "hourly" and job["attributes"]["prefix"] == "exports/"

    assert cli(["jobs", "list", "--workflow", "ingest-s3"]) == 0
    rows = capsys.readouterr().out.splitlines()
    assert rows[0].split() == ["ID", "NAME", "WORKFLOW", "STATUS", "SCHEDULE", "TIMEZONE", "RUN", "UPDATED"]
    assert rows[2].split()[:8] == [job["id"], "hourly", "ingest-s3", "inactive", "cron(0", "3", "*", "*"]
    assert rows[-1] == "(1 jobs)"
    assert cli(["jobs", "list", "--status", "active"]) == 0 and "(0 jobs)" in capsys.readouterr().out

    # edit by name: one attribute merged in, the others kept; the text of a string attribute kept
    assert cli(["jobs", "edit", "hourly", "--attr", "prefix=2026", "--schedule", "rate(2 hours)"]) == 0
    out = capsys.readouterr().out
    assert "prefix                      2026" in out and f"datasetId                   {dataset}" in out
    assert "schedule     rate(2 hours)" in out and "timezone     Europe/Paris" in out
    assert job_store(aws).get_job("acme", "prod", job["id"]).attributes["prefix"] == "2026"
    assert (
        cli(["jobs", "edit", job["id"], "--attr", "prefix=exports/", "--start", "2026-01-01T00:00:00"]) == 0
    )
    assert "start        2026-01-01T00:00:00" in capsys.readouterr().out
    assert cli(["jobs", "edit", "hourly", "--start", "", "--attr", "pattern=*.json", "--json"]) == 0
    edited = json.loads(capsys.readouterr().out)
    assert "start" not in edited["schedule"] and edited["attributes"]["pattern"] == "*.json"
    assert cli(["jobs", "edit", "hourly", "--attr", "pattern=null", "--json"]) == 0  # back to the default
    assert json.loads(capsys.readouterr().out)["attributes"]["pattern"] == "*"

    assert cli(["jobs", "activate", "hourly"]) == 0 and "status       active" in capsys.readouterr().out
    assert cli(["jobs", "edit", "hourly", "--description", "x"]) == 2
    err = one_line_error(capsys.readouterr().err)
    assert err.startswith(f"error BG-409-JOB-ACTIVE: job {job['id']} is active") and "(request req-" in err
    assert cli(["jobs", "delete", "hourly"]) == 2
    assert "BG-409-JOB-ACTIVE" in one_line_error(capsys.readouterr().err)
    assert cli(["jobs", "deactivate", job["id"], "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["status"] == "inactive"

    assert cli(["jobs", "show", "hourly"]) == 0
    out = capsys.readouterr().out
    assert "last run     never run" in out and "schedule     rate(2 hours)" in out

    drop(aws, "a.json")
    assert cli(["jobs", "run", "hourly"]) == 0
    run_id = capsys.readouterr().out.strip()
    assert cli(["jobs", "run-show", run_id]) == 0
    assert "status     running" in capsys.readouterr().out
    play_run(aws, run_id)

    assert cli(["jobs", "run-show", run_id]) == 0
    out = capsys.readouterr().out
    (batch,) = job_store(aws).get_run("acme", "prod", run_id).batches
    assert "status     success" in out and f"job        hourly ({job['id']})" in out
    assert f"batches    {batch}" in out and "trigger    manual" in out
    steps = out.split("\n\n")[1].splitlines()
    assert steps[0].split() == ["STEP", "STATUS", "STARTED", "ENDED", "DURATION", "MESSAGE", "METRICS"]
    by_name = {line.split()[0]: line for line in steps[2:]}
    assert list(by_name) == ["start", "list", "create-batch", "copy", "complete", "wait", "finish"]
    assert all(line.split()[1] == "success" for line in by_name.values())
    assert "1 new file(s)" in by_name["list"] and by_name["list"].endswith("files=1 bytes=24")
    assert "files=1 bytes=24" in by_name["copy"] and f"batch {batch} is success" in by_name["wait"]
    assert "manual run of ingest-s3" in by_name["start"]

    assert cli(["jobs", "runs", "--job", "hourly"]) == 0
    rows = capsys.readouterr().out.splitlines()
    assert rows[0].split()[:4] == ["RUN", "JOB", "TRIGGER", "STATUS"]
    assert rows[2].split()[:4] == [run_id, "hourly", "manual", "success"] and batch in rows[2]
    assert cli(["jobs", "runs", "--status", "failed"]) == 0 and "(0 runs)" in capsys.readouterr().out
    assert cli(["jobs", "show", job["id"]]) == 0
    assert f"last run     {run_id} success (manual, started " in capsys.readouterr().out
    assert cli(["jobs", "run-show", run_id, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["batches"] == [batch]

    assert cli(["jobs", "delete", "hourly"]) == 0
    assert capsys.readouterr().out.strip() == f"deleted job {job['id']} (hourly)"
    assert cli(["jobs", "show", "hourly"]) == 2
    assert one_line_error(capsys.readouterr().err).startswith(
        "error BG-404-JOB: no job with the id or name 'hourly' in this sandbox"
    )
    assert cli(["jobs", "runs", "--job", "hourly", "--json"]) == 0  # a deleted job's history, by name
    assert [r["id"] for r in json.loads(capsys.readouterr().out)] == [run_id]


def test_cli_run_wait_exit_codes(
    cli: Cli, aws: Aws, dataset: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert cli(create_args(dataset)) == 0
    capsys.readouterr()
    outcome = {"batch": "success"}
    real_run = Client.run

    def run(self: Client, run_id: str) -> dict[str, Any]:
        if job_store(aws).get_run("acme", "prod", run_id).status == "running":  # the machine's turn
            play_run(aws, run_id, outcome["batch"])
        return real_run(self, run_id)

    monkeypatch.setattr(Client, "run", run)
    drop(aws, "a.json", "b.json")
    assert cli(["jobs", "run", "hourly", "--wait", "--timeout", "10"]) == 0
    captured = capsys.readouterr()
    assert "started" in captured.err and "waiting: success" in captured.err
    assert "status     success" in captured.out and "files=2 bytes=48" in captured.out

    drop(aws, "c.json")
    outcome["batch"] = "failed"
    assert cli(["jobs", "run", "hourly", "--wait", "--json"]) == 1
    failed = json.loads(capsys.readouterr().out)
    assert failed["status"] == "failed" and failed["message"] == f"batch {failed['batches'][0]} is failed"
    assert [s["status"] for s in failed["steps"] if s["name"] == "wait"] == ["failed"]
    assert cli(["jobs", "run-show", failed["id"]]) == 0
    out = capsys.readouterr().out
    assert f"message    batch {failed['batches'][0]} is failed" in out
    wait_line = next(x for x in out.splitlines() if x.startswith("wait "))
    assert wait_line.split()[1] == "failed" and "failed=0" in wait_line

    # a run that finds another going is skipped: not a success
    job_id = job_store(aws).get_run("acme", "prod", failed["id"]).job_id
    assert cli(["jobs", "run", job_id]) == 0
    going = capsys.readouterr().out.strip()
    play_run(aws, going, only_start=True)
    assert cli(["jobs", "list"]) == 0  # the list says a run is going
    assert capsys.readouterr().out.splitlines()[2].split()[-3] == "running"  # before UPDATED
    assert cli(["jobs", "show", job_id]) == 0
    assert f"running      {going}" in capsys.readouterr().out
    assert cli(["jobs", "run", job_id, "--wait"]) == 1
    out = capsys.readouterr().out
    assert "status     skipped" in out and "runs of one job never overlap" in out
    assert cli(["jobs", "runs", "--job", job_id, "--status", "skipped", "--json"]) == 0
    assert len(json.loads(capsys.readouterr().out)) == 1


def test_cli_create_from_a_file_with_flags_over_it(
    cli: Cli, dataset: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    body = {
        "name": "from-file",
        "description": "as the file says",
        "workflow": "ingest-s3",
        "attributes": {
            "datasetId": dataset,
            "bucket": SOURCE,
            "format": "csv",
            "inputFormat": {"delimiter": ";"},
        },
        "schedule": {"expression": "rate(1 day)", "timezone": "UTC", "end": "2027-01-01T00:00:00"},
    }
    job_file = tmp_path / "job.json"
    job_file.write_text(json.dumps(body))
    args = ["jobs", "create", "--file", str(job_file), "--schedule", "rate(12 hours)", "--json"]
    assert cli([*args, "--attr", "partialIngestionPercentage=5", "--attr", "pattern=*.csv"]) == 0
    job = json.loads(capsys.readouterr().out)
    assert job["name"] == "from-file" and job["description"] == "as the file says"
    assert job["schedule"] == {
        "expression": "rate(12 hours)",
        "timezone": "UTC",
        "end": "2027-01-01T00:00:00",
    }
    assert job["attributes"]["inputFormat"] == {"delimiter": ";"}
    assert job["attributes"]["partialIngestionPercentage"] == 5 and job["attributes"]["pattern"] == "*.csv"
    assert cli(["jobs", "show", "from-file"]) == 0
    assert 'inputFormat                 {"delimiter": ";"}' in capsys.readouterr().out
    # edit from a file: its attributes merged into the job's
    job_file.write_text(json.dumps({"attributes": {"pattern": "2026-*.csv"}, "description": "edited"}))
    assert cli(["jobs", "edit", "from-file", "--file", str(job_file), "--json"]) == 0
    edited = json.loads(capsys.readouterr().out)
    assert edited["attributes"]["pattern"] == "2026-*.csv" and edited["attributes"]["format"] == "csv"
    assert edited["description"] == "edited"


def test_cli_bad_input_is_one_line_with_the_api_code(
    cli: Cli, dataset: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def error_of(args: list[str]) -> str:
        assert cli(args) == 2
        captured = capsys.readouterr()
        assert captured.out == ""
        return one_line_error(captured.err)

    unknown = create_args(dataset)
    unknown[unknown.index("ingest-s3")] = "ingest-ftp"
    assert error_of(unknown).startswith("error BG-400-WORKFLOW: unknown workflow 'ingest-ftp'")
    five = create_args(dataset)
    five[five.index("cron(0 3 * * ? *)")] = "cron(0 3 * * *)"
    assert error_of(five).startswith("error BG-400-SCHEDULE: cron() takes 6 fields")
    assert "BG-400-JOB-ATTRIBUTES" in error_of(
        [*create_args(dataset), "--attr", "partialIngestionPercentage=lots"]
    )
    assert "BG-400-JOB-ATTRIBUTES" in error_of([*create_args(dataset), "--attr", "colour=blue"])
    assert error_of([*create_args(dataset), "--attr", "prefix"]).startswith(
        "error: --attr 'prefix' is not KEY=VALUE"
    )
    no_schedule = create_args(dataset)
    del no_schedule[no_schedule.index("--schedule") : no_schedule.index("--schedule") + 2]
    assert error_of(no_schedule).startswith("error: give the job a schedule")
    assert error_of(["jobs", "create", "--workflow", "ingest-s3"]).startswith("error: give the job a name")
    broken = tmp_path / "job.json"
    broken.write_text("{nope")
    assert error_of(["jobs", "create", "--file", str(broken)]).startswith(f"error: {broken} is not JSON")
    assert cli(create_args(dataset)) == 0
    capsys.readouterr()
    assert error_of(create_args(dataset)).startswith("error BG-409-JOB-NAME")
    assert error_of(["jobs", "edit", "hourly"]).startswith("error: nothing to change")
    renamed = tmp_path / "rename.json"
    renamed.write_text(json.dumps({"name": "daily"}))
    assert error_of(["jobs", "edit", "hourly", "--file", str(renamed)]).startswith("error BG-400-JOB-FIXED")
    assert error_of(["jobs", "edit", "hourly", "--schedule", "rate(0 minutes)"]).startswith(
        "error BG-400-SCHEDULE"
    )
    assert error_of(["jobs", "run", "nope"]).startswith("error BG-404-JOB: no job with the id or name 'nope'")
    assert error_of(["jobs", "run-show", "nope"]).startswith("error BG-404-RUN")


@pytest.mark.parametrize(
    ("item", "key", "value"),
    [
        ("prefix=exports/", "prefix", "exports/"),
        ("partialIngestionPercentage=2.5", "partialIngestionPercentage", 2.5),
        ("flag=true", "flag", True),
        ("pattern=", "pattern", ""),
        ("pattern=null", "pattern", None),
        ('inputFormat={"delimiter": ";", "header": true}', "inputFormat", {"delimiter": ";", "header": True}),
        ("url=https://example.com/a.csv?x=1&y=2", "url", "https://example.com/a.csv?x=1&y=2"),
        (' name = "quoted"', "name", " quoted".strip() and "quoted"),
    ],
)
def test_attr_values_are_json_when_they_parse(item: str, key: str, value: Any) -> None:
    ((got_key, _, got_value),) = parse_attrs([item])
    assert (got_key, got_value) == (key, value)
