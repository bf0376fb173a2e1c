"""``validate_file``: one file (or one part of it) through reader → convert → check → outputs.

File-level errors (see :mod:`.codes`) never raise: they set ``FileResult.file_error``. Counting
rule on a file error: records read before the error keep their outcome (they are in the outputs
and in the counts); nothing after it is counted. A file that cannot be opened as its format at all
(zero bytes, not Parquet, empty header, bad compression) therefore counts 0/0/0. ``input = output
+ failed`` holds in every case and is asserted before returning.

Errors of the environment (the object is missing, S3 is unreachable) are not file errors: they
raise (``FileNotFoundError`` / ``OSError``) so the caller retries. One exception: pyarrow reports a
corrupt Parquet page and a failed read alike as ``OSError``, so inside a Parquet file both are
``BG-FILE-UNREADABLE`` (a retry of the file clears a transient one).
"""

from __future__ import annotations

import contextlib
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.fs as pafs

from batchgate import faults
from batchgate.core import limits
from batchgate.core.models import Dataset, ErrorEntry, InputFormat
from batchgate.core.schema import arrow_schema
from batchgate.validation import codes
from batchgate.validation.chunk import Chunk, Corrupt, Unit
from batchgate.validation.codes import FileError
from batchgate.validation.convert import Violation, conform, one_array
from batchgate.validation.engine import Checker, failed_mask
from batchgate.validation.extra_columns import ExtraColumns, added_fields, frozen_error, with_added
from batchgate.validation.failed_records import FailedRecords
from batchgate.validation.file_chunks import DATA_ERRORS, FileSource, discover_extras, file_chunks
from batchgate.validation.memory import use_validation_pool
from batchgate.validation.outputs import FailedWriter, StagedWriter, constant_column, fail_staged_rows
from batchgate.validation.pipeline import default_workers, depths, ordered_map, prefetch
from batchgate.validation.result import FileResult
from batchgate.validation.source import file_size


def validate_file(
    *,
    fs: pafs.FileSystem,
    source_path: str,
    dataset: Dataset,
    input_format: InputFormat,
    batch_id: str,
    file_name: str,
    staged_dir: str,
    failed_dir: str,
    compression: str | None = None,
    byte_range: tuple[int, int] | None = None,
    row_groups: list[int] | None = None,
    part: int = 0,
    block_size: int = limits.RECORD_BYTES.value,
    max_errors_kept: int = 20,
    first_line: int | None = None,
    workers: int | None = None,
    required_at_commit: frozenset[str] = frozenset(),
) -> FileResult:
    """Validate one uploaded file (or one part from :func:`plan_parts`) and stage its rows.

    ``first_line`` (from :func:`plan_parts`) is the physical line number where ``byte_range``
    starts; when omitted for a range, it is found by counting the newlines before the range.
    ``workers``: threads that parse and check blocks side by side (default: the usable CPUs, at
    most 3); the outputs and counts are the same for any number. ``required_at_commit``: an
    upsert's required columns, checked when the batch lands (:mod:`batchgate.core.upsert_rules`).
    """
    started = time.monotonic()
    use_validation_pool()
    result = FileResult()
    evolve_error: FileError | None = None
    source = FileSource(
        fs, source_path, input_format, compression, byte_range, row_groups, block_size, first_line
    )
    if dataset.extra_columns == "evolve":
        found = discover_extras(source, dataset)
        try:
            added = added_fields(found)
        except FileError as exc:
            evolve_error, added = exc, {}  # validated as it is; the file fails at the end
        if added:
            dataset = dataset.model_copy(update={"schema_": with_added(dataset.schema_, added)})
            result.added_columns = {
                p: f.model_dump(by_alias=True, exclude_none=True) for p, f in added.items()
            }
    out_schema = arrow_schema(dataset.schema_)
    staged = StagedWriter(fs, staged_dir, file_name, part, out_schema)
    failed = FailedWriter(fs, failed_dir, file_name, part)
    closers: list[Any] = []
    run: FileRun | None = None
    try:
        size = file_size(fs, source_path)
        result.input_bytes = (byte_range[1] - byte_range[0]) if byte_range else size
        try:
            run = FileRun(
                dataset, batch_id, file_name, staged, failed, result, max_errors_kept, required_at_commit
            )
            if size == 0:
                raise FileError(codes.FILE_EMPTY, "the file has zero bytes")
            reader = file_chunks(source, dataset, closers)
            # closing(): if checking a block raises, the reader and worker threads stop right away.
            n_workers = workers or default_workers()
            held, ahead = depths(n_workers)
            units = prefetch(reader, depth=ahead)
            done = ordered_map(run.process, units, workers=n_workers, depth=held)
            with contextlib.closing(units), contextlib.closing(done):
                for outcomes in done:
                    for outcome in outcomes:
                        run.commit(outcome)
            if evolve_error is not None:
                raise evolve_error
            if run.extras and dataset.extra_columns == "freeze":
                raise frozen_error(run.extras)
            result.extra_columns = dict(run.extras.rows)
        except FileError as exc:
            result.file_error = ErrorEntry(code=exc.code, description=exc.message, file=file_name)
        except DATA_ERRORS as exc:
            result.file_error = ErrorEntry(
                code=codes.FILE_UNREADABLE, description=f"the file cannot be read: {exc}", file=file_name
            )
        result.staged_paths = staged.commit()
        if result.file_error is not None and result.staged_paths:
            # A file with a file-level error lands nothing (its batch fails): the rows read and
            # found valid before the error go to the failed records too, so the counts say what
            # happened (output 0) and input = output + failed still holds, row by row.
            moved = fail_staged_rows(fs, result.staged_paths, failed, result.file_error, file_name)
            result.output_record_count -= moved
            result.failed_record_count += moved
            result.staged_paths = []
        result.failed_path = failed.commit()
        result.failed_paths = [result.failed_path] if result.failed_path else []
    except BaseException:
        staged.discard()
        failed.discard()
        raise
    finally:
        for c in closers:
            c.close()
    result.line_count = run.max_row if run is not None else 0
    result.present_columns = sorted(run.present) if run is not None else []
    result.duration_ms = int((time.monotonic() - started) * 1000)
    return result.check()


