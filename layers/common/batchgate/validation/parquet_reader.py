"""Parquet → chunks, row group by row group (``ParquetFile.iter_batches``), never the whole file.

Contract:
* Columns are matched to top-level dataset fields by exact name; other columns are not read (named
  and counted from the footer for the dataset's ``extraColumns`` policy).
  A missing column is null in every row (so a required one fails each row with
  ``BG-ROW-REQUIRED``). A column of another type is converted cell by cell (int32 → int64, string
  → integer, ns → µs timestamps, naive timestamps read as UTC...); cells that do not convert are
  ``BG-ROW-TYPE``. Struct children and list items are matched the same way, recursively.
* A string column the file stores as a small dictionary in every row group (enums, countries) is
  read as an Arrow dictionary (:func:`dictionary_read_columns`): the runner checks its values as
  strings and stages the dictionary, which the Parquet encoder writes without hashing each row.
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
from batchgate.core.schema import arrow_type
from batchgate.validation import codes
from batchgate.validation.chunk import Chunk
from batchgate.validation.codes import FileError
from batchgate.validation.convert import arange
from batchgate.validation.extra_columns import ExtraColumns

_ERRORS = (pa.ArrowException, OSError, ValueError, EOFError)


def open_parquet(
    fs: pafs.FileSystem, path: str, schema: DatasetSchema | None = None
) -> tuple[pq.ParquetFile, pa.NativeFile]:
    """The file, its footer read; with ``schema``, the dataset's string columns the file
    dictionary-encodes throughout are read as dictionaries (:func:`dictionary_read_columns`)."""
    f = fs.open_input_file(path)
    try:
        pf = pq.ParquetFile(f, pre_buffer=True)
        dictionaries = dictionary_read_columns(pf, schema) if schema is not None else []
        if dictionaries:
            # read_dictionary is a constructor option; the footer already read is reused.
            pf = pq.ParquetFile(f, pre_buffer=True, metadata=pf.metadata, read_dictionary=dictionaries)
        return pf, f
    except _ERRORS as exc:
        f.close()
        raise FileError(codes.FILE_UNREADABLE, f"not a readable Parquet file: {exc}") from exc


# A dictionary page at most this large (compressed). A writer that gave up on the dictionary
# (pyarrow does past 1 MiB, then writes the rest plain) leaves a large one, and reading such a
# column as a dictionary would hash every plain value: slower, though the values are the same.
# It must also be at most half of its column chunk: a column of mostly distinct values (ids)
# has a dictionary about as large as the column, and is cheaper read and staged as strings.
_SMALL_DICTIONARY = 32 << 10


def dictionary_read_columns(pf: pq.ParquetFile, schema: DatasetSchema) -> list[str]:
    """Top-level string columns of the dataset that the file stores as a small dictionary in
    every row group. Decoding them to strings costs a copy of every value, and encoding the
    staged strings hashes every value again; kept as dictionaries, both are per distinct value
    (on the profile peers file: 0.12 of ~1.2 CPU-seconds)."""
    meta = pf.metadata
    if meta.num_row_groups == 0:
        return []
    strings = {f.name for f in schema.fields if arrow_type(f) == pa.string()}
    leaf_of = {meta.schema.column(i).path: i for i in range(meta.num_columns)}
    out: list[str] = []
    for field in pf.schema_arrow:
        if field.name not in strings or field.name not in leaf_of or not pa.types.is_string(field.type):
            continue
        i = leaf_of[field.name]
        small = True
        for rg in range(meta.num_row_groups):
            chunk = meta.row_group(rg).column(i)
            if not chunk.has_dictionary_page or chunk.dictionary_page_offset is None:
                small = False
                break
            page = chunk.data_page_offset - chunk.dictionary_page_offset
            if not 0 < page <= min(_SMALL_DICTIONARY, chunk.total_compressed_size // 2):
                small = False
                break
        if small:
            out.append(field.name)
    return out


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
