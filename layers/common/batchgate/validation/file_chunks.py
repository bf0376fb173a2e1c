"""A file as chunks: the reader for its format, over the whole file, a byte range or some row
groups (:func:`file_chunks`), and what a part that starts mid-file needs from the file's start
(:func:`count_newlines`, :func:`read_header`). Also the pass that reads a file once to find an
``evolve`` dataset's extra columns before it is validated (:func:`discover_extras`).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.fs as pafs

from batchgate.core.models import Dataset, InputFormat, SchemaField
from batchgate.core.schema import arrow_schema
from batchgate.validation import codes
from batchgate.validation.chunk import Chunk, Unit
from batchgate.validation.codes import FileError
from batchgate.validation.csv_reader import read_csv
from batchgate.validation.extra_columns import ExtraColumns
from batchgate.validation.json_document_reader import read_multi_line_json
from batchgate.validation.jsonl_reader import read_json_lines
from batchgate.validation.parquet_reader import open_parquet, read_parquet
from batchgate.validation.source import UTF8_BOM, first_record_end, is_utf8, open_bytes, read_ahead

# Data errors a reader may raise from deep inside Arrow or the codecs: the file as a whole is
# unreadable. Everything else (bugs, I/O of the environment) propagates.
DATA_ERRORS = (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError, UnicodeError, EOFError)
# Bytes read first for a CSV header (see read_header).
HEADER_PROBE = 64 << 10


@dataclass(frozen=True)
class FileSource:
    """Which bytes of which file to read, and how: the whole file, a byte range (a part of a CSV
    or JSON Lines file, ``first_line`` numbering its first line when known) or some row groups
    (a part of a Parquet file)."""

    fs: pafs.FileSystem
    path: str
    fmt: InputFormat
    compression: str | None
    byte_range: tuple[int, int] | None
    row_groups: list[int] | None
    block_size: int
    first_line: int | None


def file_chunks(source: FileSource, dataset: Dataset, closers: list[Any]) -> Iterator[Unit]:
    fs, path, fmt, compression = source.fs, source.path, source.fmt, source.compression
    byte_range, block_size, first_line = source.byte_range, source.block_size, source.first_line
    schema = dataset.schema_
    if fmt.format == "parquet":
        if compression not in (None, "none"):
            raise FileError(
                codes.FILE_COMPRESSION, "Parquet is compressed inside; an outer compression is not supported"
            )
        pf, f = open_parquet(fs, path, schema)
        closers.append(f)
        yield from read_parquet(pf, schema, block_size=block_size, row_groups=source.row_groups)
        return
    header: bytes | None = None
    if byte_range is not None and byte_range[0] > 0:
        if fmt.format == "json" and fmt.is_multi_line_json:
            raise ValueError("a multi-line JSON document cannot be split into byte ranges")
        if first_line is None:
            first_line = 1 + count_newlines(fs, path, byte_range[0])
        if fmt.format == "csv" and fmt.header:
            header = read_header(fs, path, fmt, block_size)
    src, opened = open_bytes(fs, path, compression=compression, charset=fmt.charset, byte_range=byte_range)
    closers.extend(opened)
    line = first_line or 1
    if fmt.format == "csv":
        yield from read_csv(src, fmt, schema, block_size=block_size, first_line=line, header=header)
    elif fmt.is_multi_line_json:
        yield from read_multi_line_json(src, schema, block_size=block_size)
    else:
        yield from read_json_lines(src, schema, block_size=block_size, first_line=line)


def discover_extras(source: FileSource, dataset: Dataset) -> ExtraColumns:
    """The extra columns of a file and their types, before it is validated (``evolve``): a
    Parquet file's from its footer; JSON and CSV by reading it once (a CSV's extra columns as
    text, typed by what every cell converts to). File errors are left to the validating pass."""
    target = arrow_schema(dataset.schema_, lineage=False)
    found = ExtraColumns()
    if source.fmt.format == "parquet":
        try:
            pf, f = open_parquet(source.fs, source.path)
        except FileError:
            return found  # the validating pass reports it
        with f:
            found.scan_schema(pf.schema_arrow, target, {})
        return found
    closers: list[Any] = []

    def read(ds: Dataset) -> Iterator[Chunk]:
        return as_chunks(file_chunks(source, ds, closers))

    try:
        if source.fmt.format == "csv":
            header: list[str] = []
            for chunk in read(dataset):
                header = sorted(chunk.extras.rows) if chunk.extras else []
                break
            if not header:
                return found
            as_text = [SchemaField(name=name, type="string") for name in header if "." not in name]
            wide = dataset.model_copy(
                update={
                    "schema_": dataset.schema_.model_copy(
                        update={"fields": [*dataset.schema_.fields, *as_text]}
                    )
                }
            )
            for chunk in read(wide):
                if len(chunk.rows):
                    found.scan_text(chunk.table, [f.name for f in as_text])
            return found
        for chunk in read(dataset):
            if len(chunk.rows):
                found.scan_table(chunk.table, target)
            if chunk.extras is not None:
                found.merge(chunk.extras)
        return found
    except (FileError, *DATA_ERRORS):
        return found  # the validating pass reports what is wrong with the file
    finally:
        for c in closers:
            c.close()


def as_chunks(units: Iterator[Unit]) -> Iterator[Chunk]:
    """Every chunk of ``units``, parsing the blocks a reader left to the workers, here."""
    for unit in units:
        if isinstance(unit, Chunk):
            yield unit
        else:
            yield from unit()


def count_newlines(fs: pafs.FileSystem, path: str, end: int) -> int:
    """Newlines in the first ``end`` bytes (raw bytes: callers split ASCII-compatible charsets)."""
    return sum(data.count(b"\n") for data in read_ahead(fs, path, end))


def read_header(fs: pafs.FileSystem, path: str, fmt: InputFormat, block_size: int) -> bytes:
    """The header record of a CSV file (for parts that start after it). The first
    :data:`HEADER_PROBE` bytes hold almost every header; a longer one is read up to
    ``block_size``, as the whole first block always was (each part of a 1 GiB file on S3 read
    8 MiB for a header of a few hundred bytes)."""
    quote = fmt.quote.encode()
    escape = fmt.escape.encode() if fmt.escape else None
    with fs.open_input_file(path) as f:
        raw = f.read(min(HEADER_PROBE, block_size))
        while True:
            data = raw if is_utf8(fmt.charset) else raw.decode(fmt.charset, errors="replace").encode()
            if data.startswith(UTF8_BOM):
                data = data[len(UTF8_BOM) :]
            end = first_record_end(data, quote, escape)
            rest = b"" if end >= 0 or len(raw) >= block_size else f.read(block_size - len(raw))
            if not rest:  # a whole header, the end of the file, or a whole block
                return (data if end < 0 else data[:end]).rstrip(b"\r\n")
            raw += rest
