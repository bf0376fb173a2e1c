"""Parquet → chunks, row group by row group (``ParquetFile.iter_batches``), never the whole file.

Contract:
* Columns are matched to top-level dataset fields by exact name; other columns are not read (named
  and counted from the footer for the dataset's ``extraColumns`` policy).
  A missing column is null in every row (so a required one fails each row with
  ``BG-ROW-REQUIRED``). A column of another type is converted cell by cell (int32 → int64, string
  → integer, ns → µs timestamps, naive timestamps read as UTC...); cells that do not convert are
  ``BG-ROW-TYPE``. Struct children and list items are matched the same way, recursively.
* Row numbers are 0-based row indexes in the whole file (row-group offsets included).
* A file that is not Parquet, or whose footer or pages cannot be decoded, is
  ``BG-FILE-UNREADABLE``; rows decoded before a broken page keep their outcome.
"""

from __future__ import annotations

from collections.abc import Iterator

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from batchgate.core.models import DatasetSchema
from batchgate.validation import codes
from batchgate.validation.chunk import Chunk
from batchgate.validation.codes import FileError
from batchgate.validation.convert import arange
from batchgate.validation.extra_columns import ExtraColumns

_ERRORS = (pa.ArrowException, OSError, ValueError, EOFError)


def open_parquet(fs: pafs.FileSystem, path: str) -> tuple[pq.ParquetFile, pa.NativeFile]:
    f = fs.open_input_file(path)
    try:
        return pq.ParquetFile(f, pre_buffer=True), f
    except _ERRORS as exc:
        f.close()
        raise FileError(codes.FILE_UNREADABLE, f"not a readable Parquet file: {exc}") from exc


def read_parquet(
    pf: pq.ParquetFile, schema: DatasetSchema, *, block_size: int, row_groups: list[int] | None = None
) -> Iterator[Chunk]:
    meta = pf.metadata
    offsets = [0]
    for i in range(meta.num_row_groups):
        offsets.append(offsets[-1] + meta.row_group(i).num_rows)
    present = set(pf.schema_arrow.names)
    columns = [f.name for f in schema.fields if f.name in present]
    groups = list(range(meta.num_row_groups)) if row_groups is None else row_groups
    # Columns the schema lacks are not read: named and counted from the footer (struct children
    # the schema lacks are read with their parent, and the runner finds those).
    extras = ExtraColumns()
    extras.scan_schema(
        pa.schema([f for f in pf.schema_arrow if f.name not in set(columns)]),
        pa.schema([]),
        _value_counts(pf, groups),
    )
    for rg in groups:
        if rg < 0 or rg >= meta.num_row_groups:
            raise ValueError(f"row group {rg} does not exist (the file has {meta.num_row_groups})")
        group = meta.row_group(rg)
        if group.num_rows == 0:
            continue
        row_bytes = max(1, group.total_byte_size // group.num_rows)
        batch_rows = max(1024, min(1 << 20, block_size // row_bytes))
        start = offsets[rg]
        try:
            for batch in pf.iter_batches(
                batch_size=batch_rows, row_groups=[rg], columns=columns, use_threads=True
            ):
                table = pa.Table.from_batches([batch]) if columns else pa.table({})
                n = batch.num_rows
                yield Chunk(table, arange(start, n), [], extras=extras or None)
                extras = ExtraColumns()  # counted once, on the first chunk
                start += n
        except _ERRORS as exc:
            raise FileError(codes.FILE_UNREADABLE, f"row group {rg} cannot be decoded: {exc}") from exc


def _value_counts(pf: pq.ParquetFile, groups: list[int]) -> dict[str, int]:
    """Rows giving each top-level column a value in ``groups``, from the footer's statistics (a
    nested column, or one without statistics, counts every row)."""
    meta = pf.metadata
    leaf_of = {meta.schema.column(i).path: i for i in range(meta.num_columns)}
    counts: dict[str, int] = {}
    for name in pf.schema_arrow.names:
        total = 0
        for rg in groups:
            group = meta.row_group(rg)
            nulls = 0
            if name in leaf_of:
                stats = group.column(leaf_of[name]).statistics
                nulls = stats.null_count if stats is not None and stats.has_null_count else 0
            total += group.num_rows - nulls
        counts[name] = total
    return counts
