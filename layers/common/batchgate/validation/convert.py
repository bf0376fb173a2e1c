"""Vectorised conversion of loosely parsed Arrow arrays into the dataset's Arrow types.

``conform(array, target, path)`` returns the converted array and a list of :class:`Violation`:
cells that could not be converted become null and are reported (``BG-ROW-TYPE``, or
``BG-ROW-ENCODING`` for bytes that are not UTF-8). Nothing here raises on bad data.

Why this shape: readers parse loosely (CSV cells as bytes, JSON dates as strings, Parquet columns as
written) so that one bad cell never fails a whole block; the cast then runs on whole columns, and
only when a cast fails do we look for the bad cells — first with a regex pre-filter for the common
syntaxes, then by bisecting the column (``O(k log n)`` casts for ``k`` bad cells).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pajson

from batchgate.validation import codes

_INT_RE = r"^[+-]?\d+$"
_FLOAT_RE = r"^[+-]?(\d+\.?\d*([eE][+-]?\d+)?|\.\d+([eE][+-]?\d+)?|inf|Infinity|nan|NaN)$"
BOOL_TRUE = ("true", "1", "t", "yes", "y")
BOOL_FALSE = ("false", "0", "f", "no", "n")
_ZONE_RE = r"[T ]\d\d:\d\d(:\d\d(\.\d+)?)?(Z|z|[+-]\d\d(:?\d\d)?)$"
_DATE_RE = r"^\d{4}-\d{2}-\d{2}$"
_TS_RE = r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?)?(Z|z|[+-]\d\d(:?\d\d)?)?$"


@dataclass
class Violation:
    """Rows (``mask`` true) that break one rule on one field; ``values`` shows what was found."""

    field: str
    code: str
    mask: pa.BooleanArray
    message: str
    values: pa.Array | None = None


def arange(start: int, n: int) -> pa.Array:
    """``start, start+1, ... start+n-1`` as int64, built by Arrow (no Python loop)."""
    if n <= 0:
        return pa.array([], pa.int64())
    ones = pa.nulls(n, pa.int64()).fill_null(1)
    return pc.add(pc.cumulative_sum(ones), start - 1)


def list_offsets(lengths: pa.Array) -> pa.Array:
    """int32 offsets of lists holding ``lengths`` items each (no nulls in ``lengths``)."""
    return pa.concat_arrays([pa.array([0], pa.int32()), pc.cast(pc.cumulative_sum(lengths), pa.int32())])


def one_array(col: pa.Array | pa.ChunkedArray) -> pa.Array:
    """A column as one array. A single chunk (a column of a table built from arrays, or of one
    parsed block) is returned as it is: ``combine_chunks`` would copy it."""
    if not isinstance(col, pa.ChunkedArray):
        return col
    return col.chunk(0) if col.num_chunks == 1 else col.combine_chunks()


def _false(n: int) -> pa.BooleanArray:
    return pa.nulls(n, pa.bool_()).fill_null(False)


def _is_true(mask: pa.Array) -> pa.BooleanArray:
    """A boolean mask with nulls read as false."""
    return pc.fill_null(mask, False)


def cast_locate(
    arr: pa.Array, fn: Callable[[pa.Array], pa.Array], out_type: pa.DataType
) -> tuple[pa.Array, pa.BooleanArray]:
    """Apply ``fn`` to ``arr``; where it fails, find the failing cells by bisection.

    Returns the converted array (failing cells null, of ``out_type``) and a mask of failing cells.
    ``fn`` must be element-wise.
    """
    try:
        return fn(arr), _false(len(arr))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError, OverflowError):
        pass
    if len(arr) == 1:
        return pa.nulls(1, out_type), pa.array([arr[0].is_valid], pa.bool_())
    mid = len(arr) // 2
    left, lmask = cast_locate(arr.slice(0, mid), fn, out_type)
    right, rmask = cast_locate(arr.slice(mid), fn, out_type)
    return pa.concat_arrays([left, right]), pa.concat_arrays([lmask, rmask])


def _prefiltered_cast(
    arr: pa.Array, pattern: str | None, fn: Callable[[pa.Array], pa.Array], out_type: pa.DataType
) -> tuple[pa.Array, pa.BooleanArray]:
    """Null out cells failing ``pattern`` (cheap, vectorised) before the cast; locate the rest."""
    bad = _false(len(arr))
    if pattern is not None:
        ok = _is_true(pc.match_substring_regex(arr, pattern))
        bad = pc.and_(arr.is_valid(), pc.invert(ok))
        if pc.any(bad).as_py():
            arr = pc.if_else(bad, pa.scalar(None, arr.type), arr)
    out, failed = cast_locate(arr, fn, out_type)
    return out, pc.or_(bad, failed)


def _string_to_timestamp(arr: pa.Array, target: pa.DataType) -> pa.Array:
    # Arrow refuses zone-less strings for a zoned type; a zone-less timestamp is read as UTC.
    zoned = _is_true(pc.match_substring_regex(arr, _ZONE_RE))
    if pc.all(pc.or_(zoned, arr.is_null())).as_py():
        return pc.cast(arr, target)
    naive = pc.if_else(zoned, pa.scalar(None, arr.type), arr)
    # A bare date is midnight UTC (Arrow's timestamp parser wants a time part).
    date_only = _is_true(pc.match_substring_regex(naive, _DATE_RE))
    naive = pc.if_else(date_only, pc.binary_join_element_wise(naive, "T00:00:00", ""), naive)
    naive_ts = pc.cast(pc.cast(naive, pa.timestamp(target.unit)), target)
    if not pc.any(zoned).as_py():
        return naive_ts
    zoned_ts = pc.cast(pc.if_else(zoned, arr, pa.scalar(None, arr.type)), target)
    return pc.if_else(zoned, zoned_ts, naive_ts)


def from_string(arr: pa.Array, target: pa.DataType) -> tuple[pa.Array, pa.BooleanArray]:
    """String cells → ``target``; empty/blank cells count as null for non-string targets."""
    if pa.types.is_string(target):
        return arr, _false(len(arr))
    if pa.types.is_struct(target) or pa.types.is_list(target):
        return parse_json_cells(arr, target)
    # Fast path, the common case: the whole column casts as it is.
    try:
        return pc.cast(arr, target), _false(len(arr))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        pass
    trimmed = pc.utf8_trim_whitespace(arr)
    trimmed = pc.if_else(pc.equal(trimmed, ""), pa.scalar(None, pa.string()), trimmed)
    if pa.types.is_integer(target):
        return _prefiltered_cast(trimmed, _INT_RE, lambda a: pc.cast(a, target), target)
    if pa.types.is_floating(target):
        return _prefiltered_cast(trimmed, _FLOAT_RE, lambda a: pc.cast(a, target), target)
    if pa.types.is_boolean(target):
        low = pc.utf8_lower(trimmed)
        is_t = pc.is_in(low, pa.array(BOOL_TRUE))
        is_f = pc.is_in(low, pa.array(BOOL_FALSE))
        out = pc.if_else(is_t, True, pc.if_else(is_f, False, pa.scalar(None, pa.bool_())))
        bad = pc.and_(low.is_valid(), pc.invert(pc.or_(is_t, is_f)))
        return out, bad
    if pa.types.is_date(target):
        return _prefiltered_cast(trimmed, _DATE_RE, lambda a: pc.cast(a, target), target)
    if pa.types.is_timestamp(target):
        return _prefiltered_cast(trimmed, _TS_RE, lambda a: _string_to_timestamp(a, target), target)
    return cast_locate(trimmed, lambda a: pc.cast(a, target), target)


_SAMPLE = 4096


def values_repeat(arr: pa.Array) -> bool:
    """Whether a column's values repeat a lot, judged on its first rows: at most one distinct
    value in eight (tags, categories, flags written as text)."""
    n = min(len(arr), _SAMPLE)
    if n < 1024:
        return False
    return int(pc.count_distinct(arr.slice(0, n)).as_py()) * 8 <= n


def from_distinct_strings(arr: pa.Array, target: pa.DataType) -> tuple[pa.Array, pa.BooleanArray]:
    """:func:`from_string` on the distinct values only, then spread back to the rows.

    Every conversion here is a function of the cell alone, so converting each distinct value
    once gives the same cells and the same failures; for a column like ``tags`` (a few distinct
    JSON lists over many rows) it costs a quarter of converting every cell."""
    encoded = pc.dictionary_encode(arr)
    out, bad = from_string(encoded.dictionary, target)
    return pc.take(out, encoded.indices), pc.fill_null(pc.take(bad, encoded.indices), False)


def parse_json_cells(arr: pa.Array, target: pa.DataType) -> tuple[pa.Array, pa.BooleanArray]:
    """Cells holding JSON text (a CSV ``tags`` cell like ``["a","b"]``) → nested Arrow values.

    Vectorised: the cells become one JSON Lines buffer ``{"v": <cell>}`` parsed by Arrow's JSON
    reader; cells that break it are found by bisection and reported as type errors.
    """
    if len(arr) == 0:
        return pa.nulls(0, target), _false(0)
    fast = _string_lists(arr, target)
    if fast is not None:
        return fast, _false(len(arr))
    schema = pa.schema([pa.field("v", target)])
    # A raw newline is never valid inside a JSON string, so flattening them keeps one cell per line.
    flat = pc.replace_substring(pc.replace_substring(arr, "\n", " "), "\r", " ")
    text = pc.fill_null(flat, "null")

    def parse(cells: pa.Array) -> pa.Array:
        lines = pc.binary_join_element_wise('{"v":', cells, "}", "")
        buf = join_lines(lines)
        table = pajson.read_json(
            pa.BufferReader(buf),
            read_options=pajson.ReadOptions(use_threads=True, block_size=max(1 << 20, buf.size // 4 + 1)),
            parse_options=pajson.ParseOptions(explicit_schema=schema, unexpected_field_behavior="error"),
        )
        if table.num_rows != len(cells):
            raise pa.ArrowInvalid("a cell holds more than one JSON value")
        return one_array(table.column("v"))

    out, bad = cast_locate(text, parse, target)
    bad = pc.and_(bad, arr.is_valid())
    return pc.if_else(arr.is_null(), pa.scalar(None, target), out) if arr.null_count else out, bad


# A JSON array of strings (',' or ', ' between items) with no backslash (so no escaped quote inside an item), as JSON
# writers produce it: items can be cut at each '","' instead of running a JSON parser.
_COMPACT_STRING_LIST = r'^\[("[^"\\]*"(, ?"[^"\\]*")*)?\]$'


def _string_lists(arr: pa.Array, target: pa.DataType) -> pa.Array | None:
    """Fast path for ``list<string>`` cells like ``["a","b"]``; None when any cell needs JSON."""
    if not (pa.types.is_list(target) and pa.types.is_string(target.value_type)):
        return None
    if arr.null_count == len(arr):
        return pa.nulls(len(arr), target)
    compact = pc.match_substring_regex(arr, _COMPACT_STRING_LIST)
    if not pc.all(pc.fill_null(compact, True)).as_py():
        return None
    inner = pc.utf8_slice_codeunits(arr, 2, -2)
    # json.dumps writes '", "' between items: one literal replace makes every cell compact. An
    # item cannot hold '", "' itself (its quote would need a backslash).
    inner = pc.replace_substring(inner, '", "', '","')
    items = pc.split_pattern(inner, '","')
    # "[]" and '[""]' both leave an empty inner text: only the longer one holds an item.
    empty = pc.fill_null(pc.equal(arr, "[]"), False)
    if pc.any(empty).as_py():
        items = _emptied(items, empty)
    return pc.cast(items, target)


def _emptied(items: pa.ListArray, empty: pa.BooleanArray) -> pa.ListArray:
    """``items`` with the lists where ``empty`` is true made empty (their one "" item dropped).

    Rebuilt from offsets and values: ``if_else`` over a list array copies it element by element
    and cost more than the rest of the string-list path."""
    lengths = pc.if_else(empty, 0, pc.fill_null(pc.list_value_length(items), 0))
    offsets = list_offsets(lengths)
    keep = pc.invert(pc.take(empty, pc.list_parent_indices(items)))
    values = pc.list_flatten(items).filter(keep)
    mask = items.is_null() if items.null_count else None
    return pa.ListArray.from_arrays(offsets, values, mask=mask)


def join_lines(lines: pa.Array) -> pa.Buffer:
    """All cells joined by newlines, without a Python loop (binary_join over one list)."""
    one_list = pa.ListArray.from_arrays(pa.array([0, len(lines)], pa.int32()), lines)
    joined = pc.binary_join(one_list, "\n")[0]
    return joined.as_buffer() if joined.is_valid else pa.py_buffer(b"")


def _check_utf8(arr: pa.Array, path: str) -> tuple[pa.Array, list[Violation]]:
    """Arrow's JSON and Parquet readers take string bytes as they are: check they are UTF-8."""
    if not _has_strings(arr.type):
        return arr, []

    def valid(a: pa.Array) -> pa.Array:
        a.validate(full=True)
        return a

    out, bad = cast_locate(arr, valid, arr.type)
    if not pc.any(bad).as_py():
        return arr, []
    return out, [Violation(path, codes.ROW_ENCODING, bad, "value is not valid UTF-8")]


