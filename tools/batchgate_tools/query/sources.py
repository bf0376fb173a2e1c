"""What DuckDB scans for a dataset: an Arrow stream source that starts afresh on every scan.

DuckDB asks the registered object for a stream (the Arrow PyCapsule ``__arrow_c_stream__``)
each time the query scans the table, so a self-join or a subquery reading the table again gets
its own stream, and no scan needs the table in memory. A plain ``RecordBatchReader`` could be
scanned once only, which is why the table used to be loaded whole.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pyarrow as pa
from pyiceberg.io.pyarrow import schema_to_pyarrow
from pyiceberg.table import Table

from batchgate.core.ids import now_ms
from batchgate.lake.history import reading_point
from batchgate.lake.scan import ALL_COLUMNS, VisibleScan, plan_visible
from batchgate_tools.query.datasets import DatasetEntry
from batchgate_tools.query.pushdown import ScanPlan

FILES_AHEAD = 2


class ScanSource:
    """The rows of one dataset a query may see, as an Arrow stream source."""

    def __init__(self, schema: pa.Schema, scan: VisibleScan | None = None, *, files_ahead: int = FILES_AHEAD):
        self.schema = schema
        self.scan = scan
        self.files_ahead = files_ahead
        self.streams = 0  # how many scans DuckDB ran

    def __arrow_c_schema__(self) -> Any:
        return self.schema.__arrow_c_schema__()

    def __arrow_c_stream__(self, requested_schema: Any = None) -> Any:
        self.streams += 1
        if self.scan is None:
            reader = pa.RecordBatchReader.from_batches(self.schema, iter(()))
        else:
            reader = self.scan.arrow_reader(files_ahead=self.files_ahead)
        return reader.__arrow_c_stream__(requested_schema)


def table_source(
    table: Table, entry: DatasetEntry, plan: ScanPlan, is_aborted: Callable[[str], bool], **kw: Any
) -> ScanSource:
    """The visible rows of ``table`` under ``plan``: the snapshot and hidden batches are the
    rows API's (``history.reading_point``), files are planned now and read at each scan."""
    columns = plan.columns or ALL_COLUMNS
    point = reading_point(table, is_aborted, now_ms=now_ms())
    if point.snapshot_id is None:  # nothing landed, or only an aborted batch
        return ScanSource(schema_to_pyarrow(table.scan(selected_fields=columns).projection()), **kw)
    scan = plan_visible(
        table,
        dataset_id=entry.id,
        upsert=entry.upsert,
        snapshot_id=point.snapshot_id,
        row_filter=plan.row_filter,
        selected_fields=columns,
        hidden=point.aborted,
    )
    return ScanSource(scan.schema, scan, **kw)
