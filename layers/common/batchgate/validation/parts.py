"""Splitting a large file into parts that validate in parallel and merge into one result, and
landing nothing of a merged result when one part failed as a file (:func:`land_nothing`).

``plan_parts(fs, path, input_format, size, part_bytes)`` returns one dict per part, holding the
keyword arguments to pass to :func:`validate_file` on top of the file's own:

* Parquet — ``{"part": i, "row_groups": [...]}``: consecutive row groups of about ``part_bytes``
  (compressed). Row numbers are file-wide row indexes, so parts need no renumbering.
* CSV / JSON Lines — ``{"part": i, "byte_range": (start, end), "first_line": n}``: ranges cut just
  after a newline that ends a record (outside quotes for CSV), found in one sequential pass over
  the object up to the last cut, in 16 MiB reads, that also counts the newlines before each cut
  (two reads in flight, so fetching a range overlaps counting the one before it); the last part's
  bytes are not read by the plan. ``first_line`` keeps
  row numbers file-wide, so merged errors and ``_source_row`` are the same as in one pass; the CSV
  header is read by every part from the start of the file.
* Not splittable, one part ``{"part": 0}``: multi-line JSON, compressed files (``.gz``), charsets
  where a newline byte is not a newline (UTF-16/32), and files smaller than ``part_bytes``.

Limit: the quote balance is counted from the start of the file, so a stray quote in a CSV record
shifts cuts into the next records (each part still parses; row numbers stay exact).
"""

from __future__ import annotations

from typing import Any

import pyarrow.fs as pafs
import pyarrow.parquet as pq

from batchgate.core.models import InputFormat
from batchgate.validation.outputs import FailedWriter, fail_staged_rows
from batchgate.validation.result import FileResult
from batchgate.validation.source import count_quotes, is_ascii_compatible, read_ahead


def plan_parts(
    fs: pafs.FileSystem,
    path: str,
    input_format: InputFormat,
    size: int,
    part_bytes: int,
    *,
    compression: str | None = None,
) -> list[dict[str, Any]]:
    """Parts of the file at ``path`` (``size`` bytes) of about ``part_bytes`` each (see module)."""
    if part_bytes <= 0:
        raise ValueError("part_bytes must be positive")
    if input_format.format == "parquet":
        return _parquet_parts(fs, path, part_bytes)
    splittable = (
        size > part_bytes
        and compression in (None, "none")
        and not path.endswith(".gz")
        and not (input_format.format == "json" and input_format.is_multi_line_json)
        and is_ascii_compatible(input_format.charset)
    )
    if not splittable:
        return [{"part": 0}]
    quote = input_format.quote.encode() if input_format.format == "csv" else None
    escape = input_format.escape.encode() if input_format.format == "csv" and input_format.escape else None
    cuts = _line_cuts(fs, path, size, part_bytes, quote, escape)
    parts: list[dict[str, Any]] = []
    bounds = [(0, 1), *cuts, (size, -1)]
    for i in range(len(bounds) - 1):
        (start, line), (end, _) = bounds[i], bounds[i + 1]
        if end > start:
            parts.append({"part": len(parts), "byte_range": (start, end), "first_line": line})
    return parts


def _parquet_parts(fs: pafs.FileSystem, path: str, part_bytes: int) -> list[dict[str, Any]]:
    try:
        with fs.open_input_file(path) as f:
            meta = pq.ParquetFile(f).metadata
    except Exception:  # not Parquet: one part, and validate_file reports the file error
        return [{"part": 0}]
    parts: list[dict[str, Any]] = []
    current: list[int] = []
    acc = 0
    for rg in range(meta.num_row_groups):
        group = meta.row_group(rg)
        current.append(rg)
        acc += sum(group.column(c).total_compressed_size for c in range(group.num_columns))
        if acc >= part_bytes:
            parts.append({"part": len(parts), "row_groups": current})
            current, acc = [], 0
    if current or not parts:
        parts.append({"part": len(parts), "row_groups": current})
    return parts


def _line_cuts(
    fs: pafs.FileSystem, path: str, size: int, part_bytes: int, quote: bytes | None, escape: bytes | None
) -> list[tuple[int, int]]:
    """(offset, line number at offset) just after record-ending newlines near each multiple of
    ``part_bytes``; one pass over the file, in order, up to the start of the last part."""
    cuts: list[tuple[int, int]] = []
    target = part_bytes
    newlines = 0
    parity = 0
    offset = 0
    carry_escape = False
    for data in read_ahead(fs, path, size):
        pos = 0
        while offset + len(data) > target and target < size:
            local = max(target - offset, pos)
            # Advance to the first record-ending newline at or after ``local``.
            nl = data.find(b"\n", local)
            found = False
            while nl >= 0:
                seg_quotes = _quotes(data, pos, nl, quote, escape, carry_escape and pos == 0)
                parity ^= seg_quotes % 2
                newlines += data.count(b"\n", pos, nl)
                pos = nl
                if not parity:
                    found = True
                    break
                nl = data.find(b"\n", nl + 1)
            if not found:
                break
            cuts.append((offset + nl + 1, newlines + 2))
            newlines += 1
            pos = nl + 1
            target = offset + nl + 1 + part_bytes
        if target >= size:
            break  # the last part runs to the end: nothing past its start needs counting
        parity ^= _quotes(data, pos, len(data), quote, escape, carry_escape and pos == 0) % 2
        newlines += data.count(b"\n", pos)
        carry_escape = escape is not None and data.endswith(escape)
        offset += len(data)
    return [c for c in cuts if c[0] < size]


def _quotes(
    data: bytes, start: int, end: int, quote: bytes | None, escape: bytes | None, escaped_first: bool
) -> int:
    """:func:`count_quotes`, less a first quote escaped by the last byte of the chunk before."""
    if quote is None or start >= end:
        return 0
    n = count_quotes(data, start, end, quote, escape)
    if escaped_first and escape is not None and escape != quote and data[start : start + 1] == quote:
        n -= 1
    return n


def land_nothing(
    fs: pafs.FileSystem, result: FileResult, failed_dir: str, file_name: str, part: int
) -> FileResult:
    """A merged result with a file-level error (one part failed as a file) lands nothing: the
    other parts' staged rows become failed records too, written as part ``part`` (past the
    others), so the counts say output 0 and input = output + failed still holds."""
    if result.file_error is None or not result.staged_paths:
        return result
    failed = FailedWriter(fs, failed_dir, file_name, part)
    moved = fail_staged_rows(fs, result.staged_paths, failed, result.file_error, file_name)
    result.output_record_count -= moved
    result.failed_record_count += moved
    result.staged_paths = []
    path = failed.commit()
    if path is not None:
        result.failed_paths.append(path)
        result.failed_path = result.failed_paths[0]
    return result.check()
