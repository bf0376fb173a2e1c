"""The state machines' tasks on the status model's less travelled paths: abandoned, retrying →
stalled, files that never arrive, polling that runs out. Against moto's server, tasks called
directly (the e2e tests run the same tasks through Step Functions)."""

from __future__ import annotations

import time

import pytest

from batchgate.aws.executions import Executions
from batchgate.core.errors import CommitConflict, InvalidRequest
from batchgate.core.keys import inbox_batch_id
from batchgate.core.models import Batch, BatchFile, BatchStatus
from batchgate.ingest.messages import ObjectEvent
from batchgate.ingest.results import record_result
from batchgate.validation import FileResult
from batchgate.workflow import complete, gc
from batchgate.workflow.context import PARKED, TaskContext
from batchgate.workflow.tasks import task_failure
from tests.conftest import TemplateAws
from tests.integration.helpers import new_batch

SCHEMA = {"fields": [{"name": "id", "type": "string", "required": True}]}


@pytest.fixture
def workflow(module_aws: TemplateAws) -> TaskContext:
    return TaskContext.create(module_aws.settings)


def make_batch(wf: TaskContext, bid: str, status: BatchStatus = "loading", age_ms: int = 0) -> Batch:
    return new_batch(wf.store, bid, SCHEMA, status=status, age_ms=age_ms)[0]


def state(b: Batch, **extra: object) -> dict[str, object]:
    return {"org": b.org, "sandbox": b.sandbox, "batchId": b.id, "datasetId": b.dataset_id, **extra}


def test_loading_past_its_ttl_is_abandoned_and_fresh_ones_are_not(workflow: TaskContext) -> None:
    stale = make_batch(workflow, "stale", age_ms=2 * 3600 * 1000)
    fresh = make_batch(workflow, "fresh")
    result = gc.sweep(workflow, {"retentionSeconds": 3600})
    assert result["abandoned"] >= 1
    assert workflow.store.get_batch("o", "s", stale.id).status == "abandoned"
    assert workflow.store.get_batch("o", "s", fresh.id).status == "loading"


def test_transient_failures_retry_then_stall(workflow: TaskContext) -> None:
    b = make_batch(workflow, "flaky", status="staging")
    error = {"Error": "Transient", "Cause": '{"code": "BG-503-COMMIT-CONFLICT", "message": "lost the race"}'}
    retry: dict[str, object] = {}
    for attempt in range(1, complete.MAX_PROMOTE_ATTEMPTS):
        retry = complete.mark_retrying(workflow, state(b, error=error, retry=retry))
        assert retry == {"state": "retrying", "attempts": attempt}
        current = workflow.store.get_batch("o", "s", b.id)
        assert current.status == "retrying"
        # the next promote attempt stages it again (retrying → staging), then fails again
        workflow.store.save_batch(
            current.model_copy(update={"status": "staging"}),
            expected_status="retrying",
            expected_version=current.version,
        )
    final = complete.mark_retrying(workflow, state(b, error=error, retry=retry))
    assert final["state"] == "stalled"
    stalled = workflow.store.get_batch("o", "s", b.id)
    assert stalled.status == "stalled"
    assert [e.code for e in stalled.errors] == ["BG-503-COMMIT-CONFLICT"], "one error, not one per attempt"


def test_files_that_never_arrive_fail_the_batch_with_their_names(workflow: TaskContext) -> None:
    b = make_batch(workflow, "stuck", status="loaded")
    workflow.store.put_file(
        "o", "s", BatchFile(batch_id=b.id, name="never.json", key="uploads/json/x", status="uploading")
    )
    assert complete.promote(workflow, state(b)) == {"status": "failed"}
    failed = workflow.store.get_batch("o", "s", b.id)
    assert failed.status == "failed"
    assert failed.errors[0].code == "BG-FILE-INCOMPLETE" and "never.json" in failed.errors[0].description


def test_polling_for_files_is_bounded(workflow: TaskContext) -> None:
    b = make_batch(workflow, "slow", status="loaded")
    workflow.store.put_file(
        "o", "s", BatchFile(batch_id=b.id, name="late.json", key="uploads/json/y", status="validating")
    )
    assert complete.check_files(workflow, state(b, cfg={"polls": 3, "maxPolls": 10}))["state"] == "waiting"
    timed_out = complete.check_files(workflow, state(b, cfg={"polls": 10, "maxPolls": 10}))
    assert timed_out["state"] == "timeout" and timed_out["pending"] == ["late.json"]
    complete.mark_stalled(workflow, state(b, files=timed_out))
    stalled = workflow.store.get_batch("o", "s", b.id)
    assert stalled.status == "stalled" and "late.json" in stalled.errors[-1].description


