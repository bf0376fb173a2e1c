"""Every task name the ASL files use, registered explicitly, and how a task's failure is told to
Step Functions and to the batch."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from batchgate.core.errors import BatchgateError, IllegalTransition, Transient
from batchgate.core.ids import now_ms
from batchgate.core.models import ErrorEntry
from batchgate.core.status import FINAL
from batchgate.workflow import (
    abort,
    bundle_export,
    bundle_import,
    complete,
    feed_sync,
    gc,
    job_run,
    revert,
    validate_large,
)
from batchgate.workflow.context import Parked, State, TaskContext, raised_error

Task = Callable[[TaskContext, State], Any]

TASKS: dict[str, Task] = {
    **complete.TASKS,
    **abort.TASKS,
    **revert.TASKS,
    **gc.TASKS,
    **validate_large.TASKS,
    **job_run.TASKS,
    **feed_sync.TASKS,
    **bundle_export.TASKS,
    **bundle_import.TASKS,
}


def run_task(ctx: TaskContext, task: str, state: State) -> State | Parked:
    if task not in TASKS:
        raise BatchgateError(f"unknown workflow task {task!r}", code="BG-500-UNKNOWN-TASK")
    result: State | Parked = TASKS[task](ctx, state)
    return result


def task_failure(exc: BaseException) -> tuple[str, str]:
    """(error name, cause) for SendTaskFailure. Every transient error is reported as "Transient",
    the name the ASL retries on; terminal ones keep their class name; the cause carries the code."""
    if isinstance(exc, BatchgateError):
        name = "Transient" if isinstance(exc, Transient) else type(exc).__name__
        return name, json.dumps({"code": exc.code, "message": exc.message})
    return type(exc).__name__, json.dumps({"code": "BG-500-INTERNAL", "message": str(exc)[:1000]})


def note_failure(ctx: TaskContext, state: State, exc: BaseException) -> None:
    """Record a failed task's error on its batch, where users look for it. The worker does this
    itself rather than relying on the Cause reaching the ASL's Catch: that hop loses it on some
    engines (moto's SendTaskFailure drops ``cause``)."""
    if "runId" in state and "jobId" in state and "org" in state:
        job_run.note_failure(ctx, state, exc)
        return
    if "syncId" in state and "feedId" in state and "org" in state:
        feed_sync.note_failure(ctx, state, exc)
        return
    if state.get("kind") in ("export", "import") and "id" in state and "org" in state:
        bundle_export.note_failure(ctx, state, exc)
        return
    if "batchId" not in state or "org" not in state:
        return
    raised = raised_error(exc, "BG-500-INTERNAL")
    entry = ErrorEntry(code=raised["code"], description=raised["message"])
    for _ in range(3):
        batch = ctx.store.get_batch(state["org"], state["sandbox"], state["batchId"])
        if batch.status in FINAL:
            return
        try:
            ctx.store.save_batch(
                batch.model_copy(update={"errors": [*batch.errors, entry], "updated": now_ms()}),
                expected_status=batch.status,
                expected_version=batch.version,
            )
            return
        except IllegalTransition:
            continue
