"""Reading a dataset's rows: paged, JSON-safe, current or as of a snapshot, optionally one batch.

Paging is by position in a fixed order (data files sorted by path, rows in file order) within
ONE snapshot: the ``next`` token pins the snapshot id, so pages stay consistent while batches keep
landing, and a page never repeats or skips a row. The token also names the file the next page
starts in, so page N reads about one page of files, not N pages, filtered or not (a first page
asked by a numeric offset skips whole files by their manifest row counts when nothing is
filtered). Filters are pushed into the Iceberg scan: files whose partition or column bounds rule
a condition out are not read, and a token is bound to the filters it was made under.

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
import hashlib
import math
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pyiceberg.catalog import Catalog
from pyiceberg.expressions import AlwaysTrue, EqualTo
from pyiceberg.table import FileScanTask, Table

from batchgate.core.errors import Conflict, InvalidRequest, NotFound
from batchgate.core.models import Dataset
from batchgate.core.row_filter import Condition
from batchgate.lake.commit import BATCH_KEY, OPERATION_KEY, WRITING_OPERATIONS
from batchgate.lake.filters import all_of
from batchgate.lake.history import reverted_batches
from batchgate.lake.scan import plan_visible
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


def filter_key(conditions: Sequence[Condition], batch_id: str | None) -> str:
    """What a page token binds: the rows' positions are positions among the rows this filter
    keeps, so a token means nothing under another filter. ``-`` when nothing is filtered."""
    if not conditions and batch_id is None:
        return "-"
    text = "\n".join([f"batch {batch_id!r}", *sorted(c.canonical() for c in conditions)])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class PageToken:
    """Where the next page starts: ``offset`` rows into the filtered rows of ``snapshot``; the
    file at ``file_index`` (of the scan's sorted files) is the first one it reads, and
    ``file_start`` rows come before that file. ``hidden`` counts the batches left out when the
    first page was read (``None`` in tokens from before they were counted), ``filter`` is
    :func:`filter_key` (``None`` in tokens from before filters)."""

    snapshot: int
    offset: int
    hidden: int | None = None
    filter: str | None = None
    file_index: int = 0
    file_start: int = 0

    def text(self) -> str:
        return (
            f"{self.snapshot}:{self.offset}:{self.hidden}:{self.filter}:{self.file_index}:{self.file_start}"
        )

    @classmethod
    def parse(cls, token: str) -> PageToken:
        not_a_token = InvalidRequest(f"start {token!r} is not a page token from a previous response")
        parts = token.split(":")
        try:
            if len(parts) in (2, 3):  # tokens from before filters
                numbers = [int(p) for p in parts]
                parsed = cls(numbers[0], numbers[1], numbers[2] if len(parts) == 3 else None)
            elif len(parts) == 6 and re.fullmatch(r"-|[0-9a-f]{16}", parts[3]):
                snapshot, offset, hidden, index, file_start = (int(parts[i]) for i in (0, 1, 2, 4, 5))
                parsed = cls(snapshot, offset, hidden, parts[3], index, file_start)
            else:
                raise not_a_token
        except ValueError as exc:
            raise not_a_token from exc
        if min(parsed.offset, parsed.file_index, parsed.file_start) < 0 or parsed.file_start > parsed.offset:
            raise not_a_token
        return parsed


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


def _rows_known(task: FileScanTask) -> int | None:
    """Rows of ``task`` the filter keeps, when metadata alone says so (the filter holds for the
    whole file by its partition, e.g. ``_batch_id``); ``None`` if the file must be read."""
    if task.delete_files or not isinstance(task.residual, AlwaysTrue):
        return None
    return task.file.record_count


def read_rows(
    catalog: Catalog,
    dataset: Dataset,
    *,
    limit: int = 100,
    start: int | str | None = 0,
    snapshot_id: int | None = None,
    batch_id: str | None = None,
    conditions: Sequence[Condition] = (),
    hidden: frozenset[str] = frozenset(),
) -> tuple[list[dict[str, Any]], str | None]:
    """One page of rows and the token for the next page (``None`` after the last page).

    ``start`` is ``0``/an offset for a first page, or the token a previous page returned (it
    carries the snapshot id; passing a different ``snapshot_id`` with it is an error, and so is
    passing it with another filter than its first page's). ``snapshot_id`` reads as of that
    snapshot (``NotFound`` if unknown or expired); default: the current one. ``batch_id`` keeps
    only that batch's rows, ``conditions`` only the rows meeting all of them (pushed into the
    Iceberg scan: files whose metadata rules them out are not read). ``hidden`` names batches to
    leave out beyond the reverted ones the table records (an ABORT whose compensation has not
    committed yet). Every row includes ``_batch_id``, ``_source_file`` and ``_source_row``;
    values are JSON-safe (see ``json_safe``).
    """
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidRequest(f"limit must be between 1 and {MAX_LIMIT}")
    table = load_table(catalog, dataset)
    every_hidden = hidden | reverted_batches(table)
    bound_to = filter_key(conditions, batch_id)
    resume = PageToken(snapshot=0, offset=0)
    if isinstance(start, str) and start and not start.isdigit():
        resume = PageToken.parse(start)
        if snapshot_id is not None and snapshot_id != resume.snapshot:
            raise InvalidRequest("start token belongs to another snapshot than snapshot_id")
        if (resume.filter or "-") != bound_to:
            raise InvalidRequest(
                "start is a page token of a read with other filters (filter=, batchId=): page with the "
                "filters of the first page, or start again from the first page",
                code="BG-400-PAGE-TOKEN",
            )
        if resume.hidden is not None and resume.hidden != len(every_hidden):
            raise Conflict(
                "a batch of this dataset was reverted or aborted since the first page, so the rows moved: "
                "read again from the first page",
                code="BG-409-ROWS-CHANGED",
            )
        snapshot_id = resume.snapshot
    elif start:
        resume = PageToken(snapshot=0, offset=int(start))
        if resume.offset < 0:
            raise InvalidRequest("start must not be negative")
    if snapshot_id is None:
        current = table.current_snapshot()
        if current is None:
            return [], None
        snapshot_id = current.snapshot_id
    elif table.metadata.snapshot_by_id(snapshot_id) is None:
        raise NotFound(f"snapshot {snapshot_id} of dataset {dataset.id} does not exist (expired?)")

    batch_only = [EqualTo(term=BATCH_COLUMN, value=batch_id)] if batch_id is not None else []
    try:
        plan = plan_visible(
            table,
            dataset_id=dataset.id,
            upsert=dataset.tags.is_upsert,
            snapshot_id=snapshot_id,
            row_filter=all_of([*batch_only, *conditions]),
            hidden=hidden,
        )
    except ValueError as exc:  # a condition pyiceberg cannot bind to this snapshot's schema
        raise InvalidRequest(f"filter: {exc}", code="BG-400-FILTER") from exc
    tasks = plan.tasks
    if resume.file_index > len(tasks):
        raise InvalidRequest(f"start {start!r} is not a page token from a previous response")
    offset = resume.offset
    rows: list[dict[str, Any]] = []
    position = resume.file_start  # filtered rows before the current file
    next_at: tuple[int, int] | None = None  # (file index, rows before it) where the next page starts
    for index in range(resume.file_index, len(tasks)):
        task = tasks[index]
        known = _rows_known(task)
        if known is not None and position + known <= offset:
            position += known
            continue
        if len(rows) >= limit:
            # The page is full; anything left in this or a later file means there is a next page.
            if known is None:
                known = plan.read_file(task).num_rows
            if known:
                next_at = (index, position)
                break
            continue
        data = plan.read_file(task)
        skip = max(0, offset - position)
        wanted = data.slice(skip, limit - len(rows))
        rows.extend(wanted.to_pylist())
        if skip + wanted.num_rows < data.num_rows:
            next_at = (index, position)
            break
        position += data.num_rows
    page = [{k: json_safe(v) for k, v in row.items()} for row in rows]
    if next_at is None:
        return page, None
    token = PageToken(snapshot_id, offset + len(rows), len(plan.hidden), bound_to, *next_at)
    return page, token.text()
