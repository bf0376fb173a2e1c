"""Removing whole batches' rows inside one snapshot: the shared core of revert and replay.

Because the table is partitioned by ``identity(_batch_id)``, a batch's rows sit in files of their
own and removing them drops whole files from the manifests — no data byte is read or written. A
file that holds rows of several batches (possible only if someone rewrote the table under another
partition spec) is rewritten without the removed batches' rows, and those bytes are counted.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.compute as pc
from pyiceberg.expressions import AlwaysFalse, BooleanExpression, In
from pyiceberg.manifest import DataFile
from pyiceberg.table import Table, Transaction
from pyiceberg.table.metadata import TableMetadata

from batchgate.lake.files import read_tasks, scan_tasks, write_data_files
from batchgate.lake.tables import BATCH_COLUMN


@dataclass
class Removal:
    """Files to drop, replacement files already written, and how many rows go."""

    batch_ids: frozenset[str]
    dropped: list[DataFile] = field(default_factory=list)
    replacements: list[DataFile] = field(default_factory=list)
    rows: int = 0

    @property
    def predicate(self) -> BooleanExpression:
        """Selects the manifests holding the dropped files (by partition value)."""
        values = set(self.batch_ids)
        for data_file in self.dropped:
            partition = data_file.partition
            if partition is not None and len(partition) > 0 and partition[0] is not None:
                values.add(str(partition[0]))
        return In(term=BATCH_COLUMN, literals=values) if values else AlwaysFalse()

    @property
    def bytes_rewritten(self) -> int:
        return sum(f.file_size_in_bytes for f in self.replacements)

    @property
    def written_paths(self) -> list[str]:
        return [f.file_path for f in self.replacements]

    def stage(self, tx: Transaction, properties: dict[str, str], added: list[DataFile]) -> None:
        """Stage one snapshot that drops ``dropped`` and adds ``replacements`` + ``added``.

        A pure removal becomes a DELETE snapshot when pyiceberg can prove from metadata alone that
        the dropped files match entirely (it can: full ``_batch_id`` metrics); otherwise, and
        whenever files are added, it is one OVERWRITE snapshot listing exactly these files.
        """
        if not added and not self.replacements and self.dropped:
            delete = tx.update_snapshot(snapshot_properties=properties).delete()
            delete.delete_by_predicate(In(term=BATCH_COLUMN, literals=set(self.batch_ids)))
            # pyiceberg plans the delete from column metrics; accept its DELETE snapshot only if
            # it drops exactly the files we planned (it exposes that set only privately).
            proven = set() if delete.rewrites_needed else {f.file_path for f in delete._deleted_data_files}
            if proven == {f.file_path for f in self.dropped}:
                delete.commit()
                return
            delete._clean_all_uncommitted()
        with tx.update_snapshot(snapshot_properties=properties).overwrite() as overwrite:
            overwrite.delete_by_predicate(self.predicate)
            for data_file in self.dropped:
                overwrite.delete_data_file(data_file)
            for data_file in [*self.replacements, *added]:
                overwrite.append_data_file(data_file)


def plan_removal(table: Table, metadata: TableMetadata, batch_ids: set[str] | frozenset[str]) -> Removal:
    """Find the live files holding ``batch_ids``' rows in ``metadata``'s current snapshot."""
    removal = Removal(batch_ids=frozenset(batch_ids))
    if not batch_ids or metadata.current_snapshot() is None:
        return removal
    for task in scan_tasks(table, metadata, In(term=BATCH_COLUMN, literals=set(batch_ids))):
        data_file = task.file
        partition = data_file.partition
        owner = partition[0] if partition is not None and len(partition) > 0 else None
        removal.dropped.append(data_file)
        if owner in batch_ids:
            removal.rows += data_file.record_count
            continue
        # A file shared with other batches: keep their rows in a rewritten file.
        rows = read_tasks(table, metadata, [task])
        keep = rows.filter(pc.invert(pc.is_in(rows.column(BATCH_COLUMN), value_set=_values(batch_ids))))
        removal.rows += rows.num_rows - keep.num_rows
        removal.replacements.extend(write_data_files(table, metadata, keep))
    return removal


def _values(batch_ids: set[str] | frozenset[str]) -> pa.Array:
    return pa.array(sorted(batch_ids), type=pa.string())