@dataclass
class _Outcome:
    """What one chunk yields, computed on a worker thread and committed in the file's order."""

    n_input: int
    good: pa.Table | None
    failed_text: bytes  # failed-records lines of the chunk's failed rows, in row order
    failed_count: int
    errors: list[tuple[int, str | None, str, str]]  # (row, field, code, message) of the first ones
    present: set[str] = field(default_factory=set)
    max_row: int = 0
    extras: ExtraColumns = field(default_factory=ExtraColumns)


class FileRun:
    """Turns chunks into outcomes (:meth:`process`, on any thread) and outcomes into outputs and
    counts (:meth:`commit`, in the file's order, on one thread)."""

    def __init__(
        self,
        dataset: Dataset,
        batch_id: str,
        file_name: str,
        staged: StagedWriter,
        failed: FailedWriter,
        result: FileResult,
        max_errors_kept: int,
        required_at_commit: frozenset[str] = frozenset(),
    ) -> None:
        self.target = arrow_schema(dataset.schema_, lineage=False)
        self.names = set(self.target.names)
        self.extras = ExtraColumns()
        self.checker = Checker(dataset.schema_, required_at_commit=required_at_commit)
        self.batch_id = batch_id
        self.file_name = file_name
        self.staged = staged
        self.failed = failed
        self.result = result
        self.max_errors_kept = max_errors_kept
        self.failed_records = FailedRecords(file_name, max_errors_kept)
        self.max_row = 0
        self.present: set[str] = set()
        self._lineage_lock = threading.Lock()
        self._batch_ids: pa.Array = constant_column(batch_id, 0)
        self._file_names: pa.Array = constant_column(file_name, 0)

    def process(self, unit: Unit) -> list[_Outcome]:
        """Outcomes of one block, parsed here if the reader left that to the workers. Runs on a
        worker thread: it reads ``self`` but changes nothing on it (lineage columns aside,
        behind their lock)."""
        chunks = [unit] if isinstance(unit, Chunk) else unit()
        return [self._process(chunk) for chunk in chunks]

    def commit(self, outcome: _Outcome) -> None:
        """Write one outcome, then count it (counts move only when all is written)."""
        if outcome.good is not None:
            self.staged.write(outcome.good)
        if outcome.failed_count:
            self.failed.write_lines(outcome.failed_text, outcome.failed_count)
        for row, field_, code, message in outcome.errors:
            self._keep(row, field_, code, message)
        self.present |= outcome.present
        self.extras.merge(outcome.extras)
        self.result.input_record_count += outcome.n_input
        self.result.output_record_count += outcome.good.num_rows if outcome.good is not None else 0
        self.result.failed_record_count += outcome.failed_count
        self.max_row = max(self.max_row, outcome.max_row)
        faults.inject("validate")

    def _process(self, chunk: Chunk) -> _Outcome:
        n = len(chunk.rows)
        present = {
            name
            for name in chunk.table.column_names
            if name in self.names and (chunk.declared or chunk.table.column(name).null_count < n)
        }
        extras = ExtraColumns()
        if n:
            extras.scan_table(chunk.table, self.target)
        if chunk.extras is not None:
            extras.merge(chunk.extras)
        violations: list[Violation] = list(chunk.violations)
        failed_rows: list[tuple[int, Corrupt | int]] = [(c.row, c) for c in chunk.corrupt]
        failed_idx: pa.Array | None = None  # the table's failed rows
        good: pa.Table | None = None
        if n:
            arrays = []
            # Columns read as dictionaries of strings (see parquet_reader): checked as strings,
            # staged as the dictionaries they came in, which the encoder writes per distinct value.
            as_read: dict[int, pa.Array] = {}
            for i, field_ in enumerate(self.target):
                if field_.name in chunk.table.column_names:
                    column = chunk.table.column(field_.name)
                    dictionary = _string_dictionary(column, field_.type)
                    arr, vs = conform(
                        dictionary.dictionary_decode() if dictionary is not None else column,
                        field_.type,
                        field_.name,
                        strings_valid=chunk.strings_valid,
                    )
                    violations.extend(vs)
                    if dictionary is not None and not vs:  # else staged as converted
                        as_read[i] = dictionary
                else:
                    arr = pa.nulls(n, field_.type)
                arrays.append(arr)
            table = pa.Table.from_arrays(arrays, schema=self.target)
            violations.extend(_not_again(self.checker.check(table), violations))
            bad = failed_mask(n, violations)
            n_bad = pc.sum(bad).as_py() or 0
            staged = table
            for i, dictionary in as_read.items():
                staged = staged.set_column(i, self.target.field(i).with_type(dictionary.type), dictionary)
            if n_bad:
                keep = pc.invert(bad)
                # Column by column: Table.filter costs about half as much again on top.
                kept = pa.Table.from_arrays([c.filter(keep) for c in staged.columns], schema=staged.schema)
                good_rows = chunk.rows.filter(keep)
            else:
                kept, good_rows = staged, chunk.rows
            if n_bad:
                failed_idx = pc.indices_nonzero(bad)
            good = self._with_lineage(kept, good_rows)
        rows = [pc.max(chunk.rows).as_py() or 0] if n else []
        text, count, errors = (
            self.failed_records.build(chunk, failed_rows, violations, failed_idx)
            if failed_rows or failed_idx is not None
            else (b"", 0, [])
        )
        return _Outcome(
            n_input=n + len(chunk.corrupt),
            good=good,
            failed_text=text,
            failed_count=count,
            errors=errors,
            present=present,
            max_row=max([0, *rows, *(c.row for c in chunk.corrupt)]),
            extras=extras,
        )

    def _with_lineage(self, table: pa.Table, rows: pa.Array) -> pa.Table:
        k = table.num_rows
        with self._lineage_lock:
            if k > len(self._batch_ids):
                # The constant lineage columns are built once (as long as the longest chunk) and
                # sliced, not rebuilt for every chunk.
                self._batch_ids = constant_column(self.batch_id, k)
                self._file_names = constant_column(self.file_name, k)
            batch_ids, file_names = self._batch_ids.slice(0, k), self._file_names.slice(0, k)
        lineage = self.staged.write_schema
        # The row columns keep their types (strings, or dictionaries of strings as read).
        schema = pa.schema(
            [*table.schema, *(lineage.field(j) for j in range(table.num_columns, len(lineage)))]
        )
        return pa.Table.from_arrays([*table.columns, batch_ids, file_names, rows], schema=schema)

    def _keep(self, row: int, field: str | None, code: str, message: str) -> None:
        if len(self.result.errors) < self.max_errors_kept:
            self.result.errors.append(
                ErrorEntry(code=code, description=message, file=self.file_name, row=row, field=field)
            )


def _string_dictionary(column: pa.ChunkedArray, target: pa.DataType) -> pa.DictionaryArray | None:
    """``column`` as one dictionary array when it is a dictionary of the strings ``target`` wants."""
    t = column.type
    if not (pa.types.is_dictionary(t) and t.value_type == target == pa.string()):
        return None
    arr = one_array(column)
    assert isinstance(arr, pa.DictionaryArray)
    return arr


def _not_again(checks: list[Violation], conversions: list[Violation]) -> list[Violation]:
    """A cell that failed conversion is null now: do not also report it as a missing value."""
    failed: dict[str, pa.Array] = {}
    for v in conversions:
        failed[v.field] = pc.or_(failed[v.field], v.mask) if v.field in failed else v.mask
    out = []
    for v in checks:
        if v.code == codes.ROW_REQUIRED and v.field in failed:
            v = Violation(v.field, v.code, pc.and_(v.mask, pc.invert(failed[v.field])), v.message, v.values)
            if not pc.any(v.mask).as_py():
                continue
        out.append(v)
    return out
