"""The two outputs of validating a file: staged Parquet (valid rows) and failed records (JSONL).

* Names come from ``(file_name, part)``: ``{stem}-{hash8}-p{part:05d}.parquet`` /
  ``...failed.jsonl`` where ``stem`` is the file name made key-safe and ``hash8`` tells apart
  names that sanitise alike; a retry overwrites instead of adding a second copy (but see staged
  Parquet on S3 below).
* Both are written as ``{dir}/{final name}.{uuid}.tmp`` and moved to their final name only when
  complete, so a crash never leaves a half-written file under a final name (``*.parquet`` /
  ``*.failed.jsonl``); a leftover ``*.tmp`` is never listed in a result and goes with the batch's
  prefix. (On S3 a move is copy + delete, and pyarrow then PUTs an empty ``{dir}/`` "directory"
  marker: listings must skip keys ending in ``/``.)
* Except staged Parquet on S3, written once, in place, as ``{stem}-{hash8}-p{part:05d}.{uuid}.parquet``:
  an S3 upload is invisible until it completes, so the move (a copy of every staged byte, and a
  delete) buys nothing there. The attempt's ``uuid`` keeps the name its own: pyarrow completes an
  upload when its stream is closed, even after an error, so a failed attempt publishes what it
  wrote and then deletes it, and a second, concurrent attempt on the same file (a duplicate event)
  must not be the one it deletes or overwrites. The lake reads exactly the keys a result
  records; an attempt that crashed leaves an unlisted object under the batch's prefix, as a
  ``*.tmp`` did.
* Staged files use exactly ``arrow_schema(dataset.schema_)`` (lineage columns included); rows
  are buffered into row groups of up to 128 Ki rows or 16 MiB of Arrow data (whichever comes
  first: the bound keeps memory independent of row width), so small chunks do not make tiny
  row groups. Row groups are encoded on background threads (two where the process has three
  CPUs or more) and joined into one file (:mod:`.parquet_stitch`), byte for byte what one
  writer would write. Snappy,
  statistics on every column (the lake's column metrics come from them); dictionary encoding only
  for columns whose first rows repeat values (:func:`dictionary_columns`).
* A failed-records line has AEP's failed-batch shape: ``{"_corrupt_record": raw or null,
  "_values": values as read or null, "_errors": [{"code","message","field"}], "_filename",
  "_row"}``.
"""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import hashlib
import json
import re
import uuid
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from batchgate.validation.parquet_stitch import Stitcher
from batchgate.validation.pipeline import usable_cpus


def output_stem(file_name: str, part: int) -> str:
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", file_name)[-120:]
    digest = hashlib.sha1(file_name.encode()).hexdigest()[:8]
    return f"{safe}-{digest}-p{part:05d}"


def _join(directory: str, name: str) -> str:
    return f"{directory.rstrip('/')}/{name}"


class _Atomic:
    """A file written under a temporary name next to its final one, moved there by :meth:`commit`."""

    def __init__(
        self, fs: pafs.FileSystem, directory: str, name: str, *, in_place_on_s3: bool = False
    ) -> None:
        self.fs = fs
        attempt = uuid.uuid4().hex
        self.in_place = in_place_on_s3 and fs.type_name == "s3"
        if self.in_place:  # see the module's docstring: the attempt's own name, no move
            stem, dot, suffix = name.rpartition(".")
            self.final = self.tmp = _join(directory, f"{stem}.{attempt}{dot}{suffix}")
        else:
            self.final = _join(directory, name)
            self.tmp = _join(directory, f"{name}.{attempt}.tmp")
        if fs.type_name != "s3":  # S3 has no directories to create
            fs.create_dir(directory, recursive=True)
        self.stream: pa.NativeFile | None = None

    def open(self) -> pa.NativeFile:
        if self.stream is None:
            self.stream = self.fs.open_output_stream(self.tmp)
        return self.stream

    def commit(self) -> str:
        if not self.in_place:
            self.fs.move(self.tmp, self.final)
        return self.final

    def discard(self) -> None:
        try:
            if self.stream is not None and not self.stream.closed:
                self.stream.close()
            if self.fs.get_file_info(self.tmp).type != pafs.FileType.NotFound:
                self.fs.delete_file(self.tmp)
        except OSError:
            pass  # best effort: a leftover temp file is invisible to readers

    def remove_stale(self) -> None:
        if self.in_place:  # no earlier attempt wrote this attempt's name
            return
        if self.fs.get_file_info(self.final).type != pafs.FileType.NotFound:
            self.fs.delete_file(self.final)


