"""JSON Lines → loosely typed chunks, and the block parser the multi-line reader shares.

Contract:
* One object per line; blank lines are skipped; the row number is the 1-based line. A line that
  is not one JSON object (syntax error, an array, two objects) is ``BG-ROW-CORRUPT``, a line with
  bytes that are not UTF-8 is ``BG-ROW-ENCODING``; both keep their raw text.
* Fields not in the schema come back as extra columns, for the dataset's ``extraColumns`` policy.
* Types are strict, as JSON has them: a string is not an integer (``"12"`` fails an integer
  field), an integral number (``3.0``) is an integer; timestamps and dates are ISO-8601 strings.

Fast path: Arrow's JSON reader parses a whole block into the dataset types (dates and timestamps
kept as strings, converted afterwards by :mod:`.convert`). When Arrow refuses a block, the block is
bisected on line boundaries and re-parsed, so only small pieces around bad lines reach the
per-line Python path, which reports each problem on its field.
"""

from __future__ import annotations

import contextlib
import json
import math
import re
from collections.abc import Iterator
from functools import partial
from typing import Any

import pyarrow as pa
import pyarrow.json as pajson

from batchgate.core.models import DatasetSchema, ItemSchema, SchemaField
from batchgate.core.schema import arrow_schema
from batchgate.validation import codes
from batchgate.validation.chunk import Chunk, Corrupt, Unit, truncate
from batchgate.validation.codes import FileError
from batchgate.validation.convert import Violation, arange
from batchgate.validation.extra_columns import ExtraColumns
from batchgate.validation.source import ByteSource, Oversize, iter_blocks

_SMALL_PIECE = 16  # lines: below this a refused piece goes line by line in Python
# An escaped UTF-16 surrogate: JSON text can spell one alone, which Python decodes to a string
# that no UTF-8 writer (Arrow, Parquet) accepts. Lines with one get checked (a pair is fine).
_SURROGATE_ESCAPE = re.compile(rb"\\[uU][dD][89a-fA-F]")
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
_INT64 = (-(2**63), 2**63 - 1)


def json_read_schema(schema: DatasetSchema) -> pa.Schema:
    """The schema handed to Arrow's JSON reader: the dataset's, with dates/timestamps as strings."""
    return pa.schema([pa.field(f.name, _loose(f.type)) for f in arrow_schema(schema, lineage=False)])


def _loose(t: pa.DataType) -> pa.DataType:
    if pa.types.is_timestamp(t) or pa.types.is_date(t):
        return pa.string()
    if pa.types.is_struct(t):
        return pa.struct([pa.field(c.name, _loose(c.type)) for c in t])
    if pa.types.is_list(t):
        return pa.list_(_loose(t.value_type))
    return t


