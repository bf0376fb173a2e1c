"""One Iceberg commit per batch operation: plan on fresh metadata, commit, retry on conflict.

Every operation (promote, replay, revert, upsert) goes through ``run_commit``:

1. load the table (fresh metadata);
2. if a snapshot in the current ancestry already carries this operation and batch id in its
   summary (``batchgate.operation`` / ``batchgate.batch-id``), return it as a no-op — that is what
   makes a re-run after success (a retried Step Functions task, a duplicate event) harmless;
3. let the operation build its single snapshot in a ``Transaction`` from that metadata;
4. commit. ``CommitFailedException`` means another writer won the race and nothing landed: the
   data files this attempt wrote are deleted, and the whole plan is rebuilt from the new metadata
   (never replayed from the stale one — an upsert's merged values or a revert's restored rows
   depend on what the table holds). After ``CommitPolicy.attempts`` it raises ``CommitConflict``
   (a ``Transient`` error: Step Functions retries it with backoff).

Tables are created with ``commit.retry.num-retries=0`` so pyiceberg does not replay a stale plan
underneath us. Any other exception propagates unchanged and nothing is deleted, because the
commit's outcome is then unknown.

Failure injection: tests make the catalog commit fail by replacing ``catalog.commit_table`` (the
one call every pyiceberg catalog commit goes through); see tests/integration/lake.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from pyiceberg.catalog import Catalog
from pyiceberg.exceptions import CommitFailedException
from pyiceberg.table import Table, Transaction
from pyiceberg.table.snapshots import Snapshot, ancestors_of

from batchgate.core.errors import CommitConflict

logger = logging.getLogger(__name__)

OPERATION_KEY = "batchgate.operation"
BATCH_KEY = "batchgate.batch-id"
BYTES_REWRITTEN_KEY = "batchgate.bytes-rewritten"
PREDECESSORS_KEY = "batchgate.predecessors"
PRIOR_SNAPSHOT_KEY = "batchgate.prior-snapshot-id"
ROWS_DELETED_KEY = "batchgate.rows-deleted"

PROMOTE = "promote"
REPLAY = "replay"
REVERT = "revert"
UPSERT = "upsert"
#: Operations that put a batch's rows into the table.
WRITING_OPERATIONS = frozenset({PROMOTE, REPLAY, UPSERT})


@dataclass(frozen=True)
class CommitResult:
    """What one operation did.

    ``snapshot_id`` is the snapshot the operation produced (or, for a no-op re-run, the one it
    produced earlier; ``None`` only when the table has no snapshot at all). ``bytes_rewritten``
    counts bytes of data files this commit had to write itself — 0 when it only registered staged
    files or dropped whole files. ``noop`` is true when nothing was committed now.
    """

    snapshot_id: int | None
    previous_snapshot_id: int | None
    rows_added: int = 0
    files_added: int = 0
    bytes_rewritten: int = 0
    rows_deleted: int = 0
    files_deleted: int = 0
    noop: bool = False
    attempts: int = 1


@dataclass(frozen=True)
class CommitPolicy:
    """Bounded retry of a commit that lost a race: ``attempts`` in all, exponential backoff with
    full jitter between ``base_delay`` and ``max_delay`` seconds."""

    attempts: int = 8
    base_delay: float = 0.05
    max_delay: float = 2.0

    def delay(self, attempt: int) -> float:
        return random.uniform(0, min(self.max_delay, self.base_delay * (2 ** (attempt - 1))))


DEFAULT_POLICY = CommitPolicy()


@dataclass
class Plan:
    """What one attempt staged in its transaction. ``written`` lists data files the attempt wrote
    itself, deleted again if the commit is refused. ``empty`` means there is nothing to commit."""

    rows_added: int = 0
    files_added: int = 0
    bytes_rewritten: int = 0
    rows_deleted: int = 0
    files_deleted: int = 0
    written: list[str] = field(default_factory=list)
    empty: bool = False


Builder = Callable[[Table, Transaction, dict[str, str]], Plan]


def summary_properties(operation: str, batch_id: str, **extra: str) -> dict[str, str]:
    return {OPERATION_KEY: operation, BATCH_KEY: batch_id, **extra}


def find_operation(table: Table, operation: str | frozenset[str], batch_id: str) -> Snapshot | None:
    """The newest snapshot in the current ancestry that ``operation`` produced for ``batch_id``.

    Only the ancestry of ``main`` counts: a snapshot that was rolled back is not "applied". An
    expired snapshot is no longer visible here (gc keeps protected batches' snapshots).
    """
    wanted = {operation} if isinstance(operation, str) else operation
    for snapshot in ancestors_of(table.current_snapshot(), table.metadata):
        summary = snapshot.summary
        if (
            summary is not None
            and summary.get(BATCH_KEY) == batch_id
            and summary.get(OPERATION_KEY) in wanted
        ):
            return snapshot
    return None


def result_from_snapshot(snapshot: Snapshot, *, noop: bool, attempts: int = 1) -> CommitResult:
    summary = snapshot.summary
    get = summary.get if summary is not None else (lambda _key, default=None: default)
    return CommitResult(
        snapshot_id=snapshot.snapshot_id,
        previous_snapshot_id=snapshot.parent_snapshot_id,
        rows_added=int(get("added-records", "0") or 0),
        files_added=int(get("added-data-files", "0") or 0),
        bytes_rewritten=int(get(BYTES_REWRITTEN_KEY, "0") or 0),
        rows_deleted=int(get(ROWS_DELETED_KEY, None) or get("deleted-records", "0") or 0),
        files_deleted=int(get("deleted-data-files", "0") or 0),
        noop=noop,
        attempts=attempts,
    )


def _nothing(table: Table, attempts: int) -> CommitResult:
    current = table.current_snapshot()
    return CommitResult(
        snapshot_id=current.snapshot_id if current else None,
        previous_snapshot_id=current.parent_snapshot_id if current else None,
        noop=True,
        attempts=attempts,
    )


def _discard(table: Table, paths: list[str]) -> None:
    for path in paths:
        try:
            table.io.delete(path)
        except Exception:  # an orphan is harmless; gc's orphan sweep can take it later
            logger.warning("could not delete uncommitted data file %s", path, exc_info=True)


def run_commit(
    catalog: Catalog,
    identifier: str,
    operation: str,
    batch_id: str,
    build: Builder,
    *,
    policy: CommitPolicy = DEFAULT_POLICY,
    extra_properties: dict[str, str] | None = None,
) -> CommitResult:
    """Run ``build`` and commit its transaction as one snapshot; see the module docstring."""
    last: CommitFailedException | None = None
    for attempt in range(1, policy.attempts + 1):
        table = catalog.load_table(identifier)
        done = find_operation(table, operation, batch_id)
        if done is not None:
            return result_from_snapshot(done, noop=True, attempts=attempt)
        tx = table.transaction()
        properties = summary_properties(operation, batch_id, **(extra_properties or {}))
        plan = build(table, tx, properties)
        if plan.empty:
            return _nothing(table, attempt)
        try:
            committed = tx.commit_transaction()
        except CommitFailedException as exc:
            last = exc
            _discard(table, plan.written)
            logger.info(
                "commit of %s %s on %s lost a race (attempt %d/%d): %s",
                operation,
                batch_id,
                identifier,
                attempt,
                policy.attempts,
                exc,
            )
            if attempt < policy.attempts:
                time.sleep(policy.delay(attempt))
            continue
        snapshot = committed.metadata.current_snapshot()
        if snapshot is None:  # pragma: no cover - a snapshot commit always sets main
            raise RuntimeError(f"{operation} of {batch_id} committed but {identifier} has no snapshot")
        return CommitResult(
            snapshot_id=snapshot.snapshot_id,
            previous_snapshot_id=snapshot.parent_snapshot_id,
            rows_added=plan.rows_added,
            files_added=plan.files_added,
            bytes_rewritten=plan.bytes_rewritten,
            rows_deleted=plan.rows_deleted,
            files_deleted=plan.files_deleted,
            attempts=attempt,
        )
    raise CommitConflict(
        f"{operation} of batch {batch_id} on {identifier} lost {policy.attempts} commit races: {last}"
    )