def _has_strings(t: pa.DataType) -> bool:
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return True
    if pa.types.is_struct(t):
        return any(_has_strings(f.type) for f in t)
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        return _has_strings(t.value_type)
    return False


def as_bytes_type(t: pa.DataType) -> pa.DataType:
    """``t`` with every string replaced by binary (to show values that are not valid UTF-8)."""
    if pa.types.is_string(t):
        return pa.binary()
    if pa.types.is_large_string(t):
        return pa.large_binary()
    if pa.types.is_struct(t):
        return pa.struct([pa.field(f.name, as_bytes_type(f.type)) for f in t])
    if pa.types.is_list(t):
        return pa.list_(as_bytes_type(t.value_type))
    if pa.types.is_large_list(t):
        return pa.large_list(as_bytes_type(t.value_type))
    return t


def decode_utf8(arr: pa.Array, path: str) -> tuple[pa.Array, list[Violation]]:
    """Bytes → UTF-8 strings; cells with invalid UTF-8 become null and a ``BG-ROW-ENCODING``."""
    out, bad = cast_locate(arr, lambda a: pc.cast(a, pa.string()), pa.string())
    if not pc.any(bad).as_py():
        return out, []
    return out, [Violation(path, codes.ROW_ENCODING, bad, "value is not valid UTF-8")]


