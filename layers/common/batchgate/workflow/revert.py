"""Tasks of the revert state machine (``statemachines/revert.asl.json``): Revert, and
RevertFailed when it could not land. Also the one revert commit every undo goes through."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from batchgate import faults
from batchgate.core import keys
from batchgate.core.models import Batch, Dataset
from batchgate.core.status import next_status
from batchgate.lake.catalog import shared_catalog
from batchgate.lake.commit import CommitResult
from batchgate.lake.gc import purge as lake_purge
from batchgate.lake.revert import revert as lake_revert
from batchgate.observability import tracer
from batchgate.workflow.context import State, TaskContext, errors_with_cause


def revert_commit(dataset: Dataset, batch_id: str, *, prior_snapshot: int | None) -> CommitResult:
    """Remove the batch's rows in one commit; an upsert's rows are restored from ``prior_snapshot``."""
    faults.inject("revert")
    return lake_revert(shared_catalog(), dataset, batch_id, upsert_prior_snapshot=prior_snapshot)


@tracer.capture_method
def revert(ctx: TaskContext, state: State) -> State:
    """Take the batch's rows out of the table in one commit; with ``purge``, also expire every
    snapshot that still reads them and delete its files now, not at the GC after the retention."""
    batch, dataset = ctx.load(state)
    if batch.status == "success":
        target = next_status(batch.status, "REVERT")
        assert target is not None
        prior = batch.previous_snapshot_id if dataset.tags.is_upsert else None
        result = revert_commit(dataset, batch.id, prior_snapshot=prior)
        batch = ctx.move(batch, target)
        ctx.notify(batch, "reverted", snapshotId=result.snapshot_id)
        out: State = {"status": target, "snapshotId": str(result.snapshot_id)}
    else:
        out = {"status": batch.status}  # reverted before: a repeat, or a purge asked afterwards
    if state.get("purge") and batch.status == "inactive" and batch.successor is None:
        out["purged"] = purge_batch(ctx, batch, dataset)
    return out


def purge_batch(ctx: TaskContext, batch: Batch, dataset: Dataset) -> dict[str, int]:
    """Expire the snapshots that read a reverted batch, delete its data and staged files."""
    result = lake_purge(ctx.lake(dataset), dataset, batch.id)
    staged = ctx.objects.delete_prefix(keys.batch_staged_prefix(batch))
    failed = ctx.objects.delete_prefix(keys.batch_failed_prefix(batch))
    ctx.notify(batch, "purged", expiredSnapshots=result.expired_snapshots)
    return {
        "expiredSnapshots": result.expired_snapshots,
        "deletedFiles": result.deleted_files + staged + failed,
    }


def revert_failed(ctx: TaskContext, state: State) -> State:
    batch, _ = ctx.load(state)
    if batch.status == "success":
        # Clearing the execution lets a new REVERT start a fresh run (see ingest.batch_actions).
        errors = errors_with_cause(batch, state.get("error"), "BG-500-REVERT")
        ctx.move(batch, "success", errors=errors, execution_arn=None)
    return {"status": batch.status}


TASKS: dict[str, Callable[[TaskContext, State], Any]] = {"revert": revert, "revert_failed": revert_failed}
