"""Tasks of the complete state machine (``statemachines/complete.asl.json``).

    CheckFiles ─ready→ Mode ─append→ Promote | ─replay→ Replay | ─upsert→ Upsert
               ─waiting→ WaitForFiles → CheckFiles     ─timeout→ MarkStalled
    Promote/Replay/Upsert ─Transient→ MarkRetrying → WaitRetry → Mode | Stalled
                          ─anything else→ MarkFailed

WaitForFiles is a task (``await_files``) that parks its token on the batch and stays unanswered:
the validator that records the batch's last pending file answers it (``ingest.results``), so the
commit starts right after the last file rather than at the next poll; otherwise the state times
out after ``pollSeconds``, which is the poll (decision 62).

Promote, Replay and Upsert share one shape (:func:`_land`): apply the batch rule, then land the
batch in one Iceberg commit; they differ in that commit and in what undoes it. Every status change
is a conditional write on the status just read: if ABORT wins while the commit runs, the commit is
compensated by reverting exactly what it did (saga).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

from batchgate import faults
from batchgate.core.errors import BatchgateError, IllegalTransition
from batchgate.core.ids import now_ms
from batchgate.core.models import Batch, BatchFile, Dataset, ErrorEntry
from batchgate.core.status import FINAL, PENDING_FILES, decide, next_status
from batchgate.core.upsert_rules import required_at_commit
from batchgate.lake.commit import CommitResult
from batchgate.lake.promote import promote as promote_commit
from batchgate.lake.promote import replay as replay_commit
from batchgate.lake.upsert import upsert as upsert_commit
from batchgate.observability import logger, tracer
from batchgate.workflow.context import PARKED, Parked, State, TaskContext, errors_with_cause
from batchgate.workflow.evolve import NewColumnsConflict, evolve_for_batch
from batchgate.workflow.refusals import CommitRefusals, TooManyRefused
from batchgate.workflow.revert import revert_commit

MAX_PROMOTE_ATTEMPTS = 5
# Batches of more files are polled only: waking the completion lists the batch's files at every
# recorded result, which must stay cheap.
WAKE_MAX_FILES = 100
Mode = Literal["append", "replay", "upsert"]


def mode_of(batch: Batch, dataset: Dataset) -> Mode:
    """Which commit lands the batch. Replay takes precedence over upsert: a replay batch in an
    upsert dataset replaces its predecessors' rows."""
    if batch.replay is not None:
        return "replay"
    if dataset.tags.is_upsert:
        return "upsert"
    return "append"


def check_files(ctx: TaskContext, state: State) -> State:
    """Are all files validated? ``state``: ready | waiting | aborted | timeout."""
    batch, dataset = ctx.load(state)
    mode = mode_of(batch, dataset)
    if batch.status == "aborted":
        return {"state": "aborted", "mode": mode}
    files = ctx.store.list_files(batch.org, batch.sandbox, batch.id)
    pending = [f.name for f in files if f.status in PENDING_FILES]
    if not pending:
        return {"state": "ready", "mode": mode, "files": len(files)}
    cfg = state.get("cfg") or {}
    if int(cfg.get("polls", 0)) >= int(cfg.get("maxPolls", 0)):
        return {"state": "timeout", "mode": mode, "pending": pending[:20]}
    return {"state": "waiting", "mode": mode, "pending": pending[:20]}


def await_files(ctx: TaskContext, state: State) -> State | Parked:
    """WaitForFiles: answered at once if no file is pending any more; otherwise this task's token
    is parked on the batch for the last file's validator to answer (``ingest.results``), and the
    state times out after ``pollSeconds`` if nobody does. The token is parked before the files
    are read, and a validator reads it after writing its result: whichever comes second sees the
    other's write, so a result recorded meanwhile is never missed."""
    org, sandbox, batch_id, token = state["org"], state["sandbox"], state["batchId"], state["taskToken"]
    files = ctx.store.list_files(org, sandbox, batch_id)
    if len(files) > WAKE_MAX_FILES:
        return PARKED  # polled only: nothing parked, the state's timeout is the wait
    ctx.store.park_waiter(org, sandbox, batch_id, token)
    if check_files(ctx, state)["state"] != "waiting" and ctx.store.take_waiter(org, sandbox, batch_id, token):
        return {"woken": "at once"}
    return PARKED


