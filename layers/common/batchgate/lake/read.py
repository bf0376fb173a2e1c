"""Reading a dataset's rows: paged, JSON-safe, current or as of a snapshot, optionally one batch.

Paging is by position in a fixed order (data files sorted by path, rows in file order) within
ONE snapshot: the ``next`` token pins the snapshot id, so pages stay consistent while batches keep
landing, and a page never repeats or skips a row. Whole files before the requested offset are
skipped from manifest row counts without being read (the table has no delete files: every
change is copy-on-write), so page N costs reading about one page of files, not N pages.

No read returns a reverted batch's rows, whatever the snapshot (see :mod:`.history`): its files
are left out by partition. In an upsert dataset that is not enough for a snapshot taken before
the revert — the reverted batch's updates had replaced rows of other batches, which that snapshot
no longer holds — so reading such a snapshot is refused (409) rather than shown incomplete. A
revert between two pages of one read makes the next page a 409 too (the positions moved).
"""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import math
import uuid
from typing import Any

from pyiceberg.catalog import Catalog
from pyiceberg.expressions import AlwaysTrue, BooleanExpression, EqualTo
from pyiceberg.io.pyarrow import ArrowScan
from pyiceberg.table import FileScanTask, Table

from batchgate.core.errors import Conflict, InvalidRequest, NotFound
from batchgate.core.models import Dataset
from batchgate.lake.commit import BATCH_KEY, OPERATION_KEY, WRITING_OPERATIONS
from batchgate.lake.history import reverted_batches
from batchgate.lake.tables import BATCH_COLUMN, load_table

MAX_LIMIT = 10_000


