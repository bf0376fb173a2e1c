"""What validating one file (or one part of a file) produced, and how parts merge."""

from __future__ import annotations

from dataclasses import dataclass, field

from batchgate.core.models import ErrorEntry


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
        if merged.file_error is None and part.file_error is not None:
            merged.file_error = part.file_error
    merged.errors.sort(key=lambda e: e.row if e.row is not None else -1)
    del merged.errors[max_errors_kept:]
    merged.failed_path = merged.failed_paths[0] if merged.failed_paths else None
    return merged.check()