CONSTANT_COLUMNS = ("_batch_id", "_source_file")
SOURCE_ROW = "_source_row"
_CONSTANT_TYPE = pa.dictionary(pa.int32(), pa.string())


def write_schema(schema: pa.Schema) -> pa.Schema:
    """The staged schema with its constant lineage columns as dictionaries of strings: what
    :meth:`StagedWriter.write` takes (the file says strings)."""
    for name in CONSTANT_COLUMNS:
        i = schema.get_field_index(name)
        if i >= 0:
            schema = schema.set(i, schema.field(i).with_type(_CONSTANT_TYPE))
    return schema


def constant_column(value: str, n: int) -> pa.DictionaryArray:
    """``n`` rows of ``value``, as the staged writer takes a constant lineage column. Given a
    string column of one repeated value, Parquet's dictionary encoder hashes it once per row
    (a third of the encoding of a two-column dataset); given a dictionary, it writes the
    dictionary and the indices, the same pages, about four times faster."""
    indices = pa.nulls(n, pa.int32()).fill_null(0)
    return pa.DictionaryArray.from_arrays(indices, pa.array([value], pa.string()))


def _stored_schema(schema: pa.Schema) -> bytes:
    """The footer's ``ARROW:schema`` entry as pyarrow writes it (base64 of the IPC schema):
    readers of the staged files see the staged schema, not the writer's dictionaries."""
    return base64.b64encode(schema.serialize().to_pybytes())


class StagedWriter:
    """Valid rows → one Parquet file (or none) per (file, part). Rows come in :attr:`write_schema`
    (the staged schema, constant lineage columns as :func:`constant_column`).

    Row groups are encoded on up to ``encoders`` threads at once (default
    :func:`default_encoders`), each as a Parquet file in memory, and appended in order by
    :class:`~.parquet_stitch.Stitcher`: the file is byte for byte what one ``ParquetWriter``
    would write (pyarrow encodes on the calling thread only, and the encoder was the one thread
    a part's work could not spread over: decision 64)."""

    def __init__(
        self,
        fs: pafs.FileSystem,
        staged_dir: str,
        file_name: str,
        part: int,
        schema: pa.Schema,
        *,
        row_group_rows: int = 128 * 1024,
        row_group_bytes: int = 16 << 20,
        encoders: int | None = None,
    ) -> None:
        self.schema = schema
        self.write_schema = write_schema(schema)
        self._file = _Atomic(fs, staged_dir, output_stem(file_name, part) + ".parquet", in_place_on_s3=True)
        self._pending: list[pa.Table] = []
        self._pending_rows = 0
        self._row_group_rows = row_group_rows
        self._row_group_bytes = row_group_bytes
        self._pending_bytes = 0
        self._encoders = encoders or default_encoders()
        self._pool = ThreadPoolExecutor(max_workers=self._encoders, thread_name_prefix="batchgate-staged")
        self._encoding: deque[Future[pa.Buffer]] = deque()
        self._stitcher = Stitcher()
        self._options: dict[str, Any] | None = None
        # The footer's ``ARROW:schema``: the staged schema, not the writer's dictionaries.
        self._metadata = {"ARROW:schema": _stored_schema(schema)}
        self._types: pa.Schema | None = None
        self.rows = 0

    def write(self, table: pa.Table) -> None:
        if table.num_rows == 0:
            return
        # A string column may come as a dictionary of strings (see parquet_reader): the file is
        # encoded in the types of the first rows written, and later rows are cast to them.
        if self._types is None:
            self._types = table.schema
        elif not table.schema.equals(self._types):
            table = _cast_like(table, self._types)
        self._pending.append(table)
        self._pending_rows += table.num_rows
        self._pending_bytes += table.nbytes
        self.rows += table.num_rows
        if self._pending_rows >= self._row_group_rows or self._pending_bytes >= self._row_group_bytes:
            self._flush()

    def _flush(self) -> None:
        if not self._pending:
            return
        table = pa.concat_tables(self._pending) if len(self._pending) > 1 else self._pending[0]
        self._pending, self._pending_rows, self._pending_bytes = [], 0, 0
        if self._options is None:
            self._options = self._writer_options(table)
        # Row groups encode in the background (Arrow releases the GIL) while the caller checks
        # the next chunks; at most ``encoders`` of them in flight keeps memory bounded.
        while len(self._encoding) >= self._encoders:
            self._append(self._encoding.popleft())
        self._encoding.append(self._pool.submit(_encode, table, self._options, self._metadata))

    def _writer_options(self, table: pa.Table) -> dict[str, Any]:
        """``ParquetWriter``'s settings for every row group, chosen on the file's first rows."""
        # ``_source_row`` rises through the file: delta encoding stores it in a few bits a row
        # (2M profile rows staged: 40.1 -> 32.3 MB, 5 % less encoding CPU). Decision 63 lists
        # the readers of DELTA_BINARY_PACKED.
        delta = [SOURCE_ROW] if SOURCE_ROW in table.column_names else []
        return {
            "schema": table.schema,
            "compression": "snappy",
            "use_dictionary": [c for c in dictionary_columns(table) if c not in delta],
            "column_encoding": dict.fromkeys(delta, "DELTA_BINARY_PACKED") or None,
            "store_schema": False,  # stored as metadata (self._metadata)
        }

    def _append(self, encoding: Future[pa.Buffer]) -> None:
        self._file.open().write(self._stitcher.add(encoding.result()))

    def commit(self) -> list[str]:
        try:
            self._flush()
            while self._encoding:
                self._append(self._encoding.popleft())
        finally:
            self._pool.shutdown(wait=True)
        if self._stitcher.empty:
            self._file.remove_stale()
            return []
        stream = self._file.open()
        stream.write(self._stitcher.footer())
        stream.close()
        return [self._file.commit()]

    def discard(self) -> None:
        for encoding in self._encoding:
            encoding.cancel()
        self._pool.shutdown(wait=True)
        self._file.discard()


