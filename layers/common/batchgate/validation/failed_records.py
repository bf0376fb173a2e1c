"""The failed-records lines of a chunk's failed rows, and the first errors kept on the file.

Two paths give the same lines: column-wise with Arrow string kernels (:mod:`.failed_lines`), and
the reference path one row at a time in Python, for values the kernels do not render (bytes that
are not UTF-8, decimals...) and for rows whose values a reader supplies itself
(``chunk.values``). Corrupt records (never a row) are written with their raw text.
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from batchgate.validation.chunk import Chunk, Corrupt
from batchgate.validation.convert import Violation, as_bytes_type, join_lines, to_json_text
from batchgate.validation.failed_lines import SHOWN_MAX, table_lines
from batchgate.validation.outputs import failed_line

# (row, field, code, message) of one error
KeptError = tuple[int, str | None, str, str]


class FailedRecords:
    def __init__(self, file_name: str, max_errors_kept: int) -> None:
        self.file_name = file_name
        self.max_errors_kept = max_errors_kept

    def build(
        self,
        chunk: Chunk,
        failed_rows: list[tuple[int, Corrupt | int]],
        violations: list[Violation],
        failed_idx: pa.Array | None = None,
    ) -> tuple[bytes, int, list[KeptError]]:
        """Failed-records lines (in row order, joined), their count, and the first errors.
        ``failed_rows``: (row, corrupt record or table index); ``failed_idx``: more table indices
        (ascending), the chunk's failed table rows."""
        if failed_idx is not None and not failed_rows and not chunk.values:
            rows = chunk.rows.take(failed_idx)
            n = len(rows)
            if n < 2 or pc.all(pc.greater(rows.slice(1), rows.slice(0, n - 1))).as_py():
                return self._table_only(chunk, failed_idx, rows, violations)
        if failed_idx is not None:
            failed_rows = failed_rows + list(
                zip(chunk.rows.take(failed_idx).to_pylist(), failed_idx.to_pylist(), strict=True)
            )
        failed_rows.sort(key=lambda item: item[0])
        indices = [w for _, w in failed_rows if not isinstance(w, Corrupt)]
        fast = None
        if indices and not any(i in chunk.values for i in indices):
            fast = table_lines(
                chunk.table,
                chunk.rows,
                pa.array(indices, pa.int64()),
                violations,
                self.file_name,
                self.max_errors_kept,
            )
        if fast is None and indices:
            return self._per_row(chunk, failed_rows, violations)
        kept: list[KeptError] = []
        if fast is not None and len(indices) == len(failed_rows):  # no corrupt record: one join
            text = join_lines(fast.lines).to_pybytes() + b"\n"
        else:
            table_texts = iter(fast.lines.to_pylist() if fast is not None else [])
            parts: list[bytes] = []
            for _, what in failed_rows:
                if isinstance(what, Corrupt):
                    parts.append(self._corrupt_line(what))
                else:
                    parts.append(next(table_texts).encode() + b"\n")
            text = b"".join(parts)
        j = 0
        for row, what in failed_rows:
            if len(kept) >= self.max_errors_kept:
                break
            if isinstance(what, Corrupt):
                kept.append((row, None, what.code, what.message))
            elif fast is not None and j < len(fast.first_errors):
                kept.extend((row, f, c, m) for f, c, m in fast.first_errors[j])
                j += 1
        return text, len(failed_rows), kept[: self.max_errors_kept]

    def _table_only(
        self, chunk: Chunk, indices: pa.Array, rows: pa.Array, violations: list[Violation]
    ) -> tuple[bytes, int, list[KeptError]]:
        """:meth:`build` when every failed row is a row of the table (``indices``, whose row
        numbers ``rows`` ascend): one pass of Arrow calls, no Python per row."""
        fast = table_lines(chunk.table, chunk.rows, indices, violations, self.file_name, self.max_errors_kept)
        if fast is None:
            failed_rows: list[tuple[int, Corrupt | int]] = list(
                zip(rows.to_pylist(), indices.to_pylist(), strict=True)
            )
            return self._per_row(chunk, failed_rows, violations)
        kept: list[KeptError] = []
        for row, errors in zip(
            rows.slice(0, len(fast.first_errors)).to_pylist(), fast.first_errors, strict=True
        ):
            if len(kept) >= self.max_errors_kept:
                break
            kept.extend((row, f, c, m) for f, c, m in errors)
        return join_lines(fast.lines).to_pybytes() + b"\n", len(rows), kept[: self.max_errors_kept]

    def _corrupt_line(self, corrupt: Corrupt) -> bytes:
        return failed_line(
            self.file_name, corrupt.row, corrupt.raw, corrupt.values, [_corrupt_error(corrupt)]
        )

    def _per_row(
        self, chunk: Chunk, failed_rows: list[tuple[int, Corrupt | int]], violations: list[Violation]
    ) -> tuple[bytes, int, list[KeptError]]:
        """The reference path, one row at a time in Python: for values :mod:`.failed_lines`
        does not render (bytes that are not UTF-8, decimals...) and for rows a reader has shown
        values for (``chunk.values``)."""
        per_row: dict[int, list[tuple[Violation, Any]]] = {}
        for v in violations:
            idx = pc.indices_nonzero(v.mask).to_pylist()
            shown = _shown_values(v, idx)
            for k, i in enumerate(idx):
                per_row.setdefault(i, []).append((v, shown[k] if shown is not None else None))
        shown_rows = _rows_as_values(chunk, [w for _, w in failed_rows if not isinstance(w, Corrupt)])
        lines: list[bytes] = []
        kept: list[KeptError] = []
        for row, what in failed_rows:
            errors: list[dict[str, Any]]
            if isinstance(what, Corrupt):
                errors = [_corrupt_error(what)]
                lines.append(self._corrupt_line(what))
            else:
                errors = []
                for v, value in per_row.get(what, []):
                    message = v.message if value is None else f"{v.message} (got {_show(value)})"
                    errors.append({"code": v.code, "message": message, "field": v.field})
                values = chunk.values[what] if what in chunk.values else shown_rows.get(what, {})
                lines.append(failed_line(self.file_name, row, None, values, errors))
            if len(kept) < self.max_errors_kept:
                kept.extend((row, e["field"], e["code"], e["message"]) for e in errors)
        return b"".join(lines), len(lines), kept[: self.max_errors_kept]


