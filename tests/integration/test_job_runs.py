"""Runs of an ingest-s3 job: the job-run state machine's tasks (``workflow/job_run.py``) called
directly against moto's server, in the order the ASL calls them. Nothing here validates or lands
files (no state machine runs): where a run waits for its batch, the test gives the batch the
final status the complete machine would have given it."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from batchgate.api.bodies import JobCreate, JobPatch
from batchgate.api.services.jobs import JobAdmin
from batchgate.aws.batch_queries import BatchQuery
from batchgate.aws.job_store import JobStore
from batchgate.core import keys
from batchgate.core.errors import Transient
from batchgate.core.ids import new_id
from batchgate.core.keys import table_identifier
from batchgate.core.models import BatchStatus, Dataset, ErrorEntry
from batchgate.core.principal import Principal
from batchgate.jobs.models import Job, Run
from batchgate.workflow import job_run
from batchgate.workflow.context import State, TaskContext
from batchgate.workflow.tasks import note_failure, task_failure
from tests.conftest import TemplateAws

ORG, SANDBOX = "o", "s"
ASL = Path(__file__).resolve().parents[2] / "statemachines" / "job_run.asl.json"
SOURCES = "batchgate-job-sources-runs"
ADMIN = Principal(ORG, SANDBOX, "key", "admin@o", role="admin")
SCHEMA = {"fields": [{"name": "id", "type": "string", "required": True}]}


@pytest.fixture
def aws(template_aws: TemplateAws) -> TemplateAws:
    template_aws.state_machines()  # COMPLETE and ABORT start executions (none runs)
    template_aws.client("s3").create_bucket(Bucket=SOURCES)
    return template_aws


@pytest.fixture
def ctx(aws: TemplateAws) -> TaskContext:
    return TaskContext.create(aws.settings)


@pytest.fixture
def store(aws: TemplateAws) -> JobStore:
    return JobStore(aws.table)


@pytest.fixture
def admin(aws: TemplateAws, store: JobStore) -> JobAdmin:
    return JobAdmin(store, aws.settings)


def dataset(ctx: TaskContext, ds_id: str = "ds1") -> Dataset:
    now = int(time.time() * 1000)
    ds = Dataset.model_validate(
        {"id": ds_id, "name": ds_id, "org": ORG, "sandbox": SANDBOX, "schema": SCHEMA,
         "created": now, "updated": now, "table": table_identifier(ORG, SANDBOX, ds_id)}
    )  # fmt: skip
    ctx.store.put_dataset(ds)
    return ds


def make_job(admin: JobAdmin, ds_id: str, **attributes: Any) -> Job:
    body = JobCreate.model_validate(
        {
            "name": f"job-{new_id()[:6]}",
            "workflow": "ingest-s3",
            "attributes": {
                "datasetId": ds_id,
                "bucket": SOURCES,
                "prefix": "drop/",
                "format": "json",
                **attributes,
            },
            "schedule": {"expression": "rate(1 hour)"},
        }
    )
    return admin.create(ADMIN, body)


def put(aws: TemplateAws, key: str, body: bytes = b'{"id": "1"}\n', bucket: str = SOURCES) -> None:
    aws.client("s3").put_object(Bucket=bucket, Key=key, Body=body)


def state_of(job: Job, run_id: str | None = None, trigger: str = "manual") -> State:
    return {"org": ORG, "sandbox": SANDBOX, "jobId": job.id, "runId": run_id or new_id(), "trigger": trigger}


def set_batch(
    ctx: TaskContext, batch_id: str, status: BatchStatus, *, errors: list[ErrorEntry] | None = None
) -> None:
    """What the complete state machine would have done to the run's batch."""
    b = ctx.store.get_batch(ORG, SANDBOX, batch_id)
    ctx.store.save_batch(
        b.model_copy(update={"status": status, "errors": errors or []}),
        expected_status=b.status,
        expected_version=b.version,
    )


def step(ctx: TaskContext, task: Callable[[TaskContext, State], State], state: State) -> State | None:
    """One task as the tasks function runs it: on an error the worker notes it on the run and the
    ASL's Catch runs Fail (``job_fail``); None then."""
    try:
        return task(ctx, state)
    except Exception as exc:  # the worker's catch-all
        error, cause = task_failure(exc)
        note_failure(ctx, state, exc)
        job_run.job_fail(ctx, {**state, "error": {"Error": error, "Cause": cause}})
        return None


