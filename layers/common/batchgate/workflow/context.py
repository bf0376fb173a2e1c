"""What every workflow task works with: configuration, the adapters, and the few steps all
state machines share (load the batch, move it to a status, tell EventBridge)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from pyiceberg.catalog import Catalog

from batchgate.aws.executions import Executions
from batchgate.aws.notifications import Notifications
from batchgate.aws.objects import Objects
from batchgate.aws.store import Store
from batchgate.core import keys
from batchgate.core.errors import BatchgateError
from batchgate.core.ids import now_ms
from batchgate.core.models import Batch, BatchFile, BatchStatus, Dataset, ErrorEntry
from batchgate.lake.catalog import shared_catalog
from batchgate.lake.tables import ensure_table
from batchgate.observability import metrics
from batchgate.settings import Settings

# Batch outcomes as CloudWatch metrics (template.yaml's BatchesFailedOrStalledAlarm and Dashboard
# read these names): every outcome a batch reaches through the workflow passes through notify.
OUTCOME_METRICS = {"success": "BatchesSucceeded", "failed": "BatchesFailed", "stalled": "BatchesStalled"}

State = dict[str, Any]


class Parked:
    """What a task returns to leave its token unanswered: someone else answers it later, or the
    state times out (``await_files``)."""


PARKED = Parked()


@dataclass
class TaskContext:
    settings: Settings
    store: Store
    objects: Objects
    executions: Executions
    notifications: Notifications

    @classmethod
    def create(cls, settings: Settings, store: Store | None = None) -> TaskContext:
        return cls(
            settings=settings,
            store=store or Store(settings.table_name),
            objects=Objects(settings.bucket),
            executions=Executions(),
            notifications=Notifications(settings.event_bus_name),
        )

    def load(self, state: State) -> tuple[Batch, Dataset]:
        batch = self.store.get_batch(state["org"], state["sandbox"], state["batchId"])
        dataset = self.store.get_dataset(batch.org, batch.sandbox, batch.dataset_id)
        return batch, dataset

    def move(self, batch: Batch, target: BatchStatus, **changes: Any) -> Batch:
        """Write the batch in ``target`` status, conditional on the status and version read."""
        updated = batch.model_copy(update={"status": target, "updated": now_ms(), **changes})
        return self.store.save_batch(updated, expected_status=batch.status, expected_version=batch.version)

    def notify(self, batch: Batch, outcome: str, **extra: Any) -> None:
        self.notifications.batch_outcome(batch, outcome, **extra)
        name = OUTCOME_METRICS.get(outcome)
        if name is not None:
            metrics.add_metric(name=name, unit="Count", value=1)
            if outcome != "stalled":  # a stalled batch has landed nothing yet, nor failed a row
                metrics.add_metric(name="RowsIngested", unit="Count", value=batch.metrics.output_record_count)
                metrics.add_metric(name="RowsFailed", unit="Count", value=batch.metrics.failed_record_count)

    def staged_uris(self, files: list[BatchFile]) -> list[str]:
        """The staged Parquet files of a batch's validated files, as the lake registers them."""
        return [
            keys.s3_uri(self.settings.bucket, k)
            for f in files
            if f.status == "validated"
            for k in f.staged_keys
        ]

    def staged_candidates(self, batch: Batch) -> list[str]:
        """Every staged object of a batch, validated file or not: what cleanup may delete."""
        return [
            keys.s3_uri(self.settings.bucket, k)
            for k in self.objects.keys_under(keys.batch_staged_prefix(batch))
        ]

    @staticmethod
    def lake(dataset: Dataset) -> Catalog:
        """The catalog, with the dataset's table created on its first batch (idempotent)."""
        catalog = shared_catalog()
        ensure_table(catalog, dataset)
        return catalog


def errors_with_cause(batch: Batch, error: Any, default_code: str) -> list[ErrorEntry]:
    """The batch's errors plus one for ``error`` unless the worker already recorded it."""
    entry = error_entry(error, default_code)
    if entry is None:
        return batch.errors or [ErrorEntry(code=default_code, description="a workflow step failed")]
    if any(e.code == entry.code and e.description == entry.description for e in batch.errors):
        return batch.errors
    return [*batch.errors, entry]


def error_entry(error: Any, default_code: str) -> ErrorEntry | None:
    """Step Functions' ``{"Error", "Cause"}`` as a batch error; None when it carries no cause."""
    if not isinstance(error, dict) or not error.get("Cause"):
        return None
    cause = str(error["Cause"])
    try:
        parsed = json.loads(cause)
    except ValueError:
        parsed = None
    if isinstance(parsed, dict):
        return ErrorEntry(
            code=str(parsed.get("code") or default_code),
            description=str(parsed.get("message") or parsed.get("errorMessage") or cause)[:1000],
        )
    return ErrorEntry(code=default_code, description=f"{error.get('Error', 'Error')}: {cause}"[:1000])


def caught_error(error: Any, default_code: str) -> dict[str, str]:
    """An ASL Catch's error (``{"Error", "Cause"}``, the Cause carrying our JSON) as a record of
    the code and message, for the run or sync that failed."""
    if not isinstance(error, dict):
        return {"code": default_code, "message": "a step failed"}
    cause = error.get("Cause") or ""
    try:
        parsed = json.loads(cause)
        return {"code": str(parsed.get("code", default_code)), "message": str(parsed.get("message", cause))}
    except (ValueError, AttributeError):
        return {"code": default_code, "message": f"{error.get('Error', 'error')}: {cause}"[:1000]}


def raised_error(exc: BaseException, default_code: str) -> dict[str, str]:
    """A task's exception as a record of the code and message (``default_code`` for one that is
    not a ``BatchgateError``), for the run, sync, export or import it failed."""
    if isinstance(exc, BatchgateError):
        return {"code": exc.code, "message": exc.message[:1000]}
    return {"code": default_code, "message": f"{type(exc).__name__}: {exc}"[:1000]}
