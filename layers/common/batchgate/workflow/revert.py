"""Tasks of the revert state machine (``statemachines/revert.asl.json``): Revert, and
RevertFailed when it could not land. Also the one revert commit every undo goes through."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from batchgate import faults
from batchgate.core.models import Dataset
from batchgate.core.status import next_status
from batchgate.lake.catalog import shared_catalog
from batchgate.lake.commit import CommitResult
from batchgate.lake.revert import revert as lake_revert
from batchgate.observability import tracer
from batchgate.workflow.context import State, TaskContext, errors_with_cause


def revert_commit(dataset: Dataset, batch_id: str, *, prior_snapshot: int | None) -> CommitResult:
    """Remove the batch's rows in one commit; an upsert's rows are restored from ``prior_snapshot``."""
    faults.inject("revert")
    return lake_revert(shared_catalog(), dataset, batch_id, upsert_prior_snapshot=prior_snapshot)


@tracer.capture_method
def revert(ctx: TaskContext, state: State) -> State:
    batch, dataset = ctx.load(state)
    if batch.status in ("inactive", "deleted"):
        return {"status": batch.status}
    target = next_status(batch.status, "REVERT")
    assert target is not None
    prior = batch.previous_snapshot_id if dataset.tags.is_upsert else None
    result = revert_commit(dataset, batch.id, prior_snapshot=prior)
    batch = ctx.move(batch, target)
    ctx.notify(batch, "reverted", snapshotId=result.snapshot_id)
    return {"status": target, "snapshotId": str(result.snapshot_id)}


def revert_failed(ctx: TaskContext, state: State) -> State:
    batch, _ = ctx.load(state)
    if batch.status == "success":
        # Clearing the execution lets a new REVERT start a fresh run (see api.services.batch_actions).
        errors = errors_with_cause(batch, state.get("error"), "BG-500-REVERT")
        ctx.move(batch, "success", errors=errors, execution_arn=None)
    return {"status": batch.status}


TASKS: dict[str, Callable[[TaskContext, State], Any]] = {"revert": revert, "revert_failed": revert_failed}
