"""Tasks of the job-run state machine (``statemachines/job_run.asl.json``): one run of a job.

    Start ─skip→ Done
          ─go→ Prepare (ingest-s3: list new objects | ingest-http: conditional GET to S3)
               ─nothing new→ Finish
               → CreateBatch (claim the objects, create the batch) → Copy → Complete
               → Wait / CheckBatch … until the batch is final → Finish
    any failure after Start → Fail (the run fails, an open batch is aborted, the lock released)

Every task is idempotent, keyed by the run id: a retried task, or a run restarted after the
local stack was killed, finds what it did before (the run record, the batch with the id derived
from the run, the ledger claims carrying the run id) and carries on. Exactly once: an object is
taken by a conditional write of (key, ETag) into the job's ledger, so two runs can never both
take it; a run's steps are written to the run record as they happen, which is what the history
shows.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

from batchgate.aws.feed_store import FeedStore
from batchgate.aws.job_store import Claim, JobStore
from batchgate.core import keys
from batchgate.core.errors import BatchgateError, Conflict, IllegalTransition, InvalidRequest, NotFound
from batchgate.core.ids import now_ms
from batchgate.core.models import BatchFile, InputFormat
from batchgate.core.principal import Principal
from batchgate.core.status import FINAL
from batchgate.feeds.models import SyncMode
from batchgate.feeds.start import start_sync
from batchgate.ingest.batch_actions import BatchActions
from batchgate.jobs.models import Job, Run, RunStep
from batchgate.jobs.sources import fetch_new, list_new, run_file_key
from batchgate.observability import logger
from batchgate.workflow.context import State, TaskContext, caught_error, raised_error

# A lock held longer than this by a run that is not going any more is taken over.
STALE_LOCK_MS = 24 * 3600 * 1000


def _store(ctx: TaskContext) -> JobStore:
    return JobStore(ctx.settings.table_name)


def _principal(job: Job) -> Principal:
    """A run acts for the job: batches say who set it up."""
    return Principal(job.org, job.sandbox, f"job:{job.id}", f"job:{job.name}", role="admin")


def batch_id_of(run_id: str) -> str:
    """The batch a run creates, fixed by the run, so a retried CreateBatch finds it."""
    return hashlib.sha256(f"job-run:{run_id}".encode()).hexdigest()[:24]


class _RunLog:
    """The run record and its steps, written as each step starts and ends."""

    def __init__(self, store: JobStore, run: Run) -> None:
        self.store = store
        self.run = run

    def begin(self, name: str) -> RunStep:
        for step in self.run.steps:
            if step.name == name:  # a retried task: the same step again
                step.status, step.ended, step.message = "running", None, ""
                self.store.put_run(self.run)
                return step
        step = RunStep(name=name, started=now_ms())
        self.run.steps.append(step)
        self.store.put_run(self.run)
        return step

    def end(self, step: RunStep, status: str = "success", message: str = "", **metrics: int) -> None:
        step.status, step.ended, step.message = status, now_ms(), message  # type: ignore[assignment]
        step.metrics.update(metrics)
        self.store.put_run(self.run)


def _context(ctx: TaskContext, state: State) -> tuple[JobStore, Job, _RunLog]:
    store = _store(ctx)
    job = store.get_job(state["org"], state["sandbox"], state["jobId"])
    run = store.get_run(state["org"], state["sandbox"], state["runId"])
    return store, job, _RunLog(store, run)


# -- Start --------------------------------------------------------------------------------------
def job_start(ctx: TaskContext, state: State) -> State:
    """Record the run and take the job's lock; ``go`` false when the run is skipped."""
    store = _store(ctx)
    org, sandbox, run_id = state["org"], state["sandbox"], state["runId"]
    try:
        job = store.get_job(org, sandbox, state["jobId"])
    except NotFound:
        logger.warning("a run of a deleted job", extra={"job_id": state["jobId"], "run_id": run_id})
        reason = "the job was deleted before its run started"
        # A RUN records its run before the execution starts: deleted in between, that run
        # would stay 'running' for ever. It is closed as skipped (a scheduled run has no record).
        try:
            recorded = store.get_run(org, sandbox, run_id)
        except NotFound:
            return {"go": False, "reason": reason}
        if recorded.status == "running":
            _close(store, recorded, "skipped", reason)
        return {"go": False, "reason": reason}
    run = Run(
        id=run_id, org=org, sandbox=sandbox, job_id=job.id, job_name=job.name, workflow=job.workflow,
        trigger=state.get("trigger", "manual"), started=now_ms(), scheduled=state.get("scheduledTime"),
    )  # fmt: skip
    if not store.create_run(run):
        run = store.get_run(org, sandbox, run_id)
        if run.status != "running":
            return {"go": False, "reason": f"run {run_id} is already {run.status}"}
    log = _RunLog(store, run)
    step = log.begin("start")
    why_not = _why_skip(store, job, run)
    if why_not is not None:
        log.end(step, "skipped", why_not)
        _close(store, run, "skipped", why_not)
        return {"go": False, "reason": why_not}
    log.end(step, message=f"{run.trigger} run of {job.workflow}")
    return {"go": True, "workflow": job.workflow}