def conform(
    arr: pa.Array, target: pa.DataType, path: str, *, strings_valid: bool = False
) -> tuple[pa.Array, list[Violation]]:
    """Convert ``arr`` to ``target``; failed cells become null and are reported as violations.

    ``strings_valid``: the reader already checked strings are UTF-8 (skip checking again)."""
    arr = one_array(arr)
    src = arr.type
    if src == target:
        return (arr, []) if strings_valid else _check_utf8(arr, path)
    if pa.types.is_null(src):
        return pa.nulls(len(arr), target), []
    if pa.types.is_dictionary(src):
        return conform(arr.dictionary_decode(), target, path)
    if pa.types.is_binary(src) or pa.types.is_large_binary(src):
        text, violations = decode_utf8(arr, path)
        out, more = conform(text, target, path)
        return out, violations + more
    if pa.types.is_large_string(src) or pa.types.is_string_view(src):
        return conform(pc.cast(arr, pa.string()), target, path)
    if pa.types.is_struct(target) and pa.types.is_struct(src):
        return _conform_struct(arr, target, path)
    if pa.types.is_list(target) and (pa.types.is_list(src) or pa.types.is_large_list(src)):
        return _conform_list(arr, target, path)
    if pa.types.is_string(src):
        if not strings_valid:
            arr, encoding = _check_utf8(arr, path)
            if encoding:
                out, more = conform(arr, target, path, strings_valid=True)
                return out, encoding + more
        if not pa.types.is_string(target) and values_repeat(arr):
            out, bad = from_distinct_strings(arr, target)
        else:
            out, bad = from_string(arr, target)
    elif pa.types.is_timestamp(target) and pa.types.is_timestamp(src):
        # Units and zones are representation, not meaning: a ns or naive (= UTC) timestamp is fine.
        out, bad = cast_locate(arr, lambda a: pc.cast(a, target, safe=False), target)
    else:
        out, bad = cast_locate(arr, lambda a: pc.cast(a, target), target)
    if not pc.any(bad).as_py():
        return out, []
    return out, [Violation(path, codes.ROW_TYPE, bad, f"value is not a valid {_type_name(target)}", arr)]


