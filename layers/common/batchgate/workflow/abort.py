"""The task of the abort state machine (``statemachines/abort.asl.json``): AbortCleanup.

ABORT can win while the batch's landing is running in another task (StopExecution stops the
state machine, not a task already running). That landing either fails its status write and
compensates itself with a revert, or dies; until one or the other, the staged files it is
registering must stay: deleting them first would leave a committed snapshot pointing at missing
files. So the cleanup answers ``waiting`` (the machine waits and asks again) while a landing began
less than ``commit_window_seconds`` ago and the table shows neither the landing nor its revert.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from batchgate import faults
from batchgate.core import keys
from batchgate.core.errors import IllegalTransition, NotFound
from batchgate.core.ids import now_ms
from batchgate.core.models import Batch, Dataset
from batchgate.lake.gc import gc as lake_gc
from batchgate.lake.history import landed, reverted_batches
from batchgate.lake.tables import ensure_table
from batchgate.observability import logger, tracer
from batchgate.workflow.context import State, TaskContext
from batchgate.workflow.revert import revert_commit


@tracer.capture_method
def abort_cleanup(ctx: TaskContext, state: State) -> State:
    """Remove what an aborted batch left: staged rows, failed-records files, AEP chunks and
    unfinished presigned multipart uploads. Uploaded files stay (they are the user's input)."""
    batch = ctx.store.get_batch(state["org"], state["sandbox"], state["batchId"])
    if batch.status != "aborted":
        raise IllegalTransition(f"batch {batch.id} is '{batch.status}', not aborted; nothing cleaned")
    try:
        dataset: Dataset | None = ctx.store.get_dataset(batch.org, batch.sandbox, batch.dataset_id)
    except NotFound:
        dataset = None  # deleted since: its table is dropped, the GC sweep removes its files
    if dataset is not None and batch.commit_started is not None and not _landing_settled(ctx, batch, dataset):
        return {"state": "waiting", "commitStarted": batch.commit_started}
    candidates = ctx.staged_candidates(batch)
    if candidates and dataset is not None:
        # The lake deletes only what no snapshot needs: if a landing was compensated, the
        # snapshot it committed still reads these files until gc expires it.
        lake_gc(ctx.lake(dataset), dataset, older_than_ms=0, candidates=candidates)
    deleted = len(candidates) - len(ctx.staged_candidates(batch))
    faults.inject("abort-cleanup")
    deleted += ctx.objects.delete_prefix(keys.batch_failed_prefix(batch))
    aborted_uploads = 0
    for f in ctx.store.list_files(batch.org, batch.sandbox, batch.id):
        deleted += ctx.objects.delete_prefix(keys.chunk_prefix(batch.org, batch.sandbox, batch.id, f.name))
        if f.upload_id and f.status == "uploading" and ctx.objects.abort_multipart(f.key, f.upload_id):
            aborted_uploads += 1
    return {"state": "cleaned", "deleted": deleted, "abortedUploads": aborted_uploads}


def _landing_settled(ctx: TaskContext, batch: Batch, dataset: Dataset) -> bool:
    """No landing of ``batch`` can still commit: its revert is recorded, or it landed (and is
    compensated here if its own task did not live to do it), or its window has passed."""
    table = ensure_table(ctx.lake(dataset), dataset)
    if batch.id in reverted_batches(table):
        return True
    if landed(table, batch.id):
        logger.warning(
            "aborted batch landed without compensation; reverting it", extra={"batch_id": batch.id}
        )
        prior = batch.previous_snapshot_id if dataset.tags.is_upsert else None
        revert_commit(dataset, batch.id, prior_snapshot=prior)
        return True
    assert batch.commit_started is not None
    return now_ms() - batch.commit_started >= ctx.settings.commit_window_seconds * 1000


TASKS: dict[str, Callable[[TaskContext, State], Any]] = {"abort_cleanup": abort_cleanup}
