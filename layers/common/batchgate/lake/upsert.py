"""Upsert a batch with AEP patch semantics, as ONE OVERWRITE snapshot.

For every staged row, matched to the table by the dataset's identity columns:

- identity found → the row is updated: columns the batch's files carried (``present_columns``)
  take the file's value — an explicit null sets null — and columns they did not carry keep the
  current value. ``_batch_id``/``_source_file``/``_source_row`` become this batch's.
- identity not found (or null) → the row is inserted (absent columns null).
- several rows of the batch with one identity → the last one (file order, then row order) wins.

Why not ``pyiceberg``'s ``Table.upsert``: it replaces whole rows (no patch semantics), commits an
overwrite and an append (two snapshots), and writes updated rows into whatever files it produces.
Here the old versions are removed from their files (each file still holds one batch: the file is
rewritten without them, keeping its batch id), the new versions go into files of this batch's
partition, and all of it is one snapshot — so the upsert batch's rows are exactly the files of its
partition, and revert can find them and restore what they replaced (see ``lake.revert``).

Cost: identity values are not clustered, so pruning by the ``In`` filter rarely skips files; the
identity columns of every candidate file are read, and whole files only where a row matches. When
nothing matches (a first load) and the batch has no duplicate identities, the staged files are
registered in place exactly like ``promote`` (zero bytes written).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc
from pyiceberg.catalog import Catalog
from pyiceberg.table import Table, Transaction
from pyiceberg.table.metadata import TableMetadata

from batchgate.core.errors import InvalidRequest
from batchgate.core.models import Dataset
from batchgate.lake import identity as ident
from batchgate.lake.commit import (
    BYTES_REWRITTEN_KEY,
    DEFAULT_POLICY,
    ROWS_DELETED_KEY,
    UPSERT,
    CommitPolicy,
    CommitResult,
    Plan,
    run_commit,
)
from batchgate.lake.files import (
    align,
    read_parquet,
    read_tasks,
    scan_tasks,
    stage_files,
    table_arrow_schema,
    write_data_files,
)
from batchgate.lake.promote import _ensure_name_mapping, _has_rows_of, append_staged
from batchgate.lake.removal import Removal
from batchgate.lake.tables import BATCH_COLUMN, LINEAGE_COLUMNS, identifier_of

ROWS_UPDATED_KEY = "batchgate.rows-updated"
ROWS_INSERTED_KEY = "batchgate.rows-inserted"
ROWS_REFUSED_KEY = "batchgate.rows-refused"


FILE_INDEX = "__bg_file"
# Columns of the refused rows handed to ``on_refused``: the first required column that broke the
# rule, and whether the row was a new identity (an insert) or an update.
REFUSED_FIELD = "__bg_refused_field"
REFUSED_INSERT = "__bg_refused_insert"
OnRefused = Callable[[pa.Table], None]


def merge(
    current: pa.Table, incoming: pa.Table, identity: list[str], present_by_file: list[set[str]]
) -> tuple[pa.Table, int]:
    """Rows to write for this batch: updated rows (patched) then inserted rows; and the number of
    updated rows.

    ``current`` holds the table's versions of the matched identities, aligned to the table
    schema; ``incoming`` is the batch's rows with the same columns plus ``FILE_INDEX``, the
    position of each row's staged file in ``present_by_file`` (the columns that file carried).
    For an updated row each column comes from the batch where its file carried the column, else
    from the current row. ``FILE_INDEX`` is not in the result.
    """
    cur_idx, inc_idx = ident.match(current, incoming, identity)
    if len(inc_idx):
        # If the table held one identity twice, pair each incoming row with one current row.
        pairs = (
            pa.table({"c": cur_idx, "i": inc_idx}).group_by("i", use_threads=False).aggregate([("c", "min")])
        )
        inc_idx, cur_idx = pairs.column("i").combine_chunks(), pairs.column("c_min").combine_chunks()
    always = set(identity) | set(LINEAGE_COLUMNS)
    updated_cur = current.take(cur_idx)
    updated_inc = incoming.take(inc_idx)
    files = updated_inc.column(FILE_INDEX)
    columns = []
    for f in current.schema:
        carried = [i for i, cols in enumerate(present_by_file) if f.name in always or f.name in cols]
        if len(carried) == len(present_by_file):
            columns.append(updated_inc.column(f.name))
        elif not carried:
            columns.append(updated_cur.column(f.name))
        else:
            mask = pc.is_in(files, value_set=pa.array(carried, type=pa.int32()))
            columns.append(pc.if_else(mask, updated_inc.column(f.name), updated_cur.column(f.name)))
    updated = pa.Table.from_arrays(columns, schema=current.schema)
    inserted = incoming.filter(ident.not_in(incoming.num_rows, inc_idx)).drop_columns([FILE_INDEX])
    return pa.concat_tables([updated, inserted]), updated.num_rows


def upsert(
    catalog: Catalog,
    dataset: Dataset,
    batch_id: str,
    staged_paths: list[str],
    identity: list[str],
    present_columns: list[str] | Mapping[str, list[str] | None] | None = None,
    *,
    policy: CommitPolicy = DEFAULT_POLICY,
    required_at_commit: frozenset[str] = frozenset(),
    on_refused: OnRefused | None = None,
) -> CommitResult:
    """Upsert the staged rows into the table in one commit; see the module docstring.

    ``present_columns`` lists the dataset columns the batch's files carried: one list for all
    files, or a mapping from staged path to its file's list (a path missing from the mapping, or
    mapped to ``None``, carried every column); ``None`` means every file carried every column.
    Prefer the mapping when files differ (CSV files with different headers): with one list, a
    column carried by only some files would set null in rows of the others.
    ``rows_added`` counts rows written for this batch (updated + inserted), ``rows_deleted`` the
    old versions removed; ``bytes_rewritten`` the bytes of every data file this commit wrote.
    Within the batch, a later row for an identity replaces an earlier one entirely.
    Idempotent: a re-run finds the upsert snapshot and returns it (``noop``).

    ``required_at_commit``: required columns checked on the row as it will be stored (see
    :mod:`batchgate.core.upsert_rules`): a new identity lacking one, or an update through a file
    that carries one and gives null, is refused — left out of the commit, the stored row (if any)
    untouched. Every attempt that gets as far as deciding hands ``on_refused`` the refused rows
    (lineage, values, :data:`REFUSED_FIELD`, :data:`REFUSED_INSERT`; possibly none) before it
    commits; the callback may raise to stop the commit. The count is in the snapshot summary.
    """
    if not identity:
        raise InvalidRequest(f"upsert into dataset {dataset.id} needs identity columns")
    columns = {f.name for f in dataset.schema_.fields}
    if isinstance(present_columns, Mapping):
        present_by_file = [set(present_columns.get(p) or columns) for p in staged_paths]
    else:
        present_by_file = [
            set(present_columns) if present_columns is not None else columns for _ in staged_paths
        ]
    unknown = sorted(
        {c for c in [*identity, *(c for cols in present_by_file for c in cols)] if c not in columns}
    )
    if unknown:
        raise InvalidRequest(f"columns {unknown} are not in dataset {dataset.id}")
    cache: dict[int, pa.Table] = {}

    def incoming_rows(table: Table) -> pa.Table:
        schema_id = table.metadata.current_schema_id
        if schema_id not in cache:
            schema = table_arrow_schema(table.metadata)
            parts = []
            for i, path in enumerate(staged_paths):
                part = align(read_parquet(table.io, path), schema, where=path)
                parts.append(
                    part.append_column(FILE_INDEX, pa.repeat(pa.scalar(i, pa.int32()), part.num_rows))
                )
            empty = schema.empty_table().append_column(FILE_INDEX, pa.array([], type=pa.int32()))
            rows = pa.concat_tables(parts) if parts else empty
            others = set(pc.unique(rows.column(BATCH_COLUMN)).to_pylist()) - {batch_id}
            if others:
                raise InvalidRequest(
                    f"staged files of batch {batch_id} hold rows of batches {sorted(others)}"
                )
            cache.clear()
            cache[schema_id] = rows
        return cache[schema_id]

    def build(table: Table, tx: Transaction, properties: dict[str, str]) -> Plan:
        metadata = table.metadata
        if _has_rows_of(table, batch_id):
            return Plan(empty=True)
        staged = incoming_rows(table)
        incoming = ident.last_per_key(staged, identity)
        refused_count = 0
        if required_at_commit:
            refused = refused_mask(table, metadata, incoming, identity, present_by_file, required_at_commit)
            refused_rows = incoming.filter(refused.mask)
            refused_rows = refused_rows.append_column(REFUSED_FIELD, refused.field.filter(refused.mask))
            refused_rows = refused_rows.append_column(REFUSED_INSERT, refused.insert.filter(refused.mask))
            if on_refused is not None:
                on_refused(refused_rows)
            refused_count = refused_rows.num_rows
            if refused_count:
                incoming = incoming.filter(pc.invert(refused.mask))
        properties[ROWS_REFUSED_KEY] = str(refused_count)
        keys = ident.non_null_keys(incoming, identity)
        removal = Removal(batch_ids=frozenset())
        matched: list[pa.Table] = []
        if keys.num_rows and metadata.current_snapshot() is not None:
            for task in scan_tasks(table, metadata, ident.key_filter(keys, identity)):
                file_keys = read_tasks(table, metadata, [task], columns=identity)
                hits, _ = ident.match(file_keys, keys, identity)
                if not len(hits):
                    continue
                rows = read_tasks(table, metadata, [task])
                matched.append(rows.take(hits))
                removal.dropped.append(task.file)
                removal.rows += len(hits)
                removal.replacements.extend(
                    write_data_files(table, metadata, rows.filter(ident.not_in(rows.num_rows, hits)))
                )
        _ensure_name_mapping(table, tx)
        if not removal.dropped and incoming.num_rows == staged.num_rows:
            # Nothing to update and nothing to deduplicate: register the staged files as they are.
            as_is = stage_files(table, metadata, batch_id, list(staged_paths))
            properties.update(
                {
                    BYTES_REWRITTEN_KEY: str(as_is.bytes_rewritten),
                    ROWS_UPDATED_KEY: "0",
                    ROWS_INSERTED_KEY: str(as_is.rows),
                    ROWS_DELETED_KEY: "0",
                }
            )
            return append_staged(table, tx, properties, as_is)
        current = pa.concat_tables(matched) if matched else table_arrow_schema(metadata).empty_table()
        out, updated = merge(current, incoming, identity, present_by_file)
        new_files = write_data_files(table, metadata, out)
        written = removal.bytes_rewritten + sum(f.file_size_in_bytes for f in new_files)
        properties.update(
            {
                BYTES_REWRITTEN_KEY: str(written),
                ROWS_UPDATED_KEY: str(updated),
                ROWS_INSERTED_KEY: str(out.num_rows - updated),
                ROWS_DELETED_KEY: str(removal.rows),
            }
        )
        removal.stage(tx, properties, new_files)
        return Plan(
            rows_added=out.num_rows,
            files_added=len(new_files),
            bytes_rewritten=written,
            rows_deleted=removal.rows,
            files_deleted=len(removal.dropped),
            written=removal.written_paths + [f.file_path for f in new_files],
        )

    return run_commit(catalog, identifier_of(dataset), UPSERT, batch_id, build, policy=policy)


@dataclass
class Refused:
    """Per incoming row: refused or not, the first required column that broke the rule (else
    null), and whether the row was a new identity."""

    mask: pa.Array
    field: pa.Array
    insert: pa.Array


def refused_mask(
    table: Table,
    metadata: TableMetadata,
    incoming: pa.Table,
    identity: list[str],
    present_by_file: list[set[str]],
    required: frozenset[str],
) -> Refused:
    """Which incoming rows break ``required`` on the row as it would be stored: a null in a
    required column of a new identity, or of an update whose file carried that column (where it
    did not, the stored value stays, and stored rows already satisfy the rule)."""
    n = incoming.num_rows
    columns = [c for c in incoming.column_names if c in required]  # schema order
    nulls = {c: incoming.column(c).is_null() for c in columns}
    no_field = pa.nulls(n, pa.string())
    if not any(pc.any(m).as_py() for m in nulls.values()):
        falses = pa.repeat(pa.scalar(False), n)
        return Refused(falses, no_field, falses)
    insert = pc.invert(matched_identities(table, metadata, incoming, identity))
    files = incoming.column(FILE_INDEX)
    mask = pa.repeat(pa.scalar(False), n)
    field_ = no_field
    for c in columns:
        carried = pa.array([i for i, cols in enumerate(present_by_file) if c in cols], pa.int32())
        broken = pc.and_(nulls[c], pc.or_(insert, pc.is_in(files, value_set=carried)))
        first = pc.and_(broken, pc.invert(mask))
        field_ = pc.if_else(first, pa.scalar(c), field_)
        mask = pc.or_(mask, broken)
    return Refused(pc.fill_null(mask, False), field_, insert)


def matched_identities(
    table: Table, metadata: TableMetadata, incoming: pa.Table, identity: list[str]
) -> pa.Array:
    """True where an incoming row's identity is in the table now (reads identity columns only)."""
    n = incoming.num_rows
    keys = ident.non_null_keys(incoming, identity)
    if not keys.num_rows or metadata.current_snapshot() is None:
        return pa.repeat(pa.scalar(False), n)
    hits = [pa.array([], pa.int64())]
    for task in scan_tasks(table, metadata, ident.key_filter(keys, identity)):
        file_keys = read_tasks(table, metadata, [task], columns=identity)
        hits.append(ident.match(file_keys, incoming, identity)[1])
    return pc.invert(ident.not_in(n, pa.concat_arrays(hits)))