def json_safe(value: Any) -> Any:
    """A value JSON can carry: timestamps and dates as ISO 8601 (UTC as ``Z``), NaN/±inf (only in
    fields that allow them) as the strings ``"NaN"``, ``"Infinity"``, ``"-Infinity"`` (JSON has no
    number for them; JavaScript's spelling), bytes as base64, structs and lists recursively."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        if math.isfinite(value):
            return value
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, dt.datetime):
        text = value.isoformat()
        return text[:-6] + "Z" if text.endswith("+00:00") else text
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    if isinstance(value, decimal.Decimal | uuid.UUID):
        return str(value)
    return str(value)


def _token(snapshot_id: int, offset: int, hidden: int) -> str:
    return f"{snapshot_id}:{offset}:{hidden}"


def _parse_token(token: str) -> tuple[int, int, int | None]:
    """(snapshot, offset, hidden batches when the token was made; None in a token from before
    they were counted)."""
    try:
        fields = [int(part) for part in token.split(":")]
        if len(fields) not in (2, 3):
            raise ValueError(token)
    except ValueError as exc:
        raise InvalidRequest(f"start {token!r} is not a page token from a previous response") from exc
    if fields[1] < 0:
        raise InvalidRequest("start must not be negative")
    return fields[0], fields[1], fields[2] if len(fields) == 3 else None


def snapshot_for(catalog: Catalog, dataset: Dataset, batch_id: str) -> int | None:
    """The snapshot batch ``batch_id`` produced (promote, replay or upsert) in the current
    ancestry, or ``None`` (never landed, reverted, rolled back, or its snapshot was expired)."""
    table = load_table(catalog, dataset)
    if batch_id in reverted_batches(table):
        return None
    return batch_snapshots(table).get(batch_id)


def batch_snapshots(table: Table) -> dict[str, int]:
    """``{batch id: snapshot id}`` for every batch that landed in the current ancestry."""
    from pyiceberg.table.snapshots import ancestors_of

    found: dict[str, int] = {}
    for snapshot in ancestors_of(table.current_snapshot(), table.metadata):
        summary = snapshot.summary
        if summary is None or summary.get(OPERATION_KEY) not in WRITING_OPERATIONS:
            continue
        batch = summary.get(BATCH_KEY)
        if batch and batch not in found:
            found[str(batch)] = snapshot.snapshot_id
    return found


def _rows_in(task: FileScanTask, row_filter: BooleanExpression) -> int | None:
    """Rows of ``task`` passing the filter, when metadata alone says so; ``None`` if it must be read."""
    if task.delete_files:
        return None
    if isinstance(row_filter, AlwaysTrue):
        return task.file.record_count
    partition = task.file.partition
    # The spec is identity(_batch_id): a file of the filtered batch passes entirely.
    if (
        isinstance(row_filter, EqualTo)
        and partition is not None
        and len(partition) > 0
        and partition[0] == row_filter.literal.value
    ):
        return task.file.record_count
    return None


def _batch_of_file(task: FileScanTask) -> str | None:
    partition = task.file.partition
    return str(partition[0]) if partition is not None and len(partition) > 0 else None


def read_rows(
    catalog: Catalog,
    dataset: Dataset,
    *,
    limit: int = 100,
    start: int | str | None = 0,
    snapshot_id: int | None = None,
    batch_id: str | None = None,
    hidden: frozenset[str] = frozenset(),
) -> tuple[list[dict[str, Any]], str | None]:
    """One page of rows and the token for the next page (``None`` after the last page).

    ``start`` is ``0``/an offset for a first page, or the token a previous page returned (it
    carries the snapshot id; passing a different ``snapshot_id`` with it is an error).
    ``snapshot_id`` reads as of that snapshot (``NotFound`` if unknown or expired); default: the
    current one. ``batch_id`` keeps only that batch's rows. ``hidden`` names batches to leave out
    beyond the reverted ones the table records (an ABORT whose compensation has not committed
    yet). Every row includes ``_batch_id``, ``_source_file`` and ``_source_row``; values are
    JSON-safe (see ``json_safe``).
    """
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidRequest(f"limit must be between 1 and {MAX_LIMIT}")
    table = load_table(catalog, dataset)
    hidden = hidden | reverted_batches(table)
    offset = 0
    if isinstance(start, str) and start and not start.isdigit():
        pinned, offset, hidden_then = _parse_token(start)
        if snapshot_id is not None and snapshot_id != pinned:
            raise InvalidRequest("start token belongs to another snapshot than snapshot_id")
        if hidden_then is not None and hidden_then != len(hidden):
            raise Conflict(
                "a batch of this dataset was reverted or aborted since the first page, so the rows moved: "
                "read again from the first page",
                code="BG-409-ROWS-CHANGED",
            )
        snapshot_id = pinned
    elif start:
        offset = int(start)
        if offset < 0:
            raise InvalidRequest("start must not be negative")
    if snapshot_id is None:
        current = table.current_snapshot()
        if current is None:
            return [], None
        snapshot_id = current.snapshot_id
    elif table.metadata.snapshot_by_id(snapshot_id) is None:
        raise NotFound(f"snapshot {snapshot_id} of dataset {dataset.id} does not exist (expired?)")

    row_filter: BooleanExpression = (
        EqualTo(term=BATCH_COLUMN, value=batch_id) if batch_id is not None else AlwaysTrue()
    )
    scan = table.scan(row_filter=row_filter, snapshot_id=snapshot_id)
    planned = list(scan.plan_files())
    shown = [t for t in planned if _batch_of_file(t) not in hidden]
    if dataset.tags.is_upsert and len(shown) < len(planned):
        gone = sorted(b for b in {_batch_of_file(t) for t in planned} if b is not None and b in hidden)
        raise Conflict(
            f"this snapshot of upsert dataset {dataset.id} holds rows of batch(es) {', '.join(gone)}, since "
            "reverted; their updates replaced rows of other batches that this snapshot no longer holds, so "
            "it cannot be shown without them: read the current rows or a snapshot from after the revert",
            code="BG-409-SNAPSHOT-HAS-REVERTED",
        )
    tasks = sorted(shown, key=lambda t: t.file.file_path)
    reader = ArrowScan(
        table_metadata=table.metadata, io=table.io, projected_schema=scan.projection(), row_filter=row_filter
    )
    rows: list[dict[str, Any]] = []
    position = 0  # rows of the files before the current one
    more = False
    for task in tasks:
        known = _rows_in(task, row_filter)
        if known is not None and position + known <= offset:
            position += known
            continue
        if len(rows) >= limit:
            # The page is full; anything left in this or a later file means there is a next page.
            if known is None:
                known = reader.to_table(tasks=[task]).num_rows
            if known:
                more = True
                break
            continue
        data = reader.to_table(tasks=[task])
        skip = max(0, offset - position)
        wanted = data.slice(skip, limit - len(rows))
        rows.extend(wanted.to_pylist())
        position += data.num_rows
        if skip + wanted.num_rows < data.num_rows:
            more = True
            break
    page = [{k: json_safe(v) for k, v in row.items()} for row in rows]
    return page, (_token(snapshot_id, offset + len(rows), len(hidden)) if more else None)