# Row groups encoded at once. Encoding is a third of a part's CPU (31-33 % for CSV, 36-39 % for
# Parquet input): with one encoder a part can use at most ~2.9 vCPUs (CSV) or ~2.6 (Parquet)
# however many Lambda gives; with two, 4.6-4.9. Each one more in flight holds a row group (at
# most 16 MiB of Arrow data) and its encoded bytes: +35-50 MB at the peak.
MAX_ENCODERS = 2
# Below this many CPUs a second encoder only competes with the workers for the same cores: on 2
# cores it cost 3-11 % more CPU, and the 1 GiB drop (two parts at once) took 8 % longer.
SECOND_ENCODER_CPUS = 3


def default_encoders() -> int:
    """Row groups encoded at once: :data:`MAX_ENCODERS` where the process may use
    :data:`SECOND_ENCODER_CPUS` CPUs or more, else one (decision 64)."""
    return MAX_ENCODERS if usable_cpus() >= SECOND_ENCODER_CPUS else 1


def _encode(table: pa.Table, options: dict[str, Any], metadata: dict[str, bytes]) -> pa.Buffer:
    """One row group as a whole Parquet file in memory, for :class:`Stitcher`."""
    sink = pa.BufferOutputStream()
    with pq.ParquetWriter(sink, **options) as writer:
        writer.add_key_value_metadata(metadata)
        writer.write_table(table, row_group_size=max(table.num_rows, 1))
    return sink.getvalue()