def run_job(ctx: TaskContext, job: Job, *, batch_status: BatchStatus = "success", **kw: Any) -> Run:
    """A whole run, as the ASL drives it; the run as recorded at its end."""
    state = state_of(job, **kw)
    out = step(ctx, job_run.job_start, state)
    if out is not None and out["go"]:
        prepared = step(ctx, job_run.job_prepare, state)
        created = prepared and prepared["files"] > 0 and step(ctx, job_run.job_create_batch, state)
        if created and created["files"] > 0:
            if step(ctx, job_run.job_copy, state) and step(ctx, job_run.job_complete, state):
                set_batch(ctx, created["batchId"], batch_status)
                waited = step(ctx, job_run.job_check_batch, state)
                assert waited is None or waited["final"] is True
                if waited is not None:
                    step(ctx, job_run.job_finish, state)
        elif prepared is not None and created is not None:
            step(ctx, job_run.job_finish, state)
    return JobStore(ctx.settings.table_name).get_run(ORG, SANDBOX, state["runId"])


def batch_files(ctx: TaskContext, run: Run) -> list[str]:
    assert len(run.batches) == 1, run.batches
    return sorted(f.name for f in ctx.store.list_files(ORG, SANDBOX, run.batches[0]))


def ledger(store: JobStore, job: Job, aws: TemplateAws) -> dict[str, str]:
    """key → ledger status of every object under the job's prefix that has an entry."""
    listed = aws.client("s3").list_objects_v2(Bucket=SOURCES).get("Contents", [])
    objects = [(o["Key"], o["ETag"].strip('"')) for o in listed]  # as the job lists them
    return {key: c.status for (key, _), c in store.claims(job, objects).items()}


# -- exactly once ------------------------------------------------------------------------------
def test_runs_over_a_growing_prefix_take_each_object_once(
    aws: TemplateAws, ctx: TaskContext, admin: JobAdmin, store: JobStore
) -> None:
    dataset(ctx)
    job = make_job(admin, "ds1")
    put(aws, "drop/a.json")
    put(aws, "drop/b.json", b'{"id": "2"}\n')
    put(aws, "elsewhere/x.json")  # outside the prefix

    first = run_job(ctx, job)
    assert first.status == "success" and first.trigger == "manual", first
    assert batch_files(ctx, first) == ["a.json", "b.json"]
    assert [s.name for s in first.steps] == [
        "start",
        "list",
        "create-batch",
        "copy",
        "complete",
        "wait",
        "finish",
    ]
    assert all(s.status == "success" and s.ended is not None for s in first.steps)
    listed = next(s for s in first.steps if s.name == "list")
    assert listed.metrics == {"files": 2, "bytes": 24}
    # the copy is the object's bytes, where the JSON validator's notification routes it
    batch = ctx.store.get_batch(ORG, SANDBOX, first.batches[0])
    key = keys.upload_key("json", ORG, SANDBOX, "ds1", batch.id, "b.json")
    assert aws.client("s3").get_object(Bucket=aws.bucket, Key=key)["Body"].read() == b'{"id": "2"}\n'
    assert batch.created_user == f"job:{job.name}"

    put(aws, "drop/c.json")
    second = run_job(ctx, job)
    assert second.status == "success" and batch_files(ctx, second) == ["c.json"]

    put(aws, "drop/2026/d.json")  # the pattern's * matches '/' too
    put(aws, "drop/a.json", b'{"id": "1b"}\n')  # a new version is a new file (key + ETag)
    third = run_job(ctx, job)
    assert batch_files(ctx, third) == ["2026/d.json", "a.json"]
    assert len({first.batches[0], second.batches[0], third.batches[0]}) == 3

    nothing = run_job(ctx, job)
    assert (nothing.status, nothing.batches, nothing.message) == ("success", [], "nothing new to ingest")
    assert next(s for s in nothing.steps if s.name == "list").metrics["files"] == 0
    assert ledger(store, job, aws) == {
        k: "ingested" for k in ("drop/a.json", "drop/2026/d.json", "drop/b.json", "drop/c.json")
    }
    assert store.get_job(ORG, SANDBOX, job.id).running is None, "the lock is released after each run"


def test_empty_and_wrong_suffix_objects_are_reported_and_not_ingested(
    aws: TemplateAws, ctx: TaskContext, admin: JobAdmin, store: JobStore
) -> None:
    dataset(ctx)
    job = make_job(admin, "ds1")
    put(aws, "drop/good.json")
    put(aws, "drop/empty.json", b"")
    put(aws, "drop/notes.txt", b"hello")
    run = run_job(ctx, job)
    assert run.status == "success" and batch_files(ctx, run) == ["good.json"]
    message = next(s for s in run.steps if s.name == "list").message
    assert "1 empty object(s) not ingested" in message, message
    assert "drop/notes.txt" in message and ".json suffix" in message, message
    assert ledger(store, job, aws)["drop/empty.json"] == "skipped-empty"

    again = run_job(ctx, job)
    assert again.status == "success" and again.batches == [], "neither is taken later"


