"""What validating one file (or one part of a file) produced, and how parts merge."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from batchgate.core.models import ErrorEntry
from batchgate.validation.codes import FILE_EXTRA_COLUMNS


@dataclass
class FileResult:
    """Outcome of :func:`batchgate.validation.validate_file`.

    Invariant (asserted when built): ``input_record_count == output_record_count +
    failed_record_count``. ``errors`` keeps the first ``max_errors_kept`` row errors in row order;
    the failed-records file has all of them. ``failed_path`` is the failed-records file of this
    result (None when no row failed); a merged result lists every part's file in ``failed_paths``
    and ``failed_path`` is the first of them.
    """

    input_record_count: int = 0
    output_record_count: int = 0
    failed_record_count: int = 0
    input_bytes: int = 0
    staged_paths: list[str] = field(default_factory=list)
    failed_path: str | None = None
    errors: list[ErrorEntry] = field(default_factory=list)
    file_error: ErrorEntry | None = None
    duration_ms: int = 0
    failed_paths: list[str] = field(default_factory=list)
    line_count: int = 0  # physical lines (CSV/JSON) or rows (Parquet) this part covered
    # Dataset columns the file carries (an upsert's patch touches only these): a CSV header's or
    # Parquet schema's columns; for JSON, the columns at least one record gives a value.
    present_columns: list[str] = field(default_factory=list)
    # Columns the dataset's schema lacks (extraColumns): path → rows that gave it a value
    # ("discard": dropped, the batch warns), and the fields "evolve" added (path → field JSON).
    extra_columns: dict[str, int] = field(default_factory=dict)
    added_columns: dict[str, dict[str, Any]] = field(default_factory=dict)

    def check(self) -> FileResult:
        if self.input_record_count != self.output_record_count + self.failed_record_count:
            raise AssertionError(
                f"record conservation broken: input {self.input_record_count} != output "
                f"{self.output_record_count} + failed {self.failed_record_count}"
            )
        return self


def merge_results(parts: list[FileResult], *, max_errors_kept: int = 20) -> FileResult:
    """One result for a file validated as several parts (see :func:`plan_parts`).

    Counts and bytes add up, staged paths concatenate in part order, row errors are merged in row
    order and cut to ``max_errors_kept``, the first file error wins, durations add (work done,
    not wall time). Row numbers need no renumbering: every part numbers its rows globally.
    """
    merged = FileResult()
    for part in parts:
        part.check()
        merged.input_record_count += part.input_record_count
        merged.output_record_count += part.output_record_count
        merged.failed_record_count += part.failed_record_count
        merged.input_bytes += part.input_bytes
        merged.staged_paths.extend(part.staged_paths)
        merged.failed_paths.extend(part.failed_paths or ([part.failed_path] if part.failed_path else []))
        merged.errors.extend(part.errors)
        merged.duration_ms += part.duration_ms
        merged.line_count += part.line_count
        merged.present_columns = sorted(set(merged.present_columns) | set(part.present_columns))
        for path, rows in part.extra_columns.items():
            merged.extra_columns[path] = merged.extra_columns.get(path, 0) + rows
        for path, added in part.added_columns.items():
            try:
                merged.added_columns[path] = unify_added(merged.added_columns.get(path), added, path)
            except AddedColumnConflict as exc:
                merged.file_error = merged.file_error or ErrorEntry(
                    code=FILE_EXTRA_COLUMNS, description=str(exc)
                )
        if merged.file_error is None and part.file_error is not None:
            merged.file_error = part.file_error
    merged.errors.sort(key=lambda e: e.row if e.row is not None else -1)
    del merged.errors[max_errors_kept:]
    merged.failed_path = merged.failed_paths[0] if merged.failed_paths else None
    return merged.check()


def unify_added(a: dict[str, Any] | None, b: dict[str, Any], path: str) -> dict[str, Any]:
    """One field for a column two parts (or files) added: the same, or integer and number
    (number); anything else is a conflict no one column holds."""
    if a is None or a == b:
        return b
    if (
        {a.get("type"), b.get("type")} == {"integer", "number"}
        and not a.get("fields")
        and not b.get("fields")
    ):
        return {**a, "type": "number"}
    raise AddedColumnConflict(
        f"column {path} was typed {a.get('type')} and {b.get('type')} in different parts of the data"
    )


class AddedColumnConflict(ValueError):
    """Two parts or files of a batch added one column with different types (``evolve``)."""