def _cast_like(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """``table`` with the column types of ``schema``: strings ↔ dictionaries of strings."""
    columns = []
    for column, want in zip(table.columns, schema.types, strict=True):
        if column.type == want:
            columns.append(column)
        elif pa.types.is_dictionary(want):
            columns.append(pc.dictionary_encode(column).cast(want))
        else:
            columns.append(column.cast(want))
    return pa.Table.from_arrays(columns, schema=schema)


_SAMPLE_ROWS = 16 * 1024


def dictionary_columns(table: pa.Table, sample_rows: int = _SAMPLE_ROWS) -> list[str]:
    """Parquet leaf columns worth dictionary encoding, judged on the first rows of the file.

    A column whose sample holds at most half as many distinct values as values is dictionary
    encoded (enums, countries, dates, the constant lineage columns); a column of mostly distinct
    values (ids, e-mails, ``_source_row``) is written plain. Encoding a mostly-distinct column
    as a dictionary hashes every value until the dictionary page overflows, then falls back to
    plain anyway: that attempt was about half of the staged write's cost. Only the encoding
    differs; statistics and values are the same either way.
    """
    sample = table.slice(0, sample_rows)
    out: list[str] = []
    for name in sample.column_names:
        _dictionary_leaves(sample.column(name).combine_chunks(), name, out)
    return out


def _dictionary_leaves(arr: pa.Array, path: str, out: list[str]) -> None:
    t = arr.type
    if pa.types.is_struct(t):
        for i, child in enumerate(arr.flatten()):
            _dictionary_leaves(child, f"{path}.{t.field(i).name}", out)
    elif pa.types.is_list(t) or pa.types.is_large_list(t):
        # Parquet's compliant nested naming (the writer's default): <list>.list.element
        _dictionary_leaves(pc.list_flatten(arr), f"{path}.list.element", out)
    elif pa.types.is_nested(t) or pa.types.is_dictionary(t):
        # Dictionaries are the constant lineage columns; maps and other nested types are not
        # produced here: keep the default (dictionary encoding).
        out.append(path)
    else:
        values = len(arr) - arr.null_count
        if values == 0 or pc.count_distinct(arr).as_py() * 2 <= values:
            out.append(path)


class FailedWriter:
    """Failed records → one JSON Lines file (or none) per (file, part)."""

    def __init__(self, fs: pafs.FileSystem, failed_dir: str, file_name: str, part: int) -> None:
        self.file_name = file_name
        self._file = _Atomic(fs, failed_dir, output_stem(file_name, part) + ".failed.jsonl")
        self._buf: list[bytes] = []
        self._size = 0
        self.rows = 0

    def write(self, row: int, raw: str | None, values: Any, errors: list[dict[str, Any]]) -> None:
        self.write_line(failed_line(self.file_name, row, raw, values, errors))

    def write_line(self, line: bytes) -> None:
        """One line made by :func:`failed_line`."""
        self.write_lines(line, 1)

    def write_lines(self, text: bytes, count: int) -> None:
        """``count`` whole lines (each ending with a newline), encoded by the caller."""
        self._buf.append(text)
        self._size += len(text)
        self.rows += count
        if self._size >= 4 << 20:
            self._flush()

    def _flush(self) -> None:
        if self._buf:
            self._file.open().write(b"".join(self._buf))
            self._buf, self._size = [], 0

    def commit(self) -> str | None:
        self._flush()
        if self.rows == 0:
            self._file.remove_stale()
            return None
        self._file.open().close()
        return self._file.commit()

    def discard(self) -> None:
        self._file.discard()


LINEAGE = ("_batch_id", "_source_file", "_source_row")


def fail_staged_rows(
    fs: pafs.FileSystem, staged_paths: list[str], failed: FailedWriter, error: Any, file_name: str
) -> int:
    """Move the rows of committed staged files into the failed records, each carrying the file's
    error (``error``: an ErrorEntry), then delete the staged files; how many rows moved. Read a
    row group at a time: memory stays bounded whatever the file held."""
    moved = 0
    reason = [
        {"code": error.code, "message": f"read before the file failed: {error.description}", "field": None}
    ]
    for path in staged_paths:
        with fs.open_input_file(path) as handle:
            parquet = pq.ParquetFile(handle)
            for batch in parquet.iter_batches(batch_size=16 * 1024):
                rows = batch.to_pylist()
                for row in rows:
                    source_row = row.pop("_source_row")
                    for column in LINEAGE[:2]:
                        row.pop(column, None)
                    failed.write(source_row, None, row, reason)
                moved += len(rows)
        fs.delete_file(path)
    return moved


def failed_line(
    file_name: str, row: int, raw: str | None, values: Any, errors: list[dict[str, Any]]
) -> bytes:
    """One failed-records line (AEP's failed-batch shape), newline included."""
    record = {
        "_corrupt_record": raw,
        "_values": values,
        "_errors": errors,
        "_filename": file_name,
        "_row": row,
    }
    return _ENCODER.encode(record).encode() + b"\n"


def _json_default(value: Any) -> Any:
    """JSON for what ``json`` does not know: bytes (UTF-8, undecodable bytes replaced), dates..."""
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            return value.decode("utf-8", errors="replace")
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, float):
        return str(value)
    if isinstance(value, (bytearray, memoryview)):
        return base64.b64encode(bytes(value)).decode()
    return str(value)


# One encoder for every line: json.dumps() with options builds a new encoder on each call.
_ENCODER = json.JSONEncoder(default=_json_default, ensure_ascii=False)