def test_an_object_changed_after_the_listing_is_left_for_a_later_run(
    aws: TemplateAws, ctx: TaskContext, admin: JobAdmin, store: JobStore
) -> None:
    dataset(ctx)
    job = make_job(admin, "ds1")
    put(aws, "drop/a.json")
    put(aws, "drop/b.json")
    state = state_of(job)
    job_run.job_start(ctx, state)
    job_run.job_prepare(ctx, state)
    batch_id = job_run.job_create_batch(ctx, state)["batchId"]
    put(aws, "drop/b.json", b'{"id": "b2"}\n')  # rewritten between the listing and the copy
    assert job_run.job_copy(ctx, state) == {"files": 1}
    run = store.get_run(ORG, SANDBOX, state["runId"])
    assert "1 file(s) changed or deleted" in next(s for s in run.steps if s.name == "copy").message
    assert sorted(f.name for f in ctx.store.list_files(ORG, SANDBOX, batch_id)) == ["a.json"]
    job_run.job_complete(ctx, state)
    set_batch(ctx, batch_id, "success")
    job_run.job_check_batch(ctx, state)
    job_run.job_finish(ctx, state)
    assert ledger(store, job, aws) == {"drop/a.json": "ingested"}, "the old b.json's claim is released"

    later = run_job(ctx, job)
    assert batch_files(ctx, later) == ["b.json"], "its new version is taken by the next run"
    copied = keys.upload_key("json", ORG, SANDBOX, "ds1", later.batches[0], "b.json")
    assert aws.client("s3").get_object(Bucket=aws.bucket, Key=copied)["Body"].read() == b'{"id": "b2"}\n'


def test_two_runs_at_the_same_instant_one_runs_and_one_is_skipped(
    aws: TemplateAws, ctx: TaskContext, admin: JobAdmin, store: JobStore
) -> None:
    dataset(ctx)
    job = make_job(admin, "ds1")
    put(aws, "drop/a.json")
    states = [state_of(job), state_of(job, trigger="manual")]
    barrier = threading.Barrier(2)

    def start(state: State) -> State:
        barrier.wait()
        return job_run.job_start(TaskContext.create(aws.settings), state)

    with ThreadPoolExecutor(2) as pool:
        outcomes = list(pool.map(start, states))
    assert sorted(o["go"] for o in outcomes) == [False, True], outcomes
    going, other = (states[0], states[1]) if outcomes[0]["go"] else (states[1], states[0])
    skipped = store.get_run(ORG, SANDBOX, other["runId"])
    assert skipped.status == "skipped" and skipped.ended is not None
    assert going["runId"] in skipped.message and "never overlap" in skipped.message
    assert store.get_job(ORG, SANDBOX, job.id).running == going["runId"]

    # the one that runs carries on; once it has finished, the next run goes
    run_job_from(ctx, going)
    assert store.get_run(ORG, SANDBOX, going["runId"]).status == "success"
    later = run_job(ctx, job)
    assert later.status == "success" and later.batches == []


def run_job_from(ctx: TaskContext, state: State) -> None:
    """The rest of a run whose Start has gone."""
    job_run.job_prepare(ctx, state)
    created = job_run.job_create_batch(ctx, state)
    job_run.job_copy(ctx, state)
    job_run.job_complete(ctx, state)
    set_batch(ctx, created["batchId"], "success")
    job_run.job_check_batch(ctx, state)
    job_run.job_finish(ctx, state)


def test_a_scheduled_run_of_an_inactive_job_is_skipped(
    aws: TemplateAws, ctx: TaskContext, admin: JobAdmin, store: JobStore
) -> None:
    dataset(ctx)
    job = make_job(admin, "ds1")
    put(aws, "drop/a.json")
    run = run_job(ctx, job, trigger="schedule")
    assert run.status == "skipped" and "inactive" in run.message and run.trigger == "schedule"
    assert run.batches == [] and ledger(store, job, aws) == {}


