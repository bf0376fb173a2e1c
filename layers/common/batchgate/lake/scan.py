"""A scan of a dataset's table that leaves out hidden batches, planned once, read file by file.

Every reader of rows goes through :func:`plan_visible` — the rows API (``lake.read``) and
``batchgate query`` — so none shows a reverted or aborted batch's rows (see :mod:`.history`):
their files are left out by partition (each data file holds one batch, ``identity(_batch_id)``).

:meth:`VisibleScan.batches` streams: at most ``files_ahead`` files are read ahead of the consumer.
pyiceberg's own ``to_arrow_batch_reader`` hands every file of the scan to its thread pool at once,
so a slow consumer (DuckDB aggregating) lets every file's rows pile up in memory; here memory is
bounded by a few files' filtered, projected rows, whatever the table's size.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import pyarrow as pa
from pyiceberg.expressions import AlwaysTrue, BooleanExpression
from pyiceberg.io.pyarrow import ArrowScan, schema_to_pyarrow
from pyiceberg.table import FileScanTask, Table

from batchgate.core.errors import Conflict
from batchgate.lake.history import reverted_batches

ALL_COLUMNS: tuple[str, ...] = ("*",)


def batch_of_file(task: FileScanTask) -> str | None:
    """The batch whose rows the file holds: its partition value."""
    partition = task.file.partition
    return str(partition[0]) if partition is not None and len(partition) > 0 else None


@dataclass(frozen=True)
class VisibleScan:
    """The files to read (sorted by path: a stable order for paging) and how to read them."""

    tasks: list[FileScanTask]
    reader: ArrowScan
    schema: pa.Schema
    hidden: frozenset[str]  # every batch left out: the given ones and the reverted ones
    row_filter: BooleanExpression

    def read_file(self, task: FileScanTask) -> pa.Table:
        return self.reader.to_table(tasks=[task])

    def batches(self, *, files_ahead: int = 2) -> Iterator[pa.RecordBatch]:
        """Every visible row, in file order, with at most ``files_ahead`` files read ahead."""
        if not self.tasks:
            return
        with ThreadPoolExecutor(max_workers=files_ahead, thread_name_prefix="scan") as pool:
            pending: deque[Future[list[pa.RecordBatch]]] = deque()
            upcoming = iter(self.tasks)
            for task in upcoming:
                pending.append(pool.submit(self._file_batches, task))
                if len(pending) >= files_ahead:
                    break
            while pending:
                batches = pending.popleft().result()
                following = next(upcoming, None)
                if following is not None:
                    pending.append(pool.submit(self._file_batches, following))
                yield from batches

    def arrow_reader(self, *, files_ahead: int = 2) -> pa.RecordBatchReader:
        """A one-shot stream of :meth:`batches`; files may differ in string and list encodings
        (written by different engines), so every batch is cast to the scan's schema (a no-op
        for the batches already in it)."""
        return pa.RecordBatchReader.from_batches(self.schema, self.batches(files_ahead=files_ahead)).cast(
            self.schema
        )

    def _file_batches(self, task: FileScanTask) -> list[pa.RecordBatch]:
        return list(self.reader.to_record_batches([task]))


def plan_visible(
    table: Table,
    *,
    dataset_id: str,
    upsert: bool,
    snapshot_id: int | None = None,
    row_filter: BooleanExpression | None = None,
    selected_fields: Sequence[str] = ALL_COLUMNS,
    hidden: frozenset[str] = frozenset(),
) -> VisibleScan:
    """Plan a scan of ``table`` (as of ``snapshot_id``, default the current snapshot) that leaves
    out ``hidden`` batches and every batch the table records as reverted.

    In an upsert dataset a snapshot holding a hidden batch cannot be shown without it (that
    batch's updates replaced rows of other batches the snapshot no longer holds): ``Conflict``.
    """
    hidden = hidden | reverted_batches(table)
    row_filter = row_filter if row_filter is not None else AlwaysTrue()
    scan = table.scan(row_filter=row_filter, selected_fields=tuple(selected_fields), snapshot_id=snapshot_id)
    planned = list(scan.plan_files())
    shown = [t for t in planned if batch_of_file(t) not in hidden]
    if upsert and len(shown) < len(planned):
        gone = sorted(b for b in {batch_of_file(t) for t in planned} if b is not None and b in hidden)
        raise Conflict(
            f"this snapshot of upsert dataset {dataset_id} holds rows of batch(es) {', '.join(gone)}, since "
            "reverted; their updates replaced rows of other batches that this snapshot no longer holds, so "
            "it cannot be shown without them: read the current rows or a snapshot from after the revert",
            code="BG-409-SNAPSHOT-HAS-REVERTED",
        )
    projection = scan.projection()
    reader = ArrowScan(
        table_metadata=table.metadata, io=table.io, projected_schema=projection, row_filter=row_filter
    )
    return VisibleScan(
        tasks=sorted(shown, key=lambda t: t.file.file_path),
        reader=reader,
        schema=small_types(schema_to_pyarrow(projection)),
        hidden=hidden,
        row_filter=row_filter,
    )


def small_types(schema: pa.Schema) -> pa.Schema:
    """``schema`` with 32-bit offsets (``string``, ``binary``, ``list``) where pyiceberg names the
    64-bit ones. Batches come from Parquet with 32-bit offsets; casting each to large types
    copied every string column (a third of a GROUP BY's time) for nothing, as a batch never
    nears 2 GB."""
    return pa.schema([_small_field(f) for f in schema], metadata=schema.metadata)


def _small_field(field: pa.Field) -> pa.Field:
    return field.with_type(_small_type(field.type))


def _small_type(kind: pa.DataType) -> pa.DataType:
    if pa.types.is_large_string(kind):
        return pa.string()
    if pa.types.is_large_binary(kind):
        return pa.binary()
    if pa.types.is_large_list(kind) or pa.types.is_list(kind):
        return pa.list_(_small_field(kind.value_field))
    if pa.types.is_struct(kind):
        return pa.struct([_small_field(kind.field(i)) for i in range(kind.num_fields)])
    if pa.types.is_map(kind):
        return pa.map_(_small_field(kind.key_field), _small_field(kind.item_field))
    return kind
