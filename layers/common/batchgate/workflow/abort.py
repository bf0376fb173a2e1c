"""The task of the abort state machine (``statemachines/abort.asl.json``): AbortCleanup."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from batchgate.core import keys
from batchgate.core.errors import IllegalTransition
from batchgate.lake.gc import gc as lake_gc
from batchgate.observability import tracer
from batchgate.workflow.context import State, TaskContext


@tracer.capture_method
def abort_cleanup(ctx: TaskContext, state: State) -> State:
    """Remove what an aborted batch left: staged rows, failed-records files, AEP chunks and
    unfinished presigned multipart uploads. Uploaded files stay (they are the user's input)."""
    batch, _ = ctx.load(state)
    if batch.status != "aborted":
        raise IllegalTransition(f"batch {batch.id} is '{batch.status}', not aborted; nothing cleaned")
    candidates = ctx.staged_candidates(batch)
    if candidates:
        # Normally nothing of an aborted batch is in the table; if ABORT won during its commit
        # (compensated by a revert), an older snapshot still reads these files: the lake
        # deletes only what no snapshot needs.
        dataset = ctx.store.get_dataset(batch.org, batch.sandbox, batch.dataset_id)
        lake_gc(ctx.lake(dataset), dataset, older_than_ms=0, candidates=candidates)
    deleted = len(candidates) - len(ctx.staged_candidates(batch))
    deleted += ctx.objects.delete_prefix(keys.batch_failed_prefix(batch))
    aborted_uploads = 0
    for f in ctx.store.list_files(batch.org, batch.sandbox, batch.id):
        deleted += ctx.objects.delete_prefix(keys.chunk_prefix(batch.org, batch.sandbox, batch.id, f.name))
        if f.upload_id and f.status == "uploading" and ctx.objects.abort_multipart(f.key, f.upload_id):
            aborted_uploads += 1
    return {"deleted": deleted, "abortedUploads": aborted_uploads}


TASKS: dict[str, Callable[[TaskContext, State], Any]] = {"abort_cleanup": abort_cleanup}
