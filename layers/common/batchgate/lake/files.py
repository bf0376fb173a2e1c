"""Data files: registering staged Parquet as it is, reading it, and writing new files.

Registering (``stage_files``) reads only each file's footer (a HEAD and a ranged GET or two on
S3) and turns it into an Iceberg ``DataFile``; no byte of data is copied. A staged file can be
registered when pyiceberg finds its Arrow schema compatible with the table's (names resolved
through the name mapping, same or promotable types such as int32 → long, missing optional
columns allowed, no optional column where the table requires one) and its ``_batch_id``
statistics prove a single value equal to the batch being promoted. Anything else is rewritten
(read, aligned to the table schema, written as new data files) and its bytes are counted.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from pyiceberg.io import FileIO
from pyiceberg.io.pyarrow import (
    ArrowScan,
    _check_pyarrow_schema_compatible,
    _dataframe_to_data_files,
    compute_statistics_plan,
    data_file_statistics_from_parquet_metadata,
    parquet_path_to_id_mapping,
    schema_to_pyarrow,
)
from pyiceberg.manifest import DataFile, DataFileContent, FileFormat
from pyiceberg.table import FileScanTask, Table
from pyiceberg.table.metadata import TableMetadata
from pyiceberg.utils.concurrent import ExecutorFactory

from batchgate.core.errors import InvalidRequest
from batchgate.lake.tables import BATCH_COLUMN


class StagedFileError(InvalidRequest):
    """A staged file that cannot belong to this batch's commit (a Terminal error)."""

    code = "BG-400-STAGED-FILE"


@dataclass
class Staged:
    """Staged files sorted into those registered as they are and those that had to be rewritten."""

    registered: list[DataFile] = field(default_factory=list)
    rewritten: list[DataFile] = field(default_factory=list)

    @property
    def data_files(self) -> list[DataFile]:
        return self.registered + self.rewritten

    @property
    def rows(self) -> int:
        return sum(f.record_count for f in self.data_files)

    @property
    def bytes_rewritten(self) -> int:
        return sum(f.file_size_in_bytes for f in self.rewritten)

    @property
    def written_paths(self) -> list[str]:
        return [f.file_path for f in self.rewritten]


def table_arrow_schema(metadata: TableMetadata) -> pa.Schema:
    """The Arrow schema of the table's current Iceberg schema, without field-id metadata."""
    return schema_to_pyarrow(metadata.schema(), include_field_ids=False)


def _file_batch(data_file: DataFile, metadata: TableMetadata) -> str | None:
    """The one ``_batch_id`` a file holds, from its partition value (spec ``identity(_batch_id)``)
    or else from untruncated column bounds; ``None`` when metadata cannot prove a single value."""
    partition = data_file.partition
    if partition is not None and len(partition) > 0 and partition[0] is not None:
        return str(partition[0])
    field_id = metadata.schema().find_field(BATCH_COLUMN).field_id
    lower = (data_file.lower_bounds or {}).get(field_id)
    upper = (data_file.upper_bounds or {}).get(field_id)
    if lower is not None and lower == upper:
        return bytes(lower).decode()
    return None


def data_file_from_footer(io: FileIO, metadata: TableMetadata, path: str) -> DataFile:
    """pyiceberg's ``parquet_file_to_data_file``, minus one request: the size comes from the open
    file (whose open already did a HEAD) instead of a second HEAD. On S3 that is two requests per
    staged file instead of three, which is what a batch of many small files costs."""
    input_file = io.new_input(path)
    with input_file.open() as stream:
        # PyArrowFileIO hands back an Arrow RandomAccessFile, which knows its size; other
        # FileIO implementations may not, and pay the extra request.
        known = getattr(stream, "size", None)
        size = int(known()) if callable(known) else len(input_file)
        parquet_metadata = pq.read_metadata(stream)
    schema = metadata.schema()
    _check_pyarrow_schema_compatible(
        schema, parquet_metadata.schema.to_arrow_schema(), format_version=metadata.format_version
    )
    statistics = data_file_statistics_from_parquet_metadata(
        parquet_metadata=parquet_metadata,
        stats_columns=compute_statistics_plan(schema, metadata.properties),
        parquet_column_mapping=parquet_path_to_id_mapping(schema),
    )
    return DataFile.from_args(
        content=DataFileContent.DATA,
        file_path=path,
        file_format=FileFormat.PARQUET,
        partition=statistics.partition(metadata.spec(), schema),
        file_size_in_bytes=size,
        sort_order_id=None,
        spec_id=metadata.default_spec_id,
        equality_ids=None,
        key_metadata=None,
        **statistics.to_serialized_dict(),
    )


