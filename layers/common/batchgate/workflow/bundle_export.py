"""Tasks of the bundle-export state machine (``statemachines/bundle_export.asl.json``).

    Write (every dataset's definition, and its rows part by part, streamed into a multipart
           upload of the bundle) → ready
    any failure → Fail (the export fails saying why; a partial object is deleted)

The bundle is never whole in memory: rows are read a data file at a time (``VisibleScan``),
encoded a row group at a time into the zip (``BundleWriter``), and the zip is written into
pyarrow's S3 output stream, which uploads it part by part. One task writes one bundle, so a bundle
must be written within the task's 15 minutes (docs/bundles.md gives the measured rate).
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Callable, Iterator
from typing import Any

import pyarrow as pa

from batchgate import faults
from batchgate.aws.bundle_store import BundleStore
from batchgate.aws.s3fs import s3_filesystem
from batchgate.bundles.manifest import BundleSource
from batchgate.bundles.records import BundleRecord, DatasetEntry, ObjectRef
from batchgate.bundles.writer import BundleWriter
from batchgate.core import keys
from batchgate.core.errors import InvalidRequest, NotFound
from batchgate.core.ids import now_ms
from batchgate.core.models import Dataset
from batchgate.lake.catalog import shared_catalog
from batchgate.lake.history import reading_point
from batchgate.lake.read import snapshot_for
from batchgate.lake.scan import batch_of_file, plan_visible
from batchgate.lake.tables import load_table
from batchgate.observability import logger
from batchgate.workflow.context import State, TaskContext, caught_error, raised_error

# A part closes at this many rows: parts of a few tens of MB, each one ordinary Parquet input
# file when the bundle is imported (the validators' large-file path starts far above that).
PART_ROWS = 1 << 20


def _store(ctx: TaskContext) -> BundleStore:
    return BundleStore(ctx.settings.table_name)


def bundle_file_name(record: BundleRecord) -> str:
    return f"bundle-{record.id}.bgbundle"


class _AsOf:
    """Which snapshot of each dataset the export reads: the current one (leaving out a landing
    aborted a moment ago), or as of ``asOfBatch`` — that batch's snapshot in its own dataset, and
    in every other dataset the newest snapshot taken no later than it."""

    def __init__(self, ctx: TaskContext, record: BundleRecord, datasets: list[Dataset]) -> None:
        self.ctx, self.record = ctx, record
        self.catalog = shared_catalog()
        self.as_of = record.export.as_of_batch if record.export else None
        self.time_ms: int | None = None
        if self.as_of is not None:
            owner = ctx.store.get_batch(record.org, record.sandbox, self.as_of).dataset_id
            ds = next(d for d in datasets if d.id == owner)
            snapshot = snapshot_for(self.catalog, ds, self.as_of)
            if snapshot is None:
                raise InvalidRequest(
                    f"batch {self.as_of!r} has no snapshot in its table's current history (not landed, "
                    "reverted, or its snapshot expired)",
                    code="BG-400-AS-OF-BATCH",
                )
            found = load_table(self.catalog, ds).metadata.snapshot_by_id(snapshot)
            assert found is not None
            self.time_ms = found.timestamp_ms

    def _aborted(self, batch_id: str) -> bool:
        try:
            return (
                self.ctx.store.get_batch(self.record.org, self.record.sandbox, batch_id).status == "aborted"
            )
        except NotFound:
            return False

    def rows(self, ds: Dataset) -> tuple[Iterator[pa.RecordBatch], list[str]]:
        """The dataset's visible rows as of the export's point, and the batches they come from."""
        try:
            table = load_table(self.catalog, ds)
        except NotFound:
            return iter(()), []  # nothing has landed: the table does not exist yet
        point = reading_point(table, self._aborted, now_ms=now_ms())
        snapshot: int | None
        if self.time_ms is None:
            snapshot = point.snapshot_id
        else:
            found = table.snapshot_as_of_timestamp(self.time_ms)
            snapshot = None if found is None else found.snapshot_id
        if snapshot is None:
            return iter(()), []
        scan = plan_visible(
            table, dataset_id=ds.id, upsert=ds.tags.is_upsert, snapshot_id=snapshot, hidden=point.aborted
        )
        sources = sorted({b for t in scan.tasks if (b := batch_of_file(t)) is not None})
        return scan.batches(), sources


def _parts(batches: Iterator[pa.RecordBatch], rows: int) -> Iterator[Iterator[pa.RecordBatch]]:
    """The stream cut into parts of ``rows`` rows (the last may be shorter), without gathering it:
    each part is a generator that must be consumed before the next is asked for."""
    carry: list[pa.RecordBatch] = []
    source = iter(batches)

    def take() -> Iterator[pa.RecordBatch]:
        left = rows
        while left > 0:
            batch = carry.pop() if carry else next(source, None)
            if batch is None:
                return
            if batch.num_rows > left:
                carry.append(batch.slice(left))
                batch = batch.slice(0, left)
            left -= batch.num_rows
            if batch.num_rows:
                yield batch

    while True:
        first = carry.pop() if carry else next(source, None)
        if first is None:
            return
        carry.append(first)
        yield take()


# -- Write --------------------------------------------------------------------------------------
def bundle_export_write(ctx: TaskContext, state: State) -> State:
    store = _store(ctx)
    record = store.get_record(state["org"], state["sandbox"], state["id"])
    if record.status != "running":
        return {"status": record.status}  # a retry of a task that finished
    assert record.export is not None
    datasets = [ctx.store.get_dataset(record.org, record.sandbox, i) for i in record.export.dataset_ids]
    as_of = _AsOf(ctx, record, datasets)
    key = keys.bundle_prefix(record.org, record.sandbox, record.id) + bundle_file_name(record)
    source = BundleSource(
        org=record.org, sandbox=record.sandbox, exported_at=dt.datetime.fromtimestamp(now_ms() / 1000, dt.UTC)
    )
    entries: list[DatasetEntry] = []
    filesystem = s3_filesystem()
    path = keys.fs_path(ctx.objects.bucket, key)
    try:
        with filesystem.open_output_stream(path) as sink, BundleWriter(sink, record.id, source) as writer:
            for ds in datasets:
                rows, sources = as_of.rows(ds)
                if not record.export.include_data:
                    rows, sources = iter(()), []
                writer.add_dataset(
                    ds.id, ds.name, ds.schema_, ds.tags, as_of_batch=as_of.as_of, source_batches=sources
                )
                for part in _parts(rows, PART_ROWS):
                    writer.add_part(ds.id, part)
                faults.inject("bundle-export")
                manifest_entry = writer.manifest().dataset(ds.id)
                entries.append(
                    DatasetEntry(
                        source_id=ds.id,
                        id=ds.id,
                        name=ds.name,
                        rows=manifest_entry.rows,
                        batch_id=as_of.as_of,
                    )
                )
    except BaseException:
        with contextlib.suppress(Exception):  # what was written can never pass as a bundle anyway
            ctx.objects.delete_keys([key])
        raise
    size = filesystem.get_file_info(path).size or 0
    record = record.model_copy(
        update={
            "status": "ready",
            "ended": now_ms(),
            "bundle": ObjectRef(bucket=ctx.objects.bucket, key=key),
            "bundle_id": record.id,
            "bytes": size,
            "datasets": entries,
            "message": f"{len(entries)} dataset(s), {sum(e.rows for e in entries)} row(s), {size} bytes",
        }
    )
    store.put_record(record)
    logger.info("bundle exported", extra={"bundle": record.id, "bytes": size})
    return {"status": "ready", "bytes": size}


# -- Fail ---------------------------------------------------------------------------------------
def bundle_export_fail(ctx: TaskContext, state: State) -> State:
    store = _store(ctx)
    try:
        record = store.get_record(state["org"], state["sandbox"], state["id"])
    except NotFound:
        return {"status": "failed"}
    error = record.errors[-1] if record.errors else caught_error(state.get("error"), "BG-500-BUNDLE-EXPORT")
    close(store, record, "failed", str(error.get("message", "the export failed")), error)
    return {"status": "failed"}


def close(
    store: BundleStore, record: BundleRecord, status: str, message: str, error: dict[str, Any] | None
) -> None:
    errors = record.errors if error is None or error in record.errors else [*record.errors, error]
    store.put_record(
        record.model_copy(update={"status": status, "ended": now_ms(), "message": message, "errors": errors})
    )


def note_failure(ctx: TaskContext, state: State, exc: BaseException) -> None:
    """A task's error on its export or import (moto drops SendTaskFailure's cause)."""
    store = _store(ctx)
    try:
        record = store.get_record(state["org"], state["sandbox"], state["id"])
    except NotFound:
        return
    entry = raised_error(exc, "BG-500-BUNDLE")
    if entry not in record.errors:
        store.put_record(record.model_copy(update={"errors": [*record.errors, entry]}))


TASKS: dict[str, Callable[[TaskContext, State], Any]] = {
    "bundle_export_write": bundle_export_write,
    "bundle_export_fail": bundle_export_fail,
}
