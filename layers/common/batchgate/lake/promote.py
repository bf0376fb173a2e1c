"""Promote a batch (register its staged files) and replay a batch (replace its predecessors).

Both produce exactly one snapshot in one commit, tagged in its summary with
``batchgate.operation`` and ``batchgate.batch-id``, so a re-run after success is a no-op.
"""

from __future__ import annotations

from pyiceberg.catalog import Catalog
from pyiceberg.expressions import EqualTo
from pyiceberg.manifest import DataFile
from pyiceberg.table import Table, Transaction
from pyiceberg.table.update.snapshot import _FastAppendFiles

from batchgate.core.errors import InvalidRequest
from batchgate.core.models import Dataset
from batchgate.lake.commit import (
    BYTES_REWRITTEN_KEY,
    DEFAULT_POLICY,
    PREDECESSORS_KEY,
    PROMOTE,
    REPLAY,
    CommitPolicy,
    CommitResult,
    Plan,
    run_commit,
)
from batchgate.lake.files import Staged, scan_tasks, stage_files
from batchgate.lake.removal import plan_removal
from batchgate.lake.tables import BATCH_COLUMN, identifier_of

NAME_MAPPING = "schema.name-mapping.default"
MERGE_ENABLED = "commit.manifest-merge.enabled"


class _StagedCache:
    """Footers read once per (schema, spec), reused across commit attempts. Rewritten files are
    not cached: a refused attempt deletes them, so each attempt writes its own."""

    def __init__(self, batch_id: str, paths: list[str]) -> None:
        self.batch_id = batch_id
        self.paths = paths
        self._key: tuple[int, int] | None = None
        self._registered: dict[str, DataFile] = {}

    def get(self, table: Table) -> Staged:
        metadata = table.metadata
        key = (metadata.current_schema_id, metadata.default_spec_id)
        if key == self._key:
            todo = [p for p in self.paths if p not in self._registered]
            fresh = stage_files(table, metadata, self.batch_id, todo) if todo else Staged()
            registered = [self._registered[p] for p in self.paths if p in self._registered]
            return Staged(registered=registered + fresh.registered, rewritten=fresh.rewritten)
        staged = stage_files(table, metadata, self.batch_id, self.paths)
        self._key = key
        self._registered = {f.file_path: f for f in staged.registered}
        return staged


def _has_rows_of(table: Table, batch_id: str) -> bool:
    """True when live files hold ``batch_id``'s rows (partition-pruned: reads few manifests)."""
    if table.metadata.current_snapshot() is None:
        return False
    return bool(scan_tasks(table, table.metadata, EqualTo(term=BATCH_COLUMN, value=batch_id)))


def _ensure_name_mapping(table: Table, tx: Transaction) -> None:
    # Staged files carry no Iceberg field ids; readers resolve their columns by name through the
    # default name mapping. ensure_table sets it; tables made elsewhere get it in the same commit.
    if NAME_MAPPING not in table.metadata.properties:
        tx.set_properties({NAME_MAPPING: table.metadata.schema().name_mapping.model_dump_json()})


def append_producer(table: Table, tx: Transaction, properties: dict[str, str]) -> _FastAppendFiles:
    """The APPEND snapshot producer the table asks for: merge-append when
    ``commit.manifest-merge.enabled`` (set by ``ensure_table``) so that one manifest per batch
    does not pile up — past ``commit.manifest.min-count-to-merge`` manifests they are merged
    into ~8 MB ones — else fast-append."""
    merge = table.metadata.properties.get(MERGE_ENABLED, "false").lower() == "true"
    update = tx.update_snapshot(snapshot_properties=properties)
    return update.merge_append() if merge else update.fast_append()


def append_staged(table: Table, tx: Transaction, properties: dict[str, str], staged: Staged) -> Plan:
    """Add ``staged``'s data files to ``tx`` as one append; the plan the commit loop records."""
    with append_producer(table, tx, properties) as append:
        for data_file in staged.data_files:
            append.append_data_file(data_file)
    return Plan(
        rows_added=staged.rows,
        files_added=len(staged.data_files),
        bytes_rewritten=staged.bytes_rewritten,
        written=staged.written_paths,
    )


def promote(
    catalog: Catalog,
    dataset: Dataset,
    batch_id: str,
    staged_paths: list[str],
    *,
    policy: CommitPolicy = DEFAULT_POLICY,
) -> CommitResult:
    """Add a batch's staged Parquet files to the dataset's table as one APPEND snapshot.

    Files whose schema matches are registered in place (``bytes_rewritten == 0``): the table then
    references ``staged_paths`` directly, so staged files must not be deleted while a snapshot
    needs them (gc does that). Files that cannot be registered are rewritten into the table's
    data folder and counted in ``bytes_rewritten``. A file holding another batch's rows is a
    ``StagedFileError`` (Terminal). Idempotent: if this batch was already promoted (its snapshot is
    in the ancestry, or live files hold its rows) nothing is committed and ``noop`` is true — also
    after a revert, so a reverted batch cannot land twice.
    An empty ``staged_paths`` commits an empty snapshot, so the batch still has a snapshot id.
    """
    cache = _StagedCache(batch_id, list(staged_paths))

    def build(table: Table, tx: Transaction, properties: dict[str, str]) -> Plan:
        if _has_rows_of(table, batch_id):
            return Plan(empty=True)
        staged = cache.get(table)
        properties[BYTES_REWRITTEN_KEY] = str(staged.bytes_rewritten)
        _ensure_name_mapping(table, tx)
        return append_staged(table, tx, properties, staged)

    return run_commit(catalog, identifier_of(dataset), PROMOTE, batch_id, build, policy=policy)


def replay(
    catalog: Catalog,
    dataset: Dataset,
    batch_id: str,
    staged_paths: list[str],
    predecessors: list[str],
    *,
    policy: CommitPolicy = DEFAULT_POLICY,
) -> CommitResult:
    """Replace the predecessors' rows with this batch's rows in ONE OVERWRITE snapshot.

    The snapshot drops every file of the predecessors (metadata only) and registers the staged
    files, so any reader — and any time-travel query — sees either the old rows or the new ones,
    never both or neither. Predecessors with no rows left (already reverted) are simply absent.
    Idempotent like ``promote``.
    """
    if batch_id in predecessors:
        raise InvalidRequest(f"batch {batch_id} cannot replay itself")
    cache = _StagedCache(batch_id, list(staged_paths))
    olds = set(predecessors)

    def build(table: Table, tx: Transaction, properties: dict[str, str]) -> Plan:
        if _has_rows_of(table, batch_id):
            return Plan(empty=True)
        removal = plan_removal(table, table.metadata, olds)
        staged = cache.get(table)
        rewritten = staged.bytes_rewritten + removal.bytes_rewritten
        properties[BYTES_REWRITTEN_KEY] = str(rewritten)
        _ensure_name_mapping(table, tx)
        removal.stage(tx, properties, staged.data_files)
        return Plan(
            rows_added=staged.rows,
            files_added=len(staged.data_files),
            bytes_rewritten=rewritten,
            rows_deleted=removal.rows,
            files_deleted=len(removal.dropped),
            written=staged.written_paths + removal.written_paths,
        )

    return run_commit(
        catalog,
        identifier_of(dataset),
        REPLAY,
        batch_id,
        build,
        policy=policy,
        extra_properties={PREDECESSORS_KEY: ",".join(sorted(olds))},
    )