Commit = Callable[[Batch, Dataset, list[BatchFile], CommitRefusals], CommitResult]


def promote(ctx: TaskContext, state: State) -> State:
    """Append the batch's staged files to the table."""

    def commit(batch: Batch, dataset: Dataset, files: list[BatchFile], _: CommitRefusals) -> CommitResult:
        return promote_commit(ctx.lake(dataset), dataset, batch.id, ctx.staged_uris(files))

    return _land(ctx, state, "append", commit)


def replay(ctx: TaskContext, state: State) -> State:
    """Replace the predecessors' rows with the batch's in one commit, then mark them inactive."""

    def commit(batch: Batch, dataset: Dataset, files: list[BatchFile], _: CommitRefusals) -> CommitResult:
        assert batch.replay is not None
        predecessors = batch.replay.predecessors
        return replay_commit(ctx.lake(dataset), dataset, batch.id, ctx.staged_uris(files), predecessors)

    result = _land(ctx, state, "replay", commit)
    if result["status"] == "success":
        _replace_predecessors(ctx, ctx.store.get_batch(state["org"], state["sandbox"], state["batchId"]))
    return result


def upsert(ctx: TaskContext, state: State) -> State:
    """Merge the batch's rows into the table by the dataset's identity (AEP patch semantics)."""

    def commit(
        batch: Batch, dataset: Dataset, files: list[BatchFile], refusals: CommitRefusals
    ) -> CommitResult:
        # patch semantics are per file: each staged file carries its source file's columns
        present: dict[str, list[str] | None] = {
            uri: f.present_columns for f in files for uri in ctx.staged_uris([f])
        }
        staged = ctx.staged_uris(files)
        return upsert_commit(
            ctx.lake(dataset),
            dataset,
            batch.id,
            staged,
            dataset.tags.identity,
            present,
            required_at_commit=refusals.required,
            on_refused=refusals.write,
        )

    return _land(ctx, state, "upsert", commit)


@tracer.capture_method
def _land(ctx: TaskContext, state: State, mode: Mode, commit: Commit) -> State:
    """Apply the batch rule and land the batch in one Iceberg commit."""
    batch, dataset = ctx.load(state)
    if batch.status in FINAL or batch.status == "stalled":
        return {"status": batch.status}  # a repeat after the outcome was recorded
    if mode_of(batch, dataset) != mode:
        raise BatchgateError(
            f"batch {batch.id} is a {mode_of(batch, dataset)} batch but reached the {mode} task",
            code="BG-500-WRONG-TASK",
        )
    files = ctx.store.list_files(batch.org, batch.sandbox, batch.id)
    stuck = [f for f in files if f.status in PENDING_FILES]
    if stuck:
        names = ", ".join(f.name for f in stuck[:5])
        error = ErrorEntry(
            code="BG-FILE-INCOMPLETE",
            description=f"files never finished uploading or validating: {names}; upload them again in a new batch",
        )
        ctx.move(batch, "failed", errors=[error])
        ctx.notify(batch, "failed")
        return {"status": "failed"}
    # From "staging" this is a landing resumed after its task was lost (a restart of the local
    # stack): the commit is idempotent, so it simply runs again.
    target = "staging" if batch.status == "staging" else next_status(batch.status, "STAGE")
    assert target is not None
    batch = ctx.move(batch, target, commit_started=now_ms())
    outcome = decide(files, batch.partial_ingestion_percentage, diagnostics=batch.enable_error_diagnostics)
    if not outcome.succeeded:
        batch = ctx.move(
            batch, "failed", commit_ended=now_ms(), metrics=outcome.metrics, errors=outcome.errors
        )
        ctx.notify(batch, "failed")
        return {"status": "failed"}
    try:
        dataset = evolve_for_batch(ctx, dataset, files)
    except NewColumnsConflict as exc:
        error = ErrorEntry(code=exc.code, description=exc.message)
        batch = ctx.move(
            batch, "failed", commit_ended=now_ms(), metrics=outcome.metrics, errors=[*outcome.errors, error]
        )
        ctx.notify(batch, "failed")
        return {"status": "failed"}
    faults.inject("commit")
    refusals = CommitRefusals(ctx, batch, files, required_at_commit(dataset, batch))
    try:
        result = commit(batch, dataset, files, refusals)
    except TooManyRefused as exc:
        outcome = decide(
            refusals.apply(), batch.partial_ingestion_percentage, diagnostics=batch.enable_error_diagnostics
        )
        error = ErrorEntry(code=exc.code, description=exc.message)
        batch = ctx.move(
            batch, "failed", commit_ended=now_ms(), metrics=outcome.metrics, errors=[*outcome.errors, error]
        )
        ctx.notify(batch, "failed")
        return {"status": "failed"}
    if refusals.required:
        # rows refused at commit are failed records now: the counts and the error sample say so
        outcome = decide(
            refusals.apply(), batch.partial_ingestion_percentage, diagnostics=batch.enable_error_diagnostics
        )
    try:
        batch = ctx.move(
            batch,
            "success",
            commit_ended=now_ms(),
            metrics=outcome.metrics,
            # transient errors from earlier attempts stay visible: "succeeded after a retry"
            errors=[*batch.errors, *outcome.errors],
            snapshot_id=result.snapshot_id,
            previous_snapshot_id=result.previous_snapshot_id,
        )
    except IllegalTransition:
        # ABORT won while the commit ran: undo exactly what this batch committed. An append is
        # undone by dropping its files; a replay or upsert by restoring the snapshot before it.
        logger.warning("aborted during promotion; compensating", extra={"batch_id": batch.id})
        prior = result.previous_snapshot_id if mode != "append" else None
        revert_commit(dataset, batch.id, prior_snapshot=prior)
        return {"status": "aborted"}
    ctx.notify(batch, "success")
    return {"status": "success", "snapshotId": str(result.snapshot_id), "rows": result.rows_added}


