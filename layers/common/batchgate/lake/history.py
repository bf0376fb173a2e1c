"""What a table's history says about batches: which landed, which were reverted.

A reverted batch's rows must never be read again, whatever snapshot a reader asks for (a revert is
how personal data that should never have landed is removed). Older snapshots still list the
batch's files, so readers drop them by partition (every data file holds one batch:
``identity(_batch_id)``). Which batches are reverted is recorded twice: in the revert snapshot's
summary, and as a table property written in the same commit, which outlives the snapshot when gc
expires it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from pyiceberg.table import Table

from batchgate.lake.commit import BATCH_KEY, OPERATION_KEY, REVERT, WRITING_OPERATIONS, find_operation

REVERTED_PROPERTY_PREFIX = "batchgate.reverted."
# How long after a landing an ABORT may still be compensating it: a completion task's timeout.
COMPENSATION_WINDOW_MS = 15 * 60 * 1000


def reverted_property(batch_id: str) -> str:
    return f"{REVERTED_PROPERTY_PREFIX}{batch_id}"


def reverted_batches(table: Table) -> frozenset[str]:
    """Every batch ever reverted from this table (a compensated ABORT is a revert too)."""
    found = {
        key[len(REVERTED_PROPERTY_PREFIX) :]
        for key in table.properties
        if key.startswith(REVERTED_PROPERTY_PREFIX)
    }
    for snapshot in table.metadata.snapshots:
        summary = snapshot.summary
        if summary is not None and summary.get(OPERATION_KEY) == REVERT and summary.get(BATCH_KEY):
            found.add(str(summary.get(BATCH_KEY)))
    return frozenset(found)


def landed(table: Table, batch_id: str) -> bool:
    """The batch's landing (promote, replay or upsert) is in the current ancestry."""
    return find_operation(table, WRITING_OPERATIONS, batch_id) is not None


def recent_landings(table: Table, since_ms: int) -> list[tuple[str, int]]:
    """(batch, snapshot) of the landings in the current ancestry committed at or after
    ``since_ms``, newest first."""
    from pyiceberg.table.snapshots import ancestors_of

    found = []
    for snapshot in ancestors_of(table.current_snapshot(), table.metadata):
        if snapshot.timestamp_ms < since_ms:
            break
        # Read from the snapshot in hand: looking it up by id is a linear search, which made
        # this landings x snapshots (benchmarks/feeds.py, decision 39).
        summary = snapshot.summary
        batch = (
            summary.get(BATCH_KEY)
            if summary is not None and summary.get(OPERATION_KEY) in WRITING_OPERATIONS
            else None
        )
        if batch:
            found.append((str(batch), snapshot.snapshot_id))
    return found


def batch_of(table: Table, snapshot_id: int) -> str | None:
    """The batch whose landing produced ``snapshot_id``, if a batch's landing did."""
    snapshot = table.metadata.snapshot_by_id(snapshot_id)
    summary = snapshot.summary if snapshot is not None else None
    if summary is None or summary.get(OPERATION_KEY) not in WRITING_OPERATIONS:
        return None
    batch = summary.get(BATCH_KEY)
    return str(batch) if batch else None


@dataclass(frozen=True)
class ReadingPoint:
    """Where a reader of the current rows starts: the snapshot (``None``: nothing to read) and
    the aborted batches to leave out beside the reverted ones the table records."""

    snapshot_id: int | None
    aborted: frozenset[str]


def recently_aborted(table: Table, is_aborted: Callable[[str], bool], *, now_ms: int) -> frozenset[str]:
    """Batches that landed in the last ``COMPENSATION_WINDOW_MS`` and are aborted, as
    ``is_aborted`` (the batch's status, wherever the caller reads it) says."""
    since = now_ms - COMPENSATION_WINDOW_MS
    return frozenset(batch for batch, _ in recent_landings(table, since) if is_aborted(batch))


def reading_point(table: Table, is_aborted: Callable[[str], bool], *, now_ms: int) -> ReadingPoint:
    """The snapshot a read of the current rows must use, and the aborted batches it leaves out.

    An ABORT that wins while its batch is being committed is compensated by a revert commit a
    moment later; in between, the table's newest snapshot holds the aborted rows. Landings of the
    last few minutes whose batch is aborted are left out, and when the newest snapshot is such a
    landing the read starts from the snapshot before it. The snapshot is the one this check saw:
    a landing committed since could be another aborted one.
    """
    aborted = recently_aborted(table, is_aborted, now_ms=now_ms)
    current = table.current_snapshot()
    if current is None:
        return ReadingPoint(None, aborted)
    snapshot: int | None = current.snapshot_id
    if batch_of(table, current.snapshot_id) in aborted:
        snapshot = current.parent_snapshot_id  # None when the aborted batch was the first to land
    return ReadingPoint(snapshot, aborted)