def _why_skip(store: JobStore, job: Job, run: Run) -> str | None:
    if run.trigger == "schedule" and job.status != "active":
        return "the job is inactive: its schedule fired as it was switched off"
    if store.take_run_lock(job, run.id):
        return None
    holder = store.get_job(job.org, job.sandbox, job.id).running
    if holder and _stale(store, job, holder):
        store.release_run_lock(job, holder)
        if store.take_run_lock(job, run.id):
            return None
    return f"run {holder} of this job was still going: runs of one job never overlap"


def _stale(store: JobStore, job: Job, run_id: str) -> bool:
    try:
        held = store.get_run(job.org, job.sandbox, run_id)
    except NotFound:
        return True
    return held.status != "running" or now_ms() - held.started > STALE_LOCK_MS


# -- Prepare ------------------------------------------------------------------------------------
def job_prepare(ctx: TaskContext, state: State) -> State:
    """What this run would ingest, written to S3 (a list may be longer than a state may hold)."""
    store, job, log = _context(ctx, state)
    if job.workflow == "export-feed":
        return _start_feed_sync(ctx, job, log)
    if job.workflow == "ingest-s3":
        step = log.begin("list")
        sources, notes = list_new(store, job, log.run.id)
    else:
        step = log.begin("fetch")
        sources, notes = fetch_new(ctx.objects, store, job, log.run.id)
    ctx.objects.put_json(run_file_key(job, log.run.id, "sources"), sources)
    size = sum(int(s["size"]) for s in sources)
    log.end(step, message=notes or f"{len(sources)} new file(s)", files=len(sources), bytes=size)
    return {"files": len(sources)}


def _start_feed_sync(ctx: TaskContext, job: Job, log: _RunLog) -> State:
    """An export-feed run starts one sync of its feed and waits for it (the same wait loop as a
    batch). The sync id is kept under the run's prefix, so a retried Prepare finds it."""
    step = log.begin("sync")
    kept = run_file_key(job, log.run.id, "sync")
    if ctx.objects.exists(kept):
        return {"files": 0, "syncId": ctx.objects.get_json(kept)["syncId"]}
    feeds = FeedStore(ctx.settings.table_name)
    try:
        feed = feeds.get_feed(job.org, job.sandbox, job.attributes["feedId"])
    except NotFound as exc:
        raise InvalidRequest(
            f"the job's feed {job.attributes['feedId']} was deleted", code="BG-400-JOB-FEED"
        ) from exc
    mode: SyncMode = "full" if job.attributes.get("mode") == "full" else "incremental"
    sync_id = start_sync(feeds, ctx.settings.feed_sync_state_machine_arn, feed, mode, trigger=f"job:{job.id}")
    ctx.objects.put_json(kept, {"syncId": sync_id})
    step.message = f"sync {sync_id} of feed {feed.name} ({mode})"
    log.store.put_run(log.run)
    return {"files": 0, "syncId": sync_id}