def _try_register(io: FileIO, metadata: TableMetadata, path: str, batch_id: str) -> DataFile | None:
    try:
        data_file = data_file_from_footer(io, metadata, path)
    except FileNotFoundError as exc:
        raise StagedFileError(f"staged file {path} does not exist") from exc
    except (ValueError, TypeError, KeyError):
        # Incompatible schema, or statistics that do not prove a single _batch_id: rewrite it.
        return None
    if data_file.record_count == 0:
        return data_file
    owner = _file_batch(data_file, metadata)
    if owner is None:
        return None  # the rewrite path reads the values and checks them
    if owner != batch_id:
        raise StagedFileError(f"staged file {path} holds rows of batch {owner!r}, not {batch_id!r}")
    return data_file


def read_parquet(io: FileIO, path: str, columns: list[str] | None = None) -> pa.Table:
    """Read a whole Parquet file through the table's FileIO (one seekable S3 handle)."""
    with io.new_input(path).open() as stream:
        return pq.read_table(stream, columns=columns)


def align(df: pa.Table, schema: pa.Schema, *, where: str) -> pa.Table:
    """``df`` with exactly ``schema``'s columns and types: columns it lacks become null (if the
    schema allows), extra columns are dropped, types are cast safely. Raises ``StagedFileError``
    naming ``where`` when a required column is missing or holds nulls, or a cast fails."""
    arrays = []
    for target in schema:
        if target.name in df.column_names:
            column = df.column(target.name)
            if not column.type.equals(target.type):
                try:
                    column = column.cast(target.type, safe=True)
                except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
                    raise StagedFileError(
                        f"{where}: column {target.name} cannot be read as {target.type}: {exc}"
                    ) from exc
        else:
            column = pa.nulls(len(df), type=target.type)
        if not target.nullable and column.null_count:
            raise StagedFileError(f"{where}: required column {target.name} holds {column.null_count} nulls")
        arrays.append(column)
    return pa.Table.from_arrays(arrays, schema=schema)


def write_data_files(table: Table, metadata: TableMetadata, df: pa.Table) -> list[DataFile]:
    """Write ``df`` (already aligned to the table schema) as new data files of the table, split by
    partition (so each file holds one batch). Returns the files; nothing is committed."""
    if df.num_rows == 0:
        return []
    return list(
        _dataframe_to_data_files(
            table_metadata=metadata, df=df, io=table.io, write_uuid=uuid.uuid4(), counter=itertools.count(0)
        )
    )


def stage_files(table: Table, metadata: TableMetadata, batch_id: str, paths: list[str]) -> Staged:
    """Turn a batch's staged Parquet files into data files for one commit.

    Footers are read in parallel (pyiceberg's shared executor). Incompatible files are rewritten;
    a file holding another batch's rows is a ``StagedFileError``. Duplicate paths are refused.
    """
    if len(paths) != len(set(paths)):
        raise StagedFileError("staged paths must be unique")
    io = table.io
    executor = ExecutorFactory.get_or_create()
    attempts = list(executor.map(lambda p: _try_register(io, metadata, p, batch_id), paths))
    staged = Staged()
    schema = table_arrow_schema(metadata)
    for path, data_file in zip(paths, attempts, strict=True):
        if data_file is not None:
            staged.registered.append(data_file)
            continue
        df = align(read_parquet(io, path), schema, where=path)
        other = pc.unique(df.column(BATCH_COLUMN)).to_pylist()
        if any(value != batch_id for value in other):
            raise StagedFileError(f"staged file {path} holds rows of batches {other}, not only {batch_id!r}")
        staged.rewritten.extend(write_data_files(table, metadata, df))
    return staged


def scan_tasks(
    table: Table, metadata: TableMetadata, row_filter: object, snapshot_id: int | None = None
) -> list[FileScanTask]:
    """Files of a snapshot (default: the one ``metadata`` names current) that may hold matching rows."""
    from pyiceberg.table import DataScan

    scan = DataScan(table_metadata=metadata, io=table.io, row_filter=row_filter, snapshot_id=snapshot_id)  # type: ignore[arg-type]
    return list(scan.plan_files())


def read_tasks(
    table: Table, metadata: TableMetadata, tasks: Iterable[FileScanTask], columns: list[str] | None = None
) -> pa.Table:
    """All rows of the given files (no row filter applied), projected to the current schema or to
    ``columns`` of it; typed exactly as ``table_arrow_schema`` says."""
    from pyiceberg.expressions import AlwaysTrue

    schema = metadata.schema() if columns is None else metadata.schema().select(*columns)
    target = schema_to_pyarrow(schema, include_field_ids=False)
    task_list = list(tasks)
    if not task_list:
        return target.empty_table()
    scan = ArrowScan(table_metadata=metadata, io=table.io, projected_schema=schema, row_filter=AlwaysTrue())
    return scan.to_table(tasks=task_list).cast(target)
