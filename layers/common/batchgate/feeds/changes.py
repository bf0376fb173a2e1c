"""What a sync sends, worked out from the dataset's Iceberg table: the change model of feeds.

The table's history says exactly what happened to each batch (see :mod:`batchgate.lake.history`):
every landing (promote, replay, upsert) is a snapshot naming its batch; a revert is a snapshot
naming the batch it took out; a replay's snapshot names the predecessors it replaced. Between the
feed's watermark snapshot ``W`` and the current one ``C``:

- **upsert**: rows of batches that landed after ``W`` and are still visible at ``C``;
- **delete**: rows of batches visible at ``W`` and taken out since (reverted, or replaced by a
  replay), read from ``W`` itself. They carry the lineage columns (``_batch_id``,
  ``_source_file``, ``_source_row``), and in a dataset with an identity its columns;
- in a dataset with an identity (upsert datasets), a taken-out batch's identities that still
  have a row at ``C`` (a revert of an update restores the previous values) are sent as that
  current row, ``upsert``, instead of a delete; upserts always carry the rows' current values.

A batch that landed and was taken out between two syncs is not sent at all. Deletes go before
upserts. A full sync sends every row visible at ``C`` as ``upsert``.

Rows are never loaded whole: upserts are described as the table's own data files (each holds one
batch: ``identity(_batch_id)``), grouped into parts by rows and bytes; only deletes and restored
rows, which must be computed, are written as small change files by the plan.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import pyarrow as pa
import pyarrow.compute as pc
from pyiceberg.expressions import In
from pyiceberg.table import Table
from pyiceberg.table.snapshots import ancestors_of

from batchgate.core.errors import Conflict
from batchgate.lake.commit import (
    BATCH_KEY,
    OPERATION_KEY,
    PREDECESSORS_KEY,
    REPLAY,
    REVERT,
    WRITING_OPERATIONS,
)
from batchgate.lake.history import reverted_batches
from batchgate.lake.identity import key_filter, match, non_null_keys
from batchgate.lake.scan import batch_of_file, plan_visible
from batchgate.lake.tables import BATCH_COLUMN, LINEAGE_COLUMNS

Op = Literal["upsert", "delete"]
OP_COLUMN = "_op"


class WatermarkExpired(Conflict):
    code = "BG-409-FEED-WATERMARK-EXPIRED"


@dataclass
class Part:
    """Rows delivered together: one part file (s3), or consecutive items (webhook)."""

    op: Op
    files: list[str]
    rows: int
    bytes: int


@dataclass
class ChangePlan:
    mode: Literal["full", "incremental"]
    from_snapshot: int | None
    to_snapshot: int | None
    to_time: int | None
    upsert_batches: list[str] = field(default_factory=list)
    deleted_batches: list[str] = field(default_factory=list)
    parts: list[Part] = field(default_factory=list)

    @property
    def rows(self) -> int:
        return sum(p.rows for p in self.parts)

    @property
    def bytes(self) -> int:
        return sum(p.bytes for p in self.parts)


# Writes a computed change table where deliveries can read it: (path, bytes).
WriteChanges = Callable[[pa.Table], tuple[str, int]]


@dataclass(frozen=True)
class History:
    """Between ``W`` and ``C``: batches landed, and batches taken out, in commit order."""

    landed: list[str]
    taken_out: list[str]


def history_between(table: Table, current: int, watermark: int) -> History:
    landed: list[str] = []
    taken_out: list[str] = []
    found = False
    for snapshot in ancestors_of(table.metadata.snapshot_by_id(current), table.metadata):
        if snapshot.snapshot_id == watermark:
            found = True
            break
        summary = snapshot.summary
        if summary is None:
            continue
        operation, batch = summary.get(OPERATION_KEY), summary.get(BATCH_KEY)
        if operation in WRITING_OPERATIONS and batch:
            landed.append(str(batch))
        if operation == REVERT and batch:
            taken_out.append(str(batch))
        if operation == REPLAY and summary.get(PREDECESSORS_KEY):
            taken_out.extend(str(summary.get(PREDECESSORS_KEY)).split(","))
    if not found:
        raise WatermarkExpired(
            f"the feed's watermark snapshot {watermark} is no longer in the table's history (gc expired it, "
            "or the table was rebuilt): run a FULL_SYNC"
        )
    return History(landed=landed[::-1], taken_out=taken_out[::-1])


class Planner:
    def __init__(
        self,
        table: Table,
        *,
        dataset_id: str,
        identity: list[str],
        upsert: bool,
        columns: list[str] | None,
        part_rows: int,
        part_bytes: int,
    ) -> None:
        self.table = table
        self.dataset_id = dataset_id
        self.identity = identity
        self.upsert = upsert
        self.part_rows = part_rows
        self.part_bytes = part_bytes
        names = [f.name for f in table.schema().fields]
        wanted = columns if columns is not None else [n for n in names if n not in LINEAGE_COLUMNS]
        extra = [c for c in identity if c not in wanted]
        self.columns = [*wanted, *extra, *LINEAGE_COLUMNS]

    # -- the plans ------------------------------------------------------------------------
    def full(self, current: int | None, hidden: frozenset[str], time: int | None) -> ChangePlan:
        plan = ChangePlan("full", None, current, time)
        if current is None:
            return plan
        scan = plan_visible(
            self.table, dataset_id=self.dataset_id, upsert=self.upsert, snapshot_id=current, hidden=hidden
        )
        plan.upsert_batches = sorted({b for t in scan.tasks if (b := batch_of_file(t)) is not None})
        plan.parts = self._group(
            "upsert", [(t.file.file_path, t.file.record_count, t.file.file_size_in_bytes) for t in scan.tasks]
        )
        return plan

    def incremental(
        self,
        watermark: int,
        current: int | None,
        hidden: frozenset[str],
        time: int | None,
        write: WriteChanges | None,
    ) -> ChangePlan:
        """``write`` None: an estimate (metadata only; the rows of deletes counted, not read)."""
        plan = ChangePlan("incremental", watermark, current, time)
        if current is None or current == watermark:
            plan.to_snapshot = watermark
            return plan
        history = history_between(self.table, current, watermark)
        gone = set(history.taken_out) | set(hidden) | reverted_batches(self.table)
        plan.upsert_batches = [b for b in dict.fromkeys(history.landed) if b not in gone]
        plan.deleted_batches = [b for b in dict.fromkeys(history.taken_out) if b not in set(history.landed)]
        parts: list[Part] = []
        if plan.deleted_batches:
            parts += self._deletes(plan, watermark, current, hidden, write)
        if plan.upsert_batches:
            scan = plan_visible(
                self.table,
                dataset_id=self.dataset_id,
                upsert=self.upsert,
                snapshot_id=current,
                hidden=hidden,
                row_filter=In(term=BATCH_COLUMN, literals=set(plan.upsert_batches)),
            )
            files = [(t.file.file_path, t.file.record_count, t.file.file_size_in_bytes) for t in scan.tasks]
            parts += self._group("upsert", files)
        plan.parts = parts
        return plan

    # -- deletes ----------------------------------------------------------------------------
    def _deletes(
        self,
        plan: ChangePlan,
        watermark: int,
        current: int,
        hidden: frozenset[str],
        write: WriteChanges | None,
    ) -> list[Part]:
        keep = [*self.identity, *LINEAGE_COLUMNS]
        scan = self.table.scan(
            row_filter=In(term=BATCH_COLUMN, literals=set(plan.deleted_batches)),
            selected_fields=tuple(keep),
            snapshot_id=watermark,
        )
        if write is None:  # an estimate: the files' row counts are enough
            tasks = list(scan.plan_files())
            rows = sum(t.file.record_count for t in tasks)
            return [Part("delete", [], rows, rows * 64)] if rows else []
        try:
            removed = scan.to_arrow()
        except (FileNotFoundError, OSError) as exc:
            if self.identity:
                raise WatermarkExpired(
                    f"the rows of batch(es) {', '.join(plan.deleted_batches)} were purged before this feed sent "
                    "their deletes, and this dataset's deletes need their identities: run a FULL_SYNC"
                ) from exc
            # Without an identity a consumer deletes by lineage: one row per batch says "all of it".
            removed = pa.table({BATCH_COLUMN: pa.array(plan.deleted_batches, pa.string())})
        parts: list[Part] = []
        if self.identity:
            removed, restored = self._still_current(removed, current, hidden)
            if restored.num_rows:
                path, size = write(_with_op(restored, "upsert"))
                parts.append(Part("upsert", [path], restored.num_rows, size))
        if removed.num_rows:
            path, size = write(_with_op(removed, "delete"))
            parts.insert(0, Part("delete", [path], removed.num_rows, size))
        return parts

    def _still_current(
        self, removed: pa.Table, current: int, hidden: frozenset[str]
    ) -> tuple[pa.Table, pa.Table]:
        """(rows whose identity has no row at ``current``: deletes; the current rows of the others)."""
        keys = non_null_keys(removed, self.identity)
        if keys.num_rows == 0:
            return removed, pa.table({})
        scan = plan_visible(
            self.table,
            dataset_id=self.dataset_id,
            upsert=self.upsert,
            snapshot_id=current,
            hidden=hidden,
            row_filter=key_filter(keys, self.identity),
        )
        now = scan.reader.to_table(tasks=scan.tasks) if scan.tasks else scan.schema.empty_table()
        if now.num_rows == 0:
            return removed, now
        gone_idx, now_idx = match(removed, now, self.identity)
        still = pc.is_in(pa.array(range(removed.num_rows), pa.int64()), value_set=gone_idx.cast(pa.int64()))
        current_rows = now.take(pc.unique(now_idx))
        return removed.filter(pc.invert(still)), current_rows

    # -- parts --------------------------------------------------------------------------------
    def _group(self, op: Op, files: list[tuple[str, int, int]]) -> list[Part]:
        parts: list[Part] = []
        for path, rows, size in sorted(files):
            last = parts[-1] if parts else None
            if last is None or last.rows + rows > self.part_rows or last.bytes + size > self.part_bytes:
                if last is not None and last.rows == 0:
                    parts.pop()
                parts.append(Part(op, [], 0, 0))
            part = parts[-1]
            part.files.append(path)
            part.rows += rows
            part.bytes += size
        return parts


def _with_op(df: pa.Table, op: Op) -> pa.Table:
    return df.append_column(OP_COLUMN, pa.array([op] * df.num_rows, pa.string()))
