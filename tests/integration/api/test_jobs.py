"""Scheduled jobs through the API function (admin): the workflow registry, create / read / list,
the edit and delete rules, attribute and schedule errors, ACTIVATE / DEACTIVATE against
EventBridge Scheduler, RUN against the job-run state machine, and the run history."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from botocore.exceptions import ClientError

from batchgate.aws.job_store import JobStore
from batchgate.jobs.models import Run
from tests.conftest import refresh_process_state
from tests.integration.api.harness import Api, Aws, Resp
from tests.integration.api.job_bodies import (
    JOBS,
    RUNS,
    SOURCES,
    WORKFLOWS,
    act,
    create_job,
    export_feed,
    ingest_s3,
    make_feed,
    source_bucket,
)
from tests.integration.api.test_roles import key_api


def error(r: Resp, status: int, code: str) -> str:
    """The message of an error answer, after checking its status and code."""
    assert (r.status, r.error_code) == (status, code), r.body
    return str(r.json()["error"]["message"])


def scheduler(aws: Aws) -> Any:
    return aws.template.client("scheduler")


def group(aws: Aws) -> str:
    return aws.template.resolver.physical_name("JobScheduleGroup")


def job_run_machine(aws: Aws) -> str:
    arn = aws.template.settings.job_run_state_machine_arn
    assert arn
    return arn


@pytest.fixture
def ds(api: Api, aws: Aws) -> str:
    source_bucket(aws)
    return api.create_dataset()


# -- the registry ------------------------------------------------------------------------------
def test_the_workflows_and_their_typed_attributes(api: Api) -> None:
    kinds = {w["name"]: w for w in api.call("GET", WORKFLOWS).json()["workflows"]}
    assert set(kinds) == {"ingest-s3", "ingest-http", "export-feed"}
    s3 = {a["name"]: a for a in kinds["ingest-s3"]["attributes"]}
    assert set(s3) >= {"datasetId", "bucket", "prefix", "pattern", "format", "inputFormat"}
    assert s3["bucket"]["required"] is True and s3["bucket"]["type"] == "string"
    assert s3["pattern"]["required"] is False and s3["pattern"]["default"] == "*"
    assert s3["format"]["enum"] == ["json", "csv", "parquet"]
    assert all(a["description"] for w in kinds.values() for a in w["attributes"])
    assert [a["name"] for a in kinds["ingest-http"]["attributes"] if a["required"]] == [
        "datasetId",
        "url",
        "format",
    ]
    assert [a["name"] for a in kinds["export-feed"]["attributes"]] == ["feedId", "mode"]
    assert kinds["export-feed"]["steps"] == ["start", "sync", "finish"]


# -- create, read, list ------------------------------------------------------------------------
def test_create_get_and_list_with_filters(api: Api, aws: Aws, ds: str, other_api: Api) -> None:
    hourly = create_job(api, ingest_s3(ds))
    assert hourly["status"] == "inactive" and hourly["workflow"] == "ingest-s3"
    assert hourly["attributes"] == {
        "datasetId": ds,
        "bucket": SOURCES,
        "prefix": "exports/",
        "pattern": "*",
        "format": "json",
        "partialIngestionPercentage": 0,
    }, "defaults filled in"
    assert hourly["schedule"] == {"expression": "rate(1 hour)", "timezone": "UTC"}
    assert hourly["createdUser"] == hourly["updatedUser"] == "alice@acme"
    assert hourly["lastRun"] is None and hourly["runningRun"] is None
    assert api.call("GET", f"{JOBS}/{hourly['id']}").json() == hourly

    daily = create_job(api, ingest_s3(ds, name="partner-daily", schedule={"expression": "cron(0 3 * * ? *)"}))
    feed = create_job(api, export_feed(make_feed(api, ds)))
    assert act(api, daily["id"], "ACTIVATE").status == 200

    def names(**query: str) -> set[str]:
        r = api.call("GET", JOBS, query=query)
        assert r.status == 200, r.body
        return {j["name"] for j in r.json()["jobs"]}

    assert names() == {"partner-hourly", "partner-daily", "feed-nightly"}
    assert names(name="partner-daily") == {"partner-daily"}
    assert names(name="nobody") == set()
    assert names(status="active") == {"partner-daily"}
    assert names(status="inactive") == {"partner-hourly", "feed-nightly"}
    assert names(workflow="export-feed") == {"feed-nightly"}
    assert names(workflow="ingest-s3", status="inactive") == {"partner-hourly"}
    listed = api.call("GET", JOBS).json()["jobs"]
    assert [(j["created"], j["id"]) for j in listed] == sorted(
        ((j["created"], j["id"]) for j in listed), reverse=True
    ), "newest first"
    page = api.call("GET", JOBS, query={"limit": "2", "start": "1"}).json()
    assert [j["id"] for j in page["jobs"]] == [j["id"] for j in listed[1:3]]
    assert page["_page"] == {"limit": 2, "start": 1, "count": 2}

    # another tenant sees none of them
    assert other_api.call("GET", JOBS).json()["jobs"] == []
    error(other_api.call("GET", f"{JOBS}/{feed['id']}"), 404, "BG-404-JOB")
    error(api.call("GET", f"{JOBS}/nope"), 404, "BG-404-JOB")


def test_names_are_unique_in_a_tenant_and_free_again_once_deleted(
    api: Api, aws: Aws, ds: str, other_api: Api
) -> None:
    first = create_job(api, ingest_s3(ds))
    message = error(api.call("POST", JOBS, json_body=ingest_s3(ds)), 409, "BG-409-JOB-NAME")
    assert "partner-hourly" in message
    assert len(api.call("GET", JOBS).json()["jobs"]) == 1
    theirs = other_api.call("POST", JOBS, json_body=ingest_s3(other_api.create_dataset()))
    assert theirs.status == 201, "names are unique per tenant"
    assert api.call("DELETE", f"{JOBS}/{first['id']}").status == 204
    again = create_job(api, ingest_s3(ds))
    assert again["id"] != first["id"]


# -- edit and delete rules ---------------------------------------------------------------------
def test_patch_edits_an_inactive_job_and_revalidates_what_it_changes(api: Api, aws: Aws, ds: str) -> None:
    job = create_job(api, ingest_s3(ds))
    path = f"{JOBS}/{job['id']}"
    r = api.call(
        "PATCH",
        path,
        json_body={
            "description": "every other hour",
            "attributes": {"datasetId": ds, "bucket": SOURCES, "prefix": "v2/", "format": "csv"},
            "schedule": {"expression": "rate(2 hours)", "timezone": "Europe/Paris"},
        },
    )
    assert r.status == 200, r.body
    edited = r.json()
    assert edited["description"] == "every other hour"
    assert edited["attributes"]["prefix"] == "v2/" and edited["attributes"]["format"] == "csv"
    assert edited["attributes"]["pattern"] == "*", "defaults filled in again"
    assert edited["schedule"] == {"expression": "rate(2 hours)", "timezone": "Europe/Paris"}
    assert api.call("GET", path).json() == edited

    # name and workflow are fixed: 400, unless sent unchanged (GET-modify-PATCH)
    assert "name" in error(api.call("PATCH", path, json_body={"name": "renamed"}), 400, "BG-400-JOB-FIXED")
    assert "workflow" in error(
        api.call("PATCH", path, json_body={"workflow": "ingest-http"}), 400, "BG-400-JOB-FIXED"
    )
    same = api.call(
        "PATCH", path, json_body={"name": job["name"], "workflow": "ingest-s3", "description": "x"}
    )
    assert same.status == 200 and same.json()["description"] == "x"

    # what is changed is checked as on create; a refused PATCH changes nothing
    before = api.call("GET", path).json()
    bad_attributes = {"datasetId": ds, "bucket": SOURCES, "format": "xml"}
    assert "format" in error(
        api.call("PATCH", path, json_body={"attributes": bad_attributes}), 400, "BG-400-JOB-ATTRIBUTES"
    )
    assert "cron()" in error(
        api.call("PATCH", path, json_body={"schedule": {"expression": "cron(0 3 * * *)"}}),
        400,
        "BG-400-SCHEDULE",
    )
    assert api.call("GET", path).json() == before


def test_an_active_job_is_neither_edited_nor_deleted(api: Api, aws: Aws, ds: str) -> None:
    job = create_job(api, ingest_s3(ds))
    path = f"{JOBS}/{job['id']}"
    assert act(api, job["id"], "ACTIVATE").json()["status"] == "active"
    assert "DEACTIVATE" in error(
        api.call("PATCH", path, json_body={"description": "new"}), 409, "BG-409-JOB-ACTIVE"
    )
    error(api.call("DELETE", path), 409, "BG-409-JOB-ACTIVE")
    assert api.call("GET", path).json()["description"] == job["description"]

    assert act(api, job["id"], "DEACTIVATE").json()["status"] == "inactive"
    assert api.call("PATCH", path, json_body={"description": "new"}).json()["description"] == "new"
    assert api.call("DELETE", path).status == 204
    error(api.call("GET", path), 404, "BG-404-JOB")
    error(api.call("DELETE", path), 404, "BG-404-JOB")
    error(api.call("PATCH", path, json_body={"description": "x"}), 404, "BG-404-JOB")


# -- roles -------------------------------------------------------------------------------------
@pytest.mark.parametrize("role", ["writer", "reader"])
def test_only_an_admin_manages_jobs(api: Api, aws: Aws, ds: str, role: str) -> None:
    """Managing jobs is the admin's (issue 14, DESIGN "Roles"); reading them is open to every
    role, as every GET is (``reader``: GET only)."""
    job = create_job(api, ingest_s3(ds))
    run_id = act(api, job["id"], "RUN").json()["runId"]
    other = key_api(aws, role, ["prod"])
    path = f"{JOBS}/{job['id']}"
    refused = [
        ("POST", JOBS, {"json_body": ingest_s3(ds, name="mine")}),
        ("PATCH", path, {"json_body": {"description": "mine"}}),
        ("DELETE", path, {}),
        *(("POST", path, {"query": {"action": a}}) for a in ("ACTIVATE", "DEACTIVATE", "RUN")),
    ]
    for method, p, kw in refused:
        r = other.call(method, p, **kw)
        assert "needs 'admin'" in error(r, 403, "BG-403-ROLE"), (method, p, kw)
    assert api.call("GET", path).json() == {**job, "lastRun": None, "runningRun": None}
    assert [r["id"] for r in api.call("GET", RUNS).json()["runs"]] == [run_id], "no run was started"
    assert len(api.call("GET", JOBS).json()["jobs"]) == 1
    for p in (WORKFLOWS, JOBS, path, RUNS, f"{RUNS}/{run_id}"):
        assert other.call("GET", p).status == 200, p


# -- attributes and schedules ------------------------------------------------------------------
def test_an_unknown_workflow_is_refused_naming_the_known_ones(api: Api, aws: Aws, ds: str) -> None:
    message = error(
        api.call("POST", JOBS, json_body=ingest_s3(ds, workflow="ingest-ftp")), 400, "BG-400-WORKFLOW"
    )
    assert "ingest-ftp" in message and "ingest-s3" in message
    assert api.call("GET", JOBS).json()["jobs"] == []


def test_attributes_are_checked_by_type_and_against_the_world(
    api: Api, aws: Aws, ds: str, other_api: Api
) -> None:
    base = {"datasetId": ds, "bucket": SOURCES, "format": "json"}
    theirs = other_api.create_dataset()
    cases: list[tuple[dict[str, Any], list[str]]] = [
        ({**base, "prefix": 5}, ["'prefix'", "string"]),
        ({**base, "partialIngestionPercentage": True}, ["partialIngestionPercentage", "boolean"]),
        ({**base, "format": "xml"}, ["'format'", "xml"]),
        ({**base, "sheet": "A"}, ["sheet"]),
        ({"datasetId": ds, "format": "json"}, ["'bucket'", "required"]),
        ({**base, "datasetId": theirs}, [theirs, "not found"]),
        ({**base, "bucket": "batchgate-job-sources-gone"}, ["batchgate-job-sources-gone", "does not exist"]),
        ({**base, "bucket": "Not_A_Bucket"}, ["Not_A_Bucket"]),
        ({**base, "prefix": "/abs/"}, ["prefix"]),
        ({**base, "inputFormat": {"format": "csv"}}, ["inputFormat.format"]),
    ]
    for attributes, named in cases:
        r = api.call("POST", JOBS, json_body=ingest_s3(ds, attributes=attributes))
        message = error(r, 400, "BG-400-JOB-ATTRIBUTES")
        assert all(n in message for n in named), (attributes, message)
    http = {"datasetId": ds, "url": "ftp://example.com/x.json", "format": "json"}
    r = api.call("POST", JOBS, json_body=ingest_s3(ds, workflow="ingest-http", attributes=http))
    assert "url" in error(r, 400, "BG-400-JOB-ATTRIBUTES")
    assert api.call("GET", JOBS).json()["jobs"] == []


@pytest.mark.parametrize(
    ("schedule", "named"),
    [
        ({"expression": "cron(0 3 * * *)"}, "6 fields"),
        ({"expression": "rate(1 minutes)"}, "rate(1 minute)"),
        ({"expression": "rate(0 minutes)"}, "at least 1"),
        ({"expression": "every hour"}, "not one of"),
        ({"expression": "cron(0 3 * * * *)"}, "'?'"),
        (
            {"expression": "rate(1 day)", "start": "2030-01-02T00:00:00", "end": "2030-01-01T00:00:00"},
            "not after",
        ),
        ({"expression": "rate(1 day)", "start": "tomorrow"}, "ISO-8601"),
        ({"expression": "rate(1 day)", "timezone": "Mars/Olympus"}, "Mars/Olympus"),
    ],
)
def test_a_bad_schedule_is_refused_saying_what_is_wrong(
    api: Api, aws: Aws, ds: str, schedule: dict[str, str], named: str
) -> None:
    message = error(
        api.call("POST", JOBS, json_body=ingest_s3(ds, schedule=schedule)), 400, "BG-400-SCHEDULE"
    )
    assert named in message, message


# -- ACTIVATE / DEACTIVATE ---------------------------------------------------------------------
def test_activate_puts_the_schedule_that_starts_the_job_run_machine(api: Api, aws: Aws, ds: str) -> None:
    schedule = {
        "expression": "cron(15 3 ? * MON-FRI *)",
        "timezone": "Europe/Paris",
        "start": "2030-01-01T00:00:00",
        "end": "2031-01-01T00:00:00+00:00",
    }
    job = create_job(api, ingest_s3(ds, schedule=schedule))
    r = act(api, job["id"], "ACTIVATE")
    assert r.status == 200 and r.json()["status"] == "active", r.body
    got = scheduler(aws).get_schedule(Name=f"job-{job['id']}", GroupName=group(aws))
    assert got["ScheduleExpression"] == "cron(15 3 ? * MON-FRI *)"
    assert got["ScheduleExpressionTimezone"] == "Europe/Paris"
    assert got["StartDate"] == datetime(2030, 1, 1, tzinfo=ZoneInfo("Europe/Paris"))
    assert got["EndDate"] == datetime(2031, 1, 1, tzinfo=UTC)
    assert got["State"] == "ENABLED"
    target = got["Target"]
    assert target["Arn"] == job_run_machine(aws)
    assert target["RoleArn"] == aws.template.resolver.get_att("JobSchedulerRole", "Arn")
    assert json.loads(target["Input"]) == {
        "org": "acme",
        "sandbox": "prod",
        "jobId": job["id"],
        "trigger": "schedule",
        "runId": "<aws.scheduler.execution-id>",
        "scheduledTime": "<aws.scheduler.scheduled-time>",
    }
    assert act(api, job["id"], "ACTIVATE").json()["status"] == "active", "ACTIVATE twice is harmless"

    assert act(api, job["id"], "DEACTIVATE").json()["status"] == "inactive"
    with pytest.raises(ClientError) as gone:
        scheduler(aws).get_schedule(Name=f"job-{job['id']}", GroupName=group(aws))
    assert gone.value.response["Error"]["Code"] == "ResourceNotFoundException"
    assert act(api, job["id"], "DEACTIVATE").json()["status"] == "inactive", "DEACTIVATE twice is harmless"


def test_a_rate_schedule_without_start_is_pinned_to_its_activation(api: Api, aws: Aws, ds: str) -> None:
    job = create_job(api, ingest_s3(ds))
    activated = act(api, job["id"], "ACTIVATE").json()
    got = scheduler(aws).get_schedule(Name=f"job-{job['id']}", GroupName=group(aws))
    assert got["ScheduleExpression"] == "rate(1 hour)" and got["ScheduleExpressionTimezone"] == "UTC"
    # the activation's instant, to the millisecond the job records as its update
    assert int(got["StartDate"].timestamp() * 1000) == activated["updated"]


def test_activate_rechecks_the_attributes(api: Api, aws: Aws, ds: str) -> None:
    job = create_job(api, ingest_s3(ds))
    aws.s3.delete_bucket(Bucket=SOURCES)
    assert SOURCES in error(act(api, job["id"], "ACTIVATE"), 400, "BG-400-JOB-ATTRIBUTES")
    assert api.call("GET", f"{JOBS}/{job['id']}").json()["status"] == "inactive"
    assert scheduler(aws).list_schedules(GroupName=group(aws))["Schedules"] == []


@pytest.mark.parametrize(
    "schedule",
    [
        {"expression": "rate(1 day)", "start": "2020-01-01T00:00:00", "end": "2020-02-01T00:00:00"},
        {"expression": "at(2020-01-01T03:00:00)"},
        {"expression": "cron(0 3 * * ? 2020)"},
    ],
)
def test_a_schedule_that_has_ended_is_not_activated(
    api: Api, aws: Aws, ds: str, schedule: dict[str, str]
) -> None:
    job = create_job(api, ingest_s3(ds, schedule=schedule))
    message = error(act(api, job["id"], "ACTIVATE"), 400, "BG-400-SCHEDULE")
    assert "no tick after now" in message and schedule["expression"] in message
    assert api.call("GET", f"{JOBS}/{job['id']}").json()["status"] == "inactive"
    assert scheduler(aws).list_schedules(GroupName=group(aws))["Schedules"] == []
    assert act(api, job["id"], "RUN").status == 202, "it can still be run by hand"


def test_an_export_feed_job_names_its_feed_and_runs_once_the_feed_exists(api: Api, aws: Aws, ds: str) -> None:
    message = error(api.call("POST", JOBS, json_body=export_feed("nope")), 400, "BG-400-JOB-ATTRIBUTES")
    assert "feed 'nope' not found" in message
    job = create_job(api, export_feed(make_feed(api, ds)))
    assert act(api, job["id"], "ACTIVATE").status == 200
    (schedule,) = scheduler(aws).list_schedules(GroupName=group(aws))["Schedules"]
    assert schedule["Name"] == f"job-{job['id']}"
    assert act(api, job["id"], "RUN").status == 202
    assert len(aws.sfn.list_executions(stateMachineArn=job_run_machine(aws))["executions"]) == 1


@pytest.mark.parametrize("unset", ["BATCHGATE_SCHEDULE_GROUP", "BATCHGATE_JOB_RUN_SM"])
def test_a_deployment_without_the_scheduling_resources_says_so(
    api: Api, aws: Aws, ds: str, monkeypatch: pytest.MonkeyPatch, unset: str
) -> None:
    job = create_job(api, ingest_s3(ds))
    monkeypatch.delenv(unset)
    refresh_process_state()
    assert unset in error(act(api, job["id"], "ACTIVATE"), 503, "BG-503-NOT-CONFIGURED")
    assert api.call("GET", f"{JOBS}/{job['id']}").json()["status"] == "inactive"
    run = act(api, job["id"], "RUN")
    if unset == "BATCHGATE_JOB_RUN_SM":
        assert unset in error(run, 503, "BG-503-NOT-CONFIGURED")
        assert api.call("GET", RUNS).json()["runs"] == [], "no run recorded that could not start"
    else:
        assert run.status == 202, "a run now needs no schedule group"


def test_an_unknown_action_is_400(api: Api, aws: Aws, ds: str) -> None:
    job = create_job(api, ingest_s3(ds))
    error(act(api, job["id"], "PAUSE"), 400, "BG-400-INVALID")
    error(act(api, "nope", "RUN"), 404, "BG-404-JOB")


# -- RUN and the history -----------------------------------------------------------------------
def test_run_records_the_run_and_starts_its_execution(api: Api, aws: Aws, ds: str) -> None:
    job = create_job(api, ingest_s3(ds))
    r = act(api, job["id"], "RUN")
    assert r.status == 202, r.body
    run_id = r.json()["runId"]
    assert set(r.json()) == {"runId"}
    run = api.call("GET", f"{RUNS}/{run_id}").json()
    assert run["id"] == run_id and run["jobId"] == job["id"] and run["jobName"] == "partner-hourly"
    assert (run["status"], run["trigger"], run["workflow"]) == ("running", "manual", "ingest-s3")
    assert run["ended"] is None and run["batches"] == [] and run["scheduledTime"] is None

    executions = aws.sfn.list_executions(stateMachineArn=job_run_machine(aws))["executions"]
    assert [e["name"] for e in executions] == [f"run-{run_id}"]
    described = aws.sfn.describe_execution(executionArn=executions[0]["executionArn"])
    assert json.loads(described["input"]) == {
        "org": "acme",
        "sandbox": "prod",
        "jobId": job["id"],
        "runId": run_id,
        "trigger": "manual",
    }
    error(api.call("GET", f"{RUNS}/nope"), 404, "BG-404-RUN")


def test_runs_newest_first_filtered_and_paged(api: Api, aws: Aws, ds: str, other_api: Api) -> None:
    hourly = create_job(api, ingest_s3(ds))
    daily = create_job(api, ingest_s3(ds, name="partner-daily"))
    store = JobStore(aws.template.table)
    # Runs as the job-run machine records them, at distinct instants (oldest first).
    made: list[Run] = []
    for i, (job, status) in enumerate(
        [(hourly, "success"), (daily, "failed"), (hourly, "skipped"), (hourly, "success"), (daily, "running")]
    ):
        run = Run(
            id=f"run{i}", org="acme", sandbox="prod", job_id=job["id"], job_name=job["name"],
            workflow="ingest-s3", trigger="schedule", status=status, started=1_700_000_000_000 + i * 60_000,
        )  # fmt: skip
        store.create_run(run)
        made.append(run)

    def ids(**query: str) -> list[str]:
        r = api.call("GET", RUNS, query=query)
        assert r.status == 200, r.body
        return [x["id"] for x in r.json()["runs"]]

    assert ids() == ["run4", "run3", "run2", "run1", "run0"]
    assert ids(jobId=hourly["id"]) == ["run3", "run2", "run0"]
    assert ids(jobName="partner-daily") == ["run4", "run1"]
    assert ids(status="success") == ["run3", "run0"]
    assert ids(jobId=hourly["id"], status="skipped") == ["run2"]
    assert ids(limit="2") == ["run4", "run3"]
    assert ids(limit="2", start="2") == ["run2", "run1"]
    assert ids(limit="2", start="4") == ["run0"]
    assert ids(jobId=hourly["id"], limit="1", start="1") == ["run2"]
    page = api.call("GET", RUNS, query={"limit": "2"}).json()["_page"]
    assert page == {"limit": 2, "start": 0, "count": 2}
    error(api.call("GET", RUNS, query={"status": "done"}), 400, "BG-400-INVALID")
    error(api.call("GET", RUNS, query={"limit": "0"}), 400, "BG-400-INVALID")

    # a deleted job's runs stay in the history, under its name
    assert api.call("DELETE", f"{JOBS}/{daily['id']}").status == 204
    assert ids(jobName="partner-daily") == ["run4", "run1"]
    # another tenant sees none of it
    assert other_api.call("GET", RUNS).json()["runs"] == []
    error(other_api.call("GET", f"{RUNS}/run0"), 404, "BG-404-RUN")

    # a manual RUN is the newest
    newest = act(api, hourly["id"], "RUN").json()["runId"]
    assert ids(jobId=hourly["id"], limit="1") == [newest]


def test_the_history_by_name_keeps_the_runs_of_a_deleted_namesake(api: Api, aws: Aws, ds: str) -> None:
    old = create_job(api, ingest_s3(ds))
    old_run = act(api, old["id"], "RUN").json()["runId"]
    assert api.call("DELETE", f"{JOBS}/{old['id']}").status == 204
    new = create_job(api, ingest_s3(ds))  # the name is free again
    new_run = act(api, new["id"], "RUN").json()["runId"]
    by_name = api.call("GET", RUNS, query={"jobName": "partner-hourly"}).json()["runs"]
    assert {r["id"] for r in by_name} == {old_run, new_run}
    assert {r["jobId"] for r in by_name} == {old["id"], new["id"]}
    by_id = api.call("GET", RUNS, query={"jobId": new["id"]}).json()["runs"]
    assert [r["id"] for r in by_id] == [new_run]