def _check_feed_sync(ctx: TaskContext, job: Job, log: _RunLog, polls: int) -> State:
    sync_id = ctx.objects.get_json(run_file_key(job, log.run.id, "sync"))["syncId"]
    sync = FeedStore(ctx.settings.table_name).get_sync(job.org, job.sandbox, sync_id)
    step = next(s for s in log.run.steps if s.name == "sync")
    if sync.status == "running":
        return {"final": False, "polls": polls}
    log.end(
        step,
        "success" if sync.status == "success" else "failed",
        f"sync {sync.id} is {sync.status}: {sync.message}",
        rows=sync.rows.upserted + sync.rows.deleted, items=sync.items.total, failed=sync.items.failed,
    )  # fmt: skip
    return {"final": True, "polls": polls, "status": sync.status}


# -- CreateBatch --------------------------------------------------------------------------------
def job_create_batch(ctx: TaskContext, state: State) -> State:
    store, job, log = _context(ctx, state)
    step = log.begin("create-batch")
    sources = ctx.objects.get_json(run_file_key(job, log.run.id, "sources"))
    batch_id = batch_id_of(log.run.id)
    if job.workflow == "ingest-s3":
        mine = [
            s for s in sources
            if store.claim(job, s["key"], s["etag"], run_id=log.run.id, batch_id=batch_id)
        ]  # fmt: skip
    else:
        mine = sources
    ctx.objects.put_json(run_file_key(job, log.run.id, "claimed"), mine)
    if not mine:
        log.end(step, "skipped", "another run took every file first", files=0)
        return {"files": 0}
    a = job.attributes
    batches = BatchActions(ctx.store, ctx.settings)
    try:
        batches.create(
            _principal(job),
            dataset_id=a["datasetId"],
            input_format=InputFormat.model_validate({**(a.get("inputFormat") or {}), "format": a["format"]}),
            partial_ingestion_percentage=float(a.get("partialIngestionPercentage") or 0),
            batch_id=batch_id,
        )
    except Conflict:
        pass  # a retry: the batch of this run exists
    except InvalidRequest as exc:
        raise InvalidRequest(f"the job's dataset: {exc.message}", code="BG-400-JOB-DATASET") from exc
    if batch_id not in log.run.batches:
        log.run.batches.append(batch_id)
    log.end(step, message=f"batch {batch_id}", files=len(mine))
    return {"files": len(mine), "batchId": batch_id}


# -- Copy ---------------------------------------------------------------------------------------
def job_copy(ctx: TaskContext, state: State) -> State:
    """Each file into the batch, server-side; a file the validators already have is left alone."""
    store, job, log = _context(ctx, state)
    step = log.begin("copy")
    batch = ctx.store.get_batch(job.org, job.sandbox, batch_id_of(log.run.id))
    copied, size, gone = 0, 0, []
    for s in ctx.objects.get_json(run_file_key(job, log.run.id, "claimed")):
        key = keys.upload_key(
            batch.input_format.format, job.org, job.sandbox, batch.dataset_id, batch.id, s["name"]
        )
        f = BatchFile(
            batch_id=batch.id, name=s["name"], key=key, status="uploading", size=s["size"], etag=s["etag"]
        )
        try:
            ctx.store.put_file(job.org, job.sandbox, f, only_if_new=True)
        except Conflict:
            existing = ctx.store.get_file(job.org, job.sandbox, batch.id, s["name"])
            if existing is not None and (existing.status != "uploading" or ctx.objects.exists(key)):
                copied, size = copied + 1, size + int(s["size"])
                continue
        if not ctx.objects.copy_in(s["bucket"], s["key"], key, size=int(s["size"]), etag=s["etag"]):
            gone.append(s)
            continue
        copied, size = copied + 1, size + int(s["size"])
    if gone:
        for s in gone:  # changed or deleted since it was listed: a later run takes its new version
            ctx.store.delete_file(job.org, job.sandbox, batch.id, s["name"])
            if job.workflow == "ingest-s3":
                store.settle_claim(job, Claim(s["key"], s["etag"], log.run.id, batch.id, "claimed"), None)
    message = (
        f"{len(gone)} file(s) changed or deleted since they were listed: left for a later run" if gone else ""
    )
    log.end(step, message=message, files=copied, bytes=size)
    return {"files": copied}