def test_an_empty_batch_fails_with_a_clear_error(workflow: TaskContext) -> None:
    b = make_batch(workflow, "empty", status="loaded")
    assert complete.check_files(workflow, state(b, cfg={"polls": 0, "maxPolls": 5}))["state"] == "ready"
    assert complete.promote(workflow, state(b)) == {"status": "failed"}
    assert workflow.store.get_batch("o", "s", b.id).errors[0].code == "BG-BATCH-EMPTY"


def test_error_names_route_the_asl() -> None:
    assert task_failure(CommitConflict("x"))[0] == "Transient", "every transient error is retried by name"
    assert task_failure(InvalidRequest("bad"))[0] == "InvalidRequest"
    assert task_failure(ValueError("boom"))[0] == "ValueError"


def test_sweep_records_inbox_drops_no_validator_took(workflow: TaskContext) -> None:
    from batchgate.aws.clients import client

    _, ds = new_batch(workflow.store, "sweep-inbox", SCHEMA)
    s3 = client("s3")
    key = f"inbox/o/s/{ds.id}/notes.txt"
    version = s3.put_object(Bucket=workflow.settings.bucket, Key=key, Body=b"hello")["VersionId"]
    s3.put_object(Bucket=workflow.settings.bucket, Key="inbox/stray.json", Body=b"{}")  # no tenant in the key
    assert gc.record_unrouted_drops(workflow, older_than_ms=int(time.time() * 1000) - 60_000) == 0, (
        "too young: its event may come"
    )
    assert gc.record_unrouted_drops(workflow, older_than_ms=int(time.time() * 1000) + 1000) == 1
    b = workflow.store.get_batch("o", "s", inbox_batch_id(key, version))
    assert b.status == "failed" and b.errors[0].code == "BG-INBOX-SUFFIX"
    assert gc.record_unrouted_drops(workflow, older_than_ms=int(time.time() * 1000) + 1000) == 0, (
        "recorded once"
    )


def test_a_waiting_completion_is_answered_by_the_result_of_the_last_pending_file(
    workflow: TaskContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    answered: list[tuple[str, dict[str, object]]] = []
    monkeypatch.setattr(
        Executions, "task_succeeded", lambda self, token, output: answered.append((token, output))
    )
    b = make_batch(workflow, "waits", status="loaded")
    for name in ("a.json", "b.json"):
        workflow.store.put_file(
            "o", "s", BatchFile(batch_id=b.id, name=name, key=f"uploads/json/{name}", status="validating")
        )
    cfg = {"polls": 0, "maxPolls": 10}
    assert complete.await_files(workflow, state(b, cfg=cfg, taskToken="token-1")) is PARKED
    assert workflow.store.waiter("o", "s", b.id) == "token-1"

    def recorded(name: str, sequencer: str) -> str:
        ev = ObjectEvent("bucket", f"uploads/json/{name}", 10, "etag", None, sequencer)
        return record_result(
            workflow.store, ev, b, name, FileResult(input_record_count=1, output_record_count=1)
        )

    assert recorded("a.json", "01") == "validated"
    assert answered == [], "b.json is still pending: the completion keeps waiting"
    assert recorded("a.json", "01") == "duplicate"
    assert recorded("b.json", "02") == "validated"
    assert answered == [("token-1", {"woken": "by the last file"})]
    assert workflow.store.waiter("o", "s", b.id) is None, "taken by the one who answered it"
    # A wait that starts after the last result is answered at once, and parks nothing.
    assert complete.await_files(workflow, state(b, cfg=cfg, taskToken="token-2")) == {"woken": "at once"}
    assert workflow.store.waiter("o", "s", b.id) is None
    assert len(answered) == 1


def test_a_completion_of_many_files_is_only_polled(workflow: TaskContext) -> None:
    b = make_batch(workflow, "many", status="loaded")
    for i in range(complete.WAKE_MAX_FILES + 1):
        workflow.store.put_file(
            "o",
            "s",
            BatchFile(batch_id=b.id, name=f"f{i}.json", key=f"uploads/json/f{i}", status="validating"),
        )
    cfg = {"polls": 0, "maxPolls": 10}
    assert complete.await_files(workflow, state(b, cfg=cfg, taskToken="token-3")) is PARKED
    assert workflow.store.waiter("o", "s", b.id) is None, "the state's timeout is the whole wait"
    # take_waiter removes only the token it names
    workflow.store.park_waiter("o", "s", b.id, "token-4")
    assert not workflow.store.take_waiter("o", "s", b.id, "token-3")
    assert workflow.store.take_waiter("o", "s", b.id, "token-4")
    assert not workflow.store.take_waiter("o", "s", b.id, "token-4")