class JsonBlockParser:
    """Parses blocks of JSON lines into chunks for one dataset schema."""

    def __init__(self, schema: DatasetSchema) -> None:
        self.schema = schema
        self.read_schema = json_read_schema(schema)
        # "infer": fields the schema lacks come back as extra columns (the dataset's
        # extraColumns policy needs them named and counted); "ignore" for a block where they
        # change type from line to line, so the block still takes the fast path.
        self._parse_options = pajson.ParseOptions(
            explicit_schema=self.read_schema, unexpected_field_behavior="infer"
        )
        self._ignore_options = pajson.ParseOptions(
            explicit_schema=self.read_schema, unexpected_field_behavior="ignore"
        )
        self._known = {f.name for f in schema.fields}

    def parse(
        self, data: bytes, first_line: int, numbers: list[int] | None = None, *, newlines: int = -1
    ) -> Iterator[Chunk]:
        """Chunks for ``data`` (whole lines). Row numbers are ``first_line + line index``, or
        ``numbers[line index]`` when given (multi-line JSON, one object per normalised line)."""
        for chunk in self._parse(data, 0 if numbers is not None else first_line, newlines):
            if numbers is not None:
                chunk.rows = pa.array([numbers[i] for i in chunk.rows.to_pylist()], pa.int64())
                for c in chunk.corrupt:
                    c.row = numbers[c.row]
            yield chunk

    def _parse(self, data: bytes, first_line: int, newlines: int = -1) -> Iterator[Chunk]:
        table, extras = self._arrow(data)
        if table is not None:
            newlines = data.count(b"\n") if newlines < 0 else newlines
            n_lines = newlines + (0 if data.endswith(b"\n") else 1)
            if table.num_rows == n_lines:
                yield Chunk(table, arange(first_line, n_lines), declared=False, extras=extras)
                return
            lines = data.split(b"\n")
            filled = [i for i, text in enumerate(lines) if text.strip()]
            if len(filled) == table.num_rows and all(lines[i].lstrip()[:1] == b"{" for i in filled):
                rows = pa.array([first_line + i for i in filled], pa.int64())
                yield Chunk(table, rows, declared=False, extras=extras)
                return
        # Refused (or rows do not map one-to-one on lines): bisect, then line by line.
        if data.count(b"\n") < _SMALL_PIECE:
            yield self._lines(data, first_line)
            return
        mid = data.find(b"\n", len(data) // 2)
        if mid < 0 or mid == len(data) - 1:
            mid = data.rfind(b"\n", 0, len(data) // 2)
        left, right = data[: mid + 1], data[mid + 1 :]
        yield from self._parse(left, first_line)
        yield from self._parse(right, first_line + left.count(b"\n"))

    def _arrow(self, data: bytes) -> tuple[pa.Table | None, ExtraColumns | None]:
        """Arrow's parse of a block (extra fields as extra columns), or None if it refuses it.
        A block Arrow refuses only because an extra field changes type is parsed ignoring extra
        fields, and those are then found in Python (the second value)."""
        table = self._read(data, self._parse_options)
        if table is not None:
            return table, None
        table = self._read(data, self._ignore_options)
        if table is None:
            return None, None
        extras = ExtraColumns()
        records = []
        for text in data.split(b"\n"):
            if text.strip():
                with contextlib.suppress(ValueError, RecursionError):
                    value = json.loads(text)
                    if isinstance(value, dict):
                        records.append(value)
        extras.scan_values(records, self._known)
        return table, extras

    @staticmethod
    def _read(data: bytes, options: pajson.ParseOptions) -> pa.Table | None:
        try:
            return pajson.read_json(
                pa.py_buffer(data),
                # One Arrow block, one thread: blocks are already parsed side by side on the
                # runner's workers (Arrow's own threads on top only added overhead), and a
                # single-chunk result needs no copy to become one array.
                read_options=pajson.ReadOptions(use_threads=False, block_size=len(data) + 1),
                parse_options=options,
            )
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, UnicodeDecodeError, ValueError):
            return None

    def _lines(self, data: bytes, first_line: int) -> Chunk:
        """Per-line Python path: every problem reported on its line and field."""
        records: list[dict[str, Any]] = []
        rows: list[int] = []
        originals: dict[int, Any] = {}
        problems: list[tuple[int, str, str]] = []  # (row index, field, message)
        corrupt: list[Corrupt] = []
        for i, text in enumerate(data.split(b"\n")):
            if not text.strip():
                continue
            line = first_line + i
            try:
                value = json.loads(text)
            except UnicodeDecodeError as exc:
                corrupt.append(
                    Corrupt(
                        line, truncate(text), codes.ROW_ENCODING, f"line is not valid UTF-8: {exc.reason}"
                    )
                )
                continue
            except (ValueError, RecursionError) as exc:
                corrupt.append(Corrupt(line, truncate(text), codes.ROW_CORRUPT, f"invalid JSON: {exc}"))
                continue
            if _SURROGATE_ESCAPE.search(text) and (lone := lone_surrogate(value)) is not None:
                corrupt.append(
                    Corrupt(
                        line,
                        truncate(text),
                        codes.ROW_ENCODING,
                        surrogate_message(lone),
                    )
                )
                continue
            if not isinstance(value, dict):
                corrupt.append(
                    Corrupt(
                        line,
                        truncate(text),
                        codes.ROW_CORRUPT,
                        f"a record must be a JSON object, not {kind_of(value)}",
                    )
                )
                continue
            index = len(records)
            converted, errs = _convert_object(value, self.schema.fields, "")
            problems.extend((index, path, msg) for path, msg in errs)
            records.append(converted)
            rows.append(line)
            originals[index] = value  # show what the line held, not its conversion
        if not records:
            return Chunk.only_corrupt(corrupt)
        table = pa.Table.from_pylist(records, schema=self.read_schema)
        extras = ExtraColumns()
        extras.scan_values(originals.values(), self._known)
        return Chunk(
            table,
            pa.array(rows, pa.int64()),
            corrupt,
            _violations(problems, len(records)),
            originals,
            declared=False,
            strings_valid=True,  # Python strings
            extras=extras,
        )


def surrogate_message(lone: str) -> str:
    return (
        f"a string holds the lone surrogate \\u{ord(lone):04x}, which is not a Unicode character "
        "(a \\uD800-\\uDFFF escape must be half of a pair)"
    )


def lone_surrogate(value: Any) -> str | None:
    """The first lone surrogate in any string of ``value`` (keys included), or None."""
    if isinstance(value, str):
        m = _LONE_SURROGATE.search(value)
        return m.group(0) if m else None
    if isinstance(value, dict):
        items: list[Any] = [*value.keys(), *value.values()]
    elif isinstance(value, list):
        items = value
    else:
        return None
    for item in items:
        found = lone_surrogate(item)
        if found is not None:
            return found
    return None


def _violations(problems: list[tuple[int, str, str]], n: int) -> list[Violation]:
    grouped: dict[tuple[str, str], list[int]] = {}
    for index, path, message in problems:
        grouped.setdefault((path, message), []).append(index)
    out = []
    for (path, message), indices in grouped.items():
        hit = set(indices)
        mask = pa.array([i in hit for i in range(n)], pa.bool_())
        out.append(Violation(path, codes.ROW_TYPE, mask, message))
    return out


def kind_of(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


def _convert_object(
    value: dict[str, Any], fields: list[SchemaField], prefix: str
) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    out: dict[str, Any] = {}
    errs: list[tuple[str, str]] = []
    for f in fields:
        v, e = _convert(value.get(f.name), f, f"{prefix}{f.name}")
        out[f.name] = v
        errs.extend(e)
    return out, errs


def _convert(value: Any, node: SchemaField | ItemSchema, path: str) -> tuple[Any, list[tuple[str, str]]]:
    """A JSON value as the Arrow reader would take it for ``node``; (None, error) if it cannot."""
    if value is None:
        return None, []
    t = node.type
    ok = False
    if t in ("string", "timestamp", "date"):
        ok = isinstance(value, str)
    elif t == "integer":
        if isinstance(value, float) and math.isfinite(value) and value.is_integer():
            value = int(value)
        ok = isinstance(value, int) and not isinstance(value, bool) and _INT64[0] <= value <= _INT64[1]
    elif t == "number":
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        if ok:
            value = float(value)
    elif t == "boolean":
        ok = isinstance(value, bool)
    elif t == "object" and isinstance(value, dict):
        return _convert_object(value, node.fields or [], f"{path}.")
    elif t == "array" and isinstance(value, list) and node.items is not None:
        items: list[Any] = []
        errs: list[tuple[str, str]] = []
        for item in value:
            v, e = _convert(item, node.items, f"{path}[]")
            items.append(v)
            errs.extend(e)
        return (None if errs else items), errs
    if ok:
        return value, []
    shown = json.dumps(value, ensure_ascii=False)[:80]
    return None, [(path, f"expected {_expected(t)}, got {kind_of(value)} {shown}")]


def _expected(t: str) -> str:
    return {
        "string": "a string",
        "timestamp": "an ISO-8601 timestamp string",
        "date": "an ISO-8601 date string",
        "integer": "an integer",
        "number": "a number",
        "boolean": "a boolean",
        "object": "an object",
        "array": "an array",
    }.get(t, t)


def read_json_lines(
    src: ByteSource, schema: DatasetSchema, *, block_size: int, first_line: int = 1
) -> Iterator[Unit]:
    parser = JsonBlockParser(schema)
    seen = False
    for block in iter_blocks(src, block_size, first_line=first_line):
        if isinstance(block, Oversize):
            seen = True
            yield Chunk.only_corrupt(
                [
                    Corrupt(
                        block.first_line,
                        truncate(block.head),
                        codes.ROW_TOO_LARGE,
                        "record is larger than the block size",
                    )
                ]
            )
            continue
        if not block.data or block.data.isspace():
            continue
        seen = True
        # Parsed later, on a worker thread (blocks are cut here, in order).
        yield partial(parser.parse, block.data, block.first_line, newlines=block.newlines)
    if not seen and first_line == 1:
        raise FileError(codes.FILE_EMPTY, "the file holds no data")