# -- Complete / CheckBatch ------------------------------------------------------------------------
def job_complete(ctx: TaskContext, state: State) -> State:
    _, job, log = _context(ctx, state)
    step = log.begin("complete")
    batch_id = batch_id_of(log.run.id)
    BatchActions(ctx.store, ctx.settings).act(_principal(job), batch_id, "COMPLETE")
    log.end(step, message=f"batch {batch_id} completing")
    return {"batchId": batch_id}


def job_check_batch(ctx: TaskContext, state: State) -> State:
    store, job, log = _context(ctx, state)
    polls = int((state.get("wait") or {}).get("polls", 0)) + 1
    if job.workflow == "export-feed":
        return _check_feed_sync(ctx, job, log, polls)
    step = log.begin("wait")
    batch = ctx.store.get_batch(job.org, job.sandbox, batch_id_of(log.run.id))
    if batch.status not in FINAL and batch.status != "stalled":
        step.message = f"batch {batch.id} is {batch.status}"
        store.put_run(log.run)
        return {"final": False, "polls": polls}
    m = batch.metrics
    log.end(
        step,
        "success" if batch.status == "success" else "failed",
        f"batch {batch.id} is {batch.status}",
        records=m.input_record_count, output=m.output_record_count, failed=m.failed_record_count,
    )  # fmt: skip
    return {"final": True, "polls": polls, "status": batch.status}


# -- Finish / Fail --------------------------------------------------------------------------------
def job_finish(ctx: TaskContext, state: State) -> State:
    """The run's status follows its batch's; claims and the HTTP validators are settled."""
    store, job, log = _context(ctx, state)
    step = log.begin("finish")
    run, status, message = log.run, "success", "nothing new to ingest"
    synced = next((s for s in run.steps if s.name == "sync"), None)
    if job.workflow == "export-feed" and synced is not None:
        status, message = synced.status, synced.message
        if status == "failed":
            run.errors = [{"code": "BG-FEED-SYNC", "message": synced.message}]
    elif run.batches:
        batch = ctx.store.get_batch(job.org, job.sandbox, run.batches[0])
        _settle(ctx, store, job, run, batch.status)
        status = "success" if batch.status == "success" else "failed"
        message = f"batch {batch.id} is {batch.status}"
        if status == "failed":
            run.errors = [e.model_dump(by_alias=True, exclude_none=True) for e in batch.errors]
    log.end(step, message=f"run {status}: {message}")
    _close(store, run, status, message)
    store.release_run_lock(job, run.id)
    return {"status": status}


def job_fail(ctx: TaskContext, state: State) -> State:
    """A step failed: the run fails saying why, an open batch is aborted (its claims released,
    so a later run takes the files), and the lock is released."""
    store = _store(ctx)
    try:
        run = store.get_run(state["org"], state["sandbox"], state["runId"])
    except NotFound:
        return {"status": "failed"}
    # The Catch's error names this failure when it carries a cause (AWS does; so does the ASL's
    # own TooLong). moto's SendTaskFailure drops the cause: the error the worker noted on the run
    # stands in then. Preferring the note always was wrong: an error noted by a task that was
    # retried and then succeeded would stand for a later, different failure.
    caught = state.get("error")
    if isinstance(caught, dict) and caught.get("Cause"):
        error = caught_error(caught, "BG-500-JOB-RUN")
    else:
        error = run.errors[-1] if run.errors else caught_error(caught, "BG-500-JOB-RUN")
    job: Job | None
    try:
        job = store.get_job(run.org, run.sandbox, run.job_id)
    except NotFound:
        job = None
    for step in run.steps:
        if step.status == "running":
            step.status, step.ended, step.message = "failed", now_ms(), error["message"]
    if job is not None and run.batches:
        _abandon(ctx, store, job, run)
    elif job is not None and job.workflow == "ingest-s3":
        # CreateBatch claims the objects before it creates the batch: when that fails (the
        # dataset was deleted, say) no batch is recorded, and the claims must still be released,
        # or no later run would ever take those objects.
        _release_claims(ctx, store, job, run)
    if error not in run.errors:
        run.errors = [*run.errors, error]
    _close(store, run, "failed", str(error.get("message", "a step failed")))
    if job is not None:
        store.release_run_lock(job, run.id)
    return {"status": "failed"}