def test_a_run_whose_job_is_deleted_before_it_starts_is_closed(
    aws: TemplateAws, ctx: TaskContext, admin: JobAdmin, store: JobStore
) -> None:
    dataset(ctx)
    job = make_job(admin, "ds1")
    run_id = admin.run(ADMIN, job.id)  # recorded 'running', its execution started
    admin.delete(ADMIN, job.id)  # an inactive job may be deleted at once
    assert job_run.job_start(ctx, state_of(job, run_id))["go"] is False
    run = store.get_run(ORG, SANDBOX, run_id)
    assert (run.status, run.trigger) == ("skipped", "manual") and "deleted" in run.message
    assert run.ended is not None
    # a scheduled run of a deleted job leaves no record
    scheduled = state_of(job, trigger="schedule")
    assert job_run.job_start(ctx, scheduled)["go"] is False
    assert [r.id for r in store.list_runs(ORG, SANDBOX, job.id)] == [run_id]


# -- failures ----------------------------------------------------------------------------------
def test_a_deleted_dataset_fails_the_run_naming_it_and_the_job_stays(
    aws: TemplateAws, ctx: TaskContext, admin: JobAdmin, store: JobStore
) -> None:
    ds = dataset(ctx)
    job = make_job(admin, "ds1")
    put(aws, "drop/a.json")
    ctx.store.delete_dataset(ds, table_location=None)

    failed = run_job(ctx, job)
    assert failed.status == "failed" and "ds1" in failed.message, failed
    assert failed.errors and "ds1" in failed.errors[0]["message"]
    assert next(s for s in failed.steps if s.name == "create-batch").status == "failed"
    assert store.get_job(ORG, SANDBOX, job.id).running is None, "the lock is released"
    assert admin.get(ADMIN, job.id).id == job.id, "the job stays"

    # pointed at a dataset that exists, the next run takes the file the failed run had listed
    dataset(ctx, "ds2")
    attributes = {"datasetId": "ds2", "bucket": SOURCES, "prefix": "drop/", "format": "json"}
    admin.patch(ADMIN, job.id, JobPatch(attributes=attributes))
    retried = run_job(ctx, job)
    assert retried.status == "success" and batch_files(ctx, retried) == ["a.json"]


def test_a_run_failing_after_its_batch_was_made_aborts_it_and_frees_its_files(
    aws: TemplateAws, ctx: TaskContext, admin: JobAdmin, store: JobStore
) -> None:
    ds = dataset(ctx)
    job = make_job(admin, "ds1")
    put(aws, "drop/a.json")
    state = state_of(job)
    job_run.job_start(ctx, state)
    job_run.job_prepare(ctx, state)
    batch_id = job_run.job_create_batch(ctx, state)["batchId"]
    job_run.job_copy(ctx, state)
    assert ledger(store, job, aws) == {"drop/a.json": "claimed"}
    ctx.store.delete_dataset(ds, table_location=None)  # deleted while the run goes
    assert step(ctx, job_run.job_complete, state) is None, "COMPLETE is refused: the run fails"

    run = store.get_run(ORG, SANDBOX, state["runId"])
    assert run.status == "failed" and "ds1" in run.message, run
    assert next(s for s in run.steps if s.name == "complete").status == "failed"
    assert ctx.store.get_batch(ORG, SANDBOX, batch_id).status == "aborted"
    assert ledger(store, job, aws) == {}, "an aborted batch's files are free for a later run"
    assert store.get_job(ORG, SANDBOX, job.id).running is None


def test_a_batch_that_never_ends_fails_the_run_and_is_aborted(
    aws: TemplateAws, ctx: TaskContext, admin: JobAdmin, store: JobStore
) -> None:
    """The ASL's TooLong: the run stops waiting after JobMaxPolls checks and runs Fail."""
    dataset(ctx)
    job = make_job(admin, "ds1")
    put(aws, "drop/a.json")
    state = state_of(job)
    job_run.job_start(ctx, state)
    job_run.job_prepare(ctx, state)
    batch_id = job_run.job_create_batch(ctx, state)["batchId"]
    job_run.job_copy(ctx, state)
    job_run.job_complete(ctx, state)
    # a check that failed once and was retried leaves its error noted on the run
    note_failure(ctx, state, Transient("DynamoDB throttled the read"))
    assert job_run.job_check_batch(ctx, state)["final"] is False
    too_long = json.loads(ASL.read_text())["States"]["TooLong"]["Parameters"]
    job_run.job_fail(ctx, {**state, "error": too_long})

    run = store.get_run(ORG, SANDBOX, state["runId"])
    assert run.status == "failed" and "polling limit" in run.message, run.message
    assert run.errors[-1]["code"] == "BG-504-JOB-BATCH"
    assert next(s for s in run.steps if s.name == "wait").status == "failed"
    batch = ctx.store.get_batch(ORG, SANDBOX, batch_id)
    assert batch.status == "aborted", "what the run's message says became of the batch"
    assert "aborts the batch" in run.message
    assert ledger(store, job, aws) == {}, "its file is left for a later run"