def _replace_predecessors(ctx: TaskContext, batch: Batch) -> None:
    assert batch.replay is not None
    for pid in batch.replay.predecessors:
        pred = ctx.store.get_batch(batch.org, batch.sandbox, pid)
        if pred.status == "success":
            try:
                ctx.move(pred, "inactive", successor=batch.id)
            except IllegalTransition:
                logger.warning("predecessor changed concurrently", extra={"batch_id": pid})


def mark_retrying(ctx: TaskContext, state: State) -> State:
    batch, _ = ctx.load(state)
    if batch.status == "aborted":
        return {"state": "aborted"}
    attempts = int((state.get("retry") or {}).get("attempts", 0)) + 1
    errors = errors_with_cause(batch, state.get("error"), "BG-503-TRANSIENT")
    if attempts >= MAX_PROMOTE_ATTEMPTS:
        ctx.move(batch, "stalled", errors=errors)
        ctx.notify(batch, "stalled")
        return {"state": "stalled", "attempts": attempts}
    if batch.status == "staging":
        ctx.move(batch, "retrying", errors=errors)
    # from "loaded" the failure came before staging; the next attempt stages it
    return {"state": "retrying", "attempts": attempts}


def mark_stalled(ctx: TaskContext, state: State) -> State:
    batch, _ = ctx.load(state)
    pending = (state.get("files") or {}).get("pending") or []
    error = ErrorEntry(
        code="BG-BATCH-STALLED",
        description=f"files still not validated after the polling limit: {', '.join(pending) or 'unknown'}",
    )
    if batch.status in ("loaded", "staging", "retrying"):
        ctx.move(batch, "stalled", errors=[*batch.errors, error])
        ctx.notify(batch, "stalled")
    return {"status": "stalled"}


def mark_failed(ctx: TaskContext, state: State) -> State:
    batch, _ = ctx.load(state)
    if batch.status in ("loaded", "staging", "retrying", "stalled"):
        batch = ctx.move(
            batch,
            "failed",
            errors=errors_with_cause(batch, state.get("error"), "BG-500-WORKFLOW"),
            # the landing, if it began, ended here
            commit_ended=now_ms() if batch.commit_started is not None else None,
        )
        ctx.notify(batch, "failed")
    return {"status": batch.status}


TASKS: dict[str, Callable[[TaskContext, State], Any]] = {
    "check_files": check_files,
    "await_files": await_files,
    "promote": promote,
    "replay": replay,
    "upsert": upsert,
    "mark_retrying": mark_retrying,
    "mark_stalled": mark_stalled,
    "mark_failed": mark_failed,
}