def note_failure(ctx: TaskContext, state: State, exc: BaseException) -> None:
    """A task's error on its run, written by the worker itself: the Cause of SendTaskFailure
    does not reach the Catch on every engine (moto drops it), and the run must say why."""
    store = _store(ctx)
    try:
        run = store.get_run(state["org"], state["sandbox"], state["runId"])
    except NotFound:
        return
    entry = raised_error(exc, "BG-500-JOB-RUN")
    if entry not in run.errors:
        run.errors.append(entry)
        store.put_run(run)


def _abandon(ctx: TaskContext, store: JobStore, job: Job, run: Run) -> None:
    try:
        batch = ctx.store.get_batch(job.org, job.sandbox, run.batches[0])
    except NotFound:
        return
    if batch.status in ("loading", "loaded", "staging", "retrying", "stalled"):
        try:
            BatchActions(ctx.store, ctx.settings).act(_principal(job), batch.id, "ABORT")
            batch = ctx.store.get_batch(job.org, job.sandbox, batch.id)
        except (IllegalTransition, BatchgateError) as exc:
            logger.warning("could not abort the run's batch", extra={"batch_id": batch.id, "error": str(exc)})
    _settle(ctx, store, job, run, batch.status)


def _release_claims(ctx: TaskContext, store: JobStore, job: Job, run: Run) -> None:
    """Release whatever this run claimed of the objects it listed (claims of other runs stay)."""
    listed = run_file_key(job, run.id, "sources")
    if not ctx.objects.exists(listed):
        return  # it failed before listing: it claimed nothing
    for s in ctx.objects.get_json(listed):
        store.release_claim(job, s["key"], s["etag"], run_id=run.id)


def _settle(ctx: TaskContext, store: JobStore, job: Job, run: Run, batch_status: str) -> None:
    """Landed files are ingested, failed ones stay failed (a new version of the object has a new
    ETag and is taken again); an aborted batch's files are released for a later run."""
    if batch_status not in FINAL and batch_status != "stalled":
        return
    outcome = {"success": "ingested", "aborted": None}.get(batch_status, "failed")
    if job.workflow == "ingest-s3":
        for s in ctx.objects.get_json(run_file_key(job, run.id, "claimed")):
            try:
                store.settle_claim(
                    job, Claim(s["key"], s["etag"], run.id, run.batches[0], "claimed"), outcome
                )
            except Exception as exc:  # a claim already released: nothing to settle
                logger.info("claim not settled", extra={"key": s["key"], "error": str(exc)})
    elif job.workflow == "ingest-http" and outcome is not None:
        # Only a file that was ingested (or refused for its content) is "seen": an aborted run
        # fetches again next time.
        store.put_http_validators(job, ctx.objects.get_json(run_file_key(job, run.id, "validators")))


def _close(store: JobStore, run: Run, status: str, message: str) -> None:
    run.status, run.ended, run.message = status, now_ms(), message  # type: ignore[assignment]
    store.put_run(run)


TASKS: dict[str, Callable[[TaskContext, State], Any]] = {
    "job_start": job_start,
    "job_prepare": job_prepare,
    "job_create_batch": job_create_batch,
    "job_copy": job_copy,
    "job_complete": job_complete,
    "job_check_batch": job_check_batch,
    "job_finish": job_finish,
    "job_fail": job_fail,
}