def _conform_struct(arr: pa.Array, target: pa.StructType, path: str) -> tuple[pa.Array, list[Violation]]:
    n = len(arr)
    src_names = {arr.type.field(i).name: i for i in range(arr.type.num_fields)}
    children: list[pa.Array] = []
    violations: list[Violation] = []
    flat = arr.flatten()  # children with the parent's nulls applied
    for i in range(target.num_fields):
        f = target.field(i)
        if f.name in src_names:
            child, vs = conform(flat[src_names[f.name]], f.type, f"{path}.{f.name}")
            violations.extend(vs)
        else:
            child = pa.nulls(n, f.type)
        children.append(child)
    mask = arr.is_null() if arr.null_count else None
    return pa.StructArray.from_arrays(children, fields=list(target), mask=mask), violations


def _conform_list(arr: pa.Array, target: pa.ListType, path: str) -> tuple[pa.Array, list[Violation]]:
    values = pc.list_flatten(arr)
    new_values, elem_violations = conform(values, target.value_type, f"{path}[]")
    lengths = pc.fill_null(pc.list_value_length(arr), 0)
    offsets = list_offsets(lengths)
    mask = arr.is_null() if arr.null_count else None
    out = pa.ListArray.from_arrays(offsets, new_values, type=target, mask=mask)
    if not elem_violations:
        return out, []
    parents = pc.list_parent_indices(arr)
    row_ids = arange(0, len(arr))
    violations = [
        Violation(v.field, v.code, pc.is_in(row_ids, parents.filter(v.mask)), v.message)
        for v in elem_violations
    ]
    return out, violations


def _type_name(t: pa.DataType) -> str:
    if pa.types.is_integer(t):
        return "integer"
    if pa.types.is_floating(t):
        return "number"
    if pa.types.is_boolean(t):
        return "boolean"
    if pa.types.is_timestamp(t):
        return "timestamp (ISO-8601)"
    if pa.types.is_date(t):
        return "date (YYYY-MM-DD)"
    if pa.types.is_struct(t):
        return "object"
    if pa.types.is_list(t):
        return "array"
    return str(t)


def to_json_text(value: object) -> str:
    """JSON text of a parsed value for messages and failed-record files (dates as ISO strings)."""
    return json.dumps(value, default=str, ensure_ascii=False)
