"""Revert a batch: take its rows out of the dataset's table in one commit.

Plain batch (promote or replay): drop the files holding ``_batch_id = b`` — metadata only, a
DELETE snapshot. The predecessors of a reverted replay are not brought back.

Upsert batch: the batch's files hold the rows it inserted and the new versions of rows it
updated; the old versions were removed from other batches' files. Reverting drops the batch's
files and re-inserts, from the snapshot before the upsert (``upsert_prior_snapshot``, else the
upsert snapshot's parent), the prior version of every row whose identity still carries ``b``.
Restored rows keep their original ``_batch_id``, ``_source_file`` and ``_source_row``, so a later
revert of *their* batch removes them too. One OVERWRITE snapshot.

Limits of reverting an upsert (documented, tested where they bite):
- A row that a later batch changed again now carries that batch's id: it is left as it is (the
  later change wins) and its prior version is not restored.
- A prior version from a batch that was reverted or replayed away after the upsert is not
  restored (such batches are read from the ``batchgate.*`` snapshot summaries in between).
- The prior snapshot must still exist: gc keeps it while the upsert batch is protected; once it
  is expired the revert fails with ``SnapshotExpired`` (Terminal) instead of guessing.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc
from pyiceberg.catalog import Catalog
from pyiceberg.expressions import EqualTo
from pyiceberg.table import DataScan, Table, Transaction
from pyiceberg.table.snapshots import ancestors_of

from batchgate.core.errors import Conflict, InvalidRequest
from batchgate.core.models import Dataset
from batchgate.lake import identity as ident
from batchgate.lake.commit import (
    BATCH_KEY,
    BYTES_REWRITTEN_KEY,
    DEFAULT_POLICY,
    OPERATION_KEY,
    PREDECESSORS_KEY,
    PRIOR_SNAPSHOT_KEY,
    REPLAY,
    REVERT,
    ROWS_DELETED_KEY,
    UPSERT,
    WRITING_OPERATIONS,
    CommitPolicy,
    CommitResult,
    Plan,
    find_operation,
    run_commit,
)
from batchgate.lake.files import align, table_arrow_schema, write_data_files
from batchgate.lake.history import reverted_property
from batchgate.lake.removal import plan_removal
from batchgate.lake.tables import BATCH_COLUMN, LINEAGE_COLUMNS, identifier_of


class SnapshotExpired(Conflict):
    """The snapshot an operation needs was expired by gc."""

    code = "BG-409-SNAPSHOT-EXPIRED"


def removed_since(table: Table, snapshot_id: int) -> set[str]:
    """Batch ids whose rows were taken out (revert, replay predecessors) after ``snapshot_id``,
    following the current ancestry back to it."""
    gone: set[str] = set()
    for snapshot in ancestors_of(table.current_snapshot(), table.metadata):
        if snapshot.snapshot_id == snapshot_id:
            break
        summary = snapshot.summary
        if summary is None:
            continue
        operation, batch, predecessors = (
            summary.get(OPERATION_KEY),
            summary.get(BATCH_KEY),
            summary.get(PREDECESSORS_KEY),
        )
        if operation == REVERT and batch:
            gone.add(str(batch))
        if operation == REPLAY and predecessors:
            gone.update(str(predecessors).split(","))
    return gone


def revert(
    catalog: Catalog,
    dataset: Dataset,
    batch_id: str,
    *,
    upsert_prior_snapshot: int | None = None,
    policy: CommitPolicy = DEFAULT_POLICY,
) -> CommitResult:
    """Remove batch ``batch_id`` from the table in one commit; see the module docstring.

    The batch is treated as an upsert when ``upsert_prior_snapshot`` is given or its upsert
    snapshot is in the ancestry. Idempotent: a second revert finds the first one's snapshot and
    returns it with ``noop=True``; reverting a batch that never landed commits nothing (``noop``);
    reverting one whose rows were all superseded commits an empty snapshot that records it.
    """
    identity = list(dataset.tags.identity)

    def build(table: Table, tx: Transaction, properties: dict[str, str]) -> Plan:
        metadata = table.metadata
        removal = plan_removal(table, metadata, {batch_id})
        # Readers must never show this batch again, time travel included (lake.history): the
        # revert is recorded on the table as well as in its snapshot, which gc may expire.
        tx.set_properties({reverted_property(batch_id): "true"})
        upserted = find_operation(table, UPSERT, batch_id)
        prior = upsert_prior_snapshot
        if prior is None and upserted is not None:
            prior = upserted.parent_snapshot_id
        if not removal.dropped:
            if find_operation(table, WRITING_OPERATIONS, batch_id) is None:
                return Plan(empty=True)  # never landed (or its snapshot expired): nothing to record
            # Its rows were all superseded by later upserts. Commit an empty snapshot anyway: the
            # revert must be on record, or reverting a later upsert would restore this batch's rows.
            removal.stage(tx, properties, [])
            return Plan()
        if prior is None:
            # A plain batch, or an upsert into an empty table: drop its files.
            properties[ROWS_DELETED_KEY] = str(removal.rows)
            properties[BYTES_REWRITTEN_KEY] = str(removal.bytes_rewritten)
            removal.stage(tx, properties, [])
            return Plan(
                rows_deleted=removal.rows,
                files_deleted=len(removal.dropped),
                bytes_rewritten=removal.bytes_rewritten,
                written=removal.written_paths,
            )
        if not identity:
            raise InvalidRequest(
                f"dataset {dataset.id} has no identity columns: cannot revert upsert {batch_id}"
            )
        if metadata.snapshot_by_id(prior) is None:
            raise SnapshotExpired(
                f"snapshot {prior} before upsert batch {batch_id} was expired; its prior rows are gone"
            )
        # Identities whose current row carries this batch: the rows it inserted or last updated.
        current = DataScan(
            table_metadata=metadata,
            io=table.io,
            row_filter=EqualTo(term=BATCH_COLUMN, value=batch_id),
            selected_fields=tuple(identity),
        ).to_arrow()
        keys = ident.non_null_keys(current, identity)
        previous = DataScan(
            table_metadata=metadata,
            io=table.io,
            row_filter=ident.key_filter(keys, identity),
            snapshot_id=prior,
        ).to_arrow()
        previous = align(previous, table_arrow_schema(metadata), where=f"snapshot {prior}")
        left, _ = ident.match(previous, keys, identity)
        previous = previous.take(left)
        skip = removed_since(table, prior) | {batch_id}
        if previous.num_rows:
            previous = previous.filter(
                pc.invert(
                    pc.is_in(
                        previous.column(BATCH_COLUMN), value_set=pa.array(sorted(skip), type=pa.string())
                    )
                )
            )
        if previous.num_rows:
            # Only rows that are gone now come back: a prior row still live (say, a row of
            # another batch with the same identity, next to a replay's duplicate) stays single.
            # Lineage (batch, file, row) identifies a stored row exactly.
            live = DataScan(
                table_metadata=metadata,
                io=table.io,
                row_filter=ident.key_filter(keys, identity),
                selected_fields=LINEAGE_COLUMNS,
            ).to_arrow()
            still, _ = ident.match(previous, live, list(LINEAGE_COLUMNS))
            previous = previous.filter(ident.not_in(previous.num_rows, still))
        restored = write_data_files(table, metadata, previous)
        rewritten = removal.bytes_rewritten + sum(f.file_size_in_bytes for f in restored)
        properties[PRIOR_SNAPSHOT_KEY] = str(prior)
        properties[ROWS_DELETED_KEY] = str(removal.rows)
        properties[BYTES_REWRITTEN_KEY] = str(rewritten)
        removal.stage(tx, properties, restored)
        return Plan(
            rows_added=previous.num_rows,
            files_added=len(restored),
            rows_deleted=removal.rows,
            files_deleted=len(removal.dropped),
            bytes_rewritten=rewritten,
            written=removal.written_paths + [f.file_path for f in restored],
        )

    return run_commit(catalog, identifier_of(dataset), REVERT, batch_id, build, policy=policy)