def _rows_as_values(chunk: Chunk, indices: list[int]) -> dict[int, Any]:
    """Failed rows of the chunk's table as Python values, in one conversion."""
    wanted = [i for i in indices if i not in chunk.values]
    if not wanted or chunk.table.num_columns == 0:
        return {}
    rows = _jsonable(chunk.table.take(pa.array(wanted, pa.int64())))
    try:
        values = rows.to_pylist()
    except UnicodeDecodeError:  # bytes that are not UTF-8: shown through errors="replace"
        schema = pa.schema([pa.field(f.name, as_bytes_type(f.type)) for f in rows.schema])
        values = rows.cast(schema).to_pylist()
    return dict(zip(wanted, values, strict=True))


def _corrupt_error(corrupt: Corrupt) -> dict[str, Any]:
    """The one error of a record that never became a row (it has no field)."""
    return {"code": corrupt.code, "message": corrupt.message, "field": None}


def _jsonable(table: pa.Table) -> pa.Table:
    """Temporal columns as ISO strings, in Arrow: cheaper than a ``default=`` hook per value."""
    cols = []
    for col in table.columns:
        if pa.types.is_timestamp(col.type) or pa.types.is_date(col.type):
            cols.append(pc.cast(col, pa.string()))
        else:
            cols.append(col)
    return pa.Table.from_arrays(cols, names=table.column_names)


def _shown_values(v: Violation, idx: list[int]) -> list[Any] | None:
    if v.values is None or not idx:
        return None
    taken = v.values.take(pa.array(idx, pa.int64()))
    try:
        return taken.to_pylist()
    except UnicodeDecodeError:
        return pc.cast(taken, as_bytes_type(taken.type)).to_pylist()


def _show(value: Any) -> str:
    """A value as quoted in a message: its JSON text, cut (as :func:`.failed_lines.shown` does)."""
    if isinstance(value, bytes):
        value = value.decode("utf-8", errors="replace")
    text = to_json_text(value)
    return text if len(text) <= SHOWN_MAX else text[: SHOWN_MAX - 3] + "..."