def test_a_vanished_source_bucket_fails_the_run_naming_it(
    aws: TemplateAws, ctx: TaskContext, admin: JobAdmin, store: JobStore
) -> None:
    dataset(ctx)
    job = make_job(admin, "ds1")
    aws.client("s3").delete_bucket(Bucket=SOURCES)
    failed = run_job(ctx, job)
    assert failed.status == "failed" and SOURCES in failed.message and "does not exist" in failed.message
    assert failed.errors[0]["code"] == "BG-400-JOB-SOURCE"
    assert next(s for s in failed.steps if s.name == "list").status == "failed"
    assert failed.batches == [] and store.get_job(ORG, SANDBOX, job.id).running is None
    assert admin.get(ADMIN, job.id).status == "inactive", "the job stays"


def test_a_failed_batch_fails_the_run_with_its_errors(
    aws: TemplateAws, ctx: TaskContext, admin: JobAdmin, store: JobStore
) -> None:
    dataset(ctx)
    job = make_job(admin, "ds1")
    put(aws, "drop/a.json")
    state = state_of(job)
    job_run.job_start(ctx, state)
    job_run.job_prepare(ctx, state)
    batch_id = job_run.job_create_batch(ctx, state)["batchId"]
    job_run.job_copy(ctx, state)
    job_run.job_complete(ctx, state)
    waiting = job_run.job_check_batch(ctx, state)
    assert waiting["final"] is False
    assert "loaded" in store.get_run(ORG, SANDBOX, state["runId"]).steps[-1].message
    errors = [ErrorEntry(code="BG-FILE-PARSE", description="a.json: line 1 is not JSON")]
    set_batch(ctx, batch_id, "failed", errors=errors)
    assert job_run.job_check_batch(ctx, state)["final"] is True
    assert job_run.job_finish(ctx, state) == {"status": "failed"}
    run = store.get_run(ORG, SANDBOX, state["runId"])
    assert run.status == "failed" and batch_id in run.message
    assert run.errors == [{"code": "BG-FILE-PARSE", "description": "a.json: line 1 is not JSON"}]
    assert next(s for s in run.steps if s.name == "wait").status == "failed"
    assert ledger(store, job, aws) == {"drop/a.json": "failed"}, "not taken again until it changes"
    assert run_job(ctx, job).batches == []
    put(aws, "drop/a.json", b'{"id": "fixed"}\n')
    assert batch_files(ctx, run_job(ctx, job)) == ["a.json"]


def test_retried_tasks_duplicate_nothing(
    aws: TemplateAws, ctx: TaskContext, admin: JobAdmin, store: JobStore
) -> None:
    dataset(ctx)
    job = make_job(admin, "ds1")
    put(aws, "drop/a.json")
    put(aws, "drop/b.json")
    state = state_of(job)
    for _ in range(2):
        assert job_run.job_start(ctx, state)["go"] is True
    for _ in range(2):
        assert job_run.job_prepare(ctx, state) == {"files": 2}
    created = [job_run.job_create_batch(ctx, state) for _ in range(2)]
    assert created[0] == created[1] == {"files": 2, "batchId": job_run.batch_id_of(state["runId"])}
    for _ in range(2):
        assert job_run.job_copy(ctx, state) == {"files": 2}
    for _ in range(2):
        job_run.job_complete(ctx, state)
    set_batch(ctx, created[0]["batchId"], "success")
    for _ in range(2):
        job_run.job_check_batch(ctx, state)
    for _ in range(2):
        assert job_run.job_finish(ctx, state) == {"status": "success"}

    run = store.get_run(ORG, SANDBOX, state["runId"])
    assert run.status == "success" and run.batches == [created[0]["batchId"]]
    assert [s.name for s in run.steps] == [
        "start",
        "list",
        "create-batch",
        "copy",
        "complete",
        "wait",
        "finish",
    ]
    assert batch_files(ctx, run) == ["a.json", "b.json"]
    assert [b.id for b in ctx.store.list_batches(ORG, SANDBOX, BatchQuery(dataset_id="ds1"))] == run.batches
    complete = aws.client("stepfunctions").list_executions(
        stateMachineArn=aws.settings.complete_state_machine_arn
    )["executions"]
    assert len(complete) == 1, "one completion started"
    assert ledger(store, job, aws) == {"drop/a.json": "ingested", "drop/b.json": "ingested"}
    assert [r.id for r in store.list_runs(ORG, SANDBOX, job.id)] == [run.id]
