"""Failed-records lines of a block, built column-wise with Arrow string kernels.

A file where many rows fail (a shifted column, a wrong export) is where per-row Python costs most:
taking each failed row's values to Python, formatting its messages and JSON-encoding the line
cost about 20 µs per row (a 300,000-row CSV with every other row failing spent 5 of its 6 CPU
seconds there). Here each part of the line — the row's values as JSON, each error object, the
row number — is a string column, and the lines are those columns joined.

The text is what ``json.dumps`` writes (same separators, same escapes, non-ASCII kept), except
that temporal values are written as Arrow casts them to text. Values this
module does not render — decimals, maps, bytes that are not UTF-8, NaN and infinities, control
characters other than ``\\b\\f\\n\\r\\t`` — make :func:`table_lines` return None, and the caller
takes the per-row Python path (:mod:`.failed_records`), which handles anything.
"""

from __future__ import annotations

import bisect
import json
import re
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from batchgate.validation.convert import Violation, list_offsets, one_array

SHOWN_MAX = 80  # characters of a value quoted in a message: "(got ...)"

_NEEDS_ESCAPE = r'[\\"\x00-\x1f]'
_ESCAPES = (
    ("\\", "\\\\"),
    ('"', '\\"'),
    ("\n", "\\n"),
    ("\r", "\\r"),
    ("\t", "\\t"),
    ("\b", "\\b"),
    ("\f", "\\f"),
)
_CONTROL = r"[\x00-\x1f]"
_ESCAPED_BYTES = bytes(range(0x20)) + b'\\"'
_RAW_CONTROL = re.compile("[\x00-\x07\x0b\x0e-\x1f]")  # control characters with no short escape


class _Unrenderable(Exception):
    """A value this module does not write; the caller falls back to Python."""


def _const(n: int, text: str) -> pa.Array:
    return pa.nulls(n, pa.string()).fill_null(text)


def _concat(*parts: pa.Array | str) -> pa.Array:
    """Element-wise concatenation (a null part makes a null result)."""
    return pc.binary_join_element_wise(*parts, "")


def quote(s: pa.Array) -> pa.Array:
    """JSON string literals of ``s`` (nulls stay null)."""
    if not pa.types.is_string(s.type):
        s = pc.cast(s, pa.string())
    try:
        # Arrow's JSON and Parquet readers keep string bytes as they are: they may not be UTF-8.
        s.validate(full=True)
    except pa.ArrowInvalid as exc:
        raise _Unrenderable("not UTF-8") from exc
    if (
        _may_need_escapes(s)
        and pc.any(pc.fill_null(pc.match_substring_regex(s, _NEEDS_ESCAPE), False)).as_py()
    ):
        for raw, escaped in _ESCAPES:
            s = pc.replace_substring(s, raw, escaped)
        if pc.any(pc.fill_null(pc.match_substring_regex(s, _CONTROL), False)).as_py():
            raise _Unrenderable("control character")
    return _concat('"', s, '"')


def _may_need_escapes(s: pa.StringArray) -> bool:
    """False when no byte of ``s``'s values is a quote, a backslash or a control character: one
    pass over the values' bytes, where the regex test runs RE2 once per value (and is compiled
    on every call). True means "test each value" (the bytes may also belong to null slots)."""
    if not isinstance(s, pa.StringArray):  # a chunked array: let the regex test decide
        return True
    data = s.buffers()[2]
    if data is None or len(s) == 0:
        return False
    offsets = pa.Array.from_buffers(pa.int32(), len(s) + 1, [None, s.buffers()[1]], offset=s.offset)
    start, end = offsets[0].as_py(), offsets[-1].as_py()
    raw = data.slice(start, end - start).to_pybytes()
    return len(raw.translate(None, _ESCAPED_BYTES)) != len(raw)


def _escaped_constant(text: str) -> str:
    """``text`` escaped as :func:`quote` escapes values (without the quotes around it)."""
    if _RAW_CONTROL.search(text):
        raise _Unrenderable("control character")
    for raw, escaped in _ESCAPES:
        text = text.replace(raw, escaped)
    return text


def _escape_json_text(text: pa.Array) -> pa.Array:
    """JSON text (no raw control characters in it) escaped to sit inside a JSON string."""
    return pc.replace_substring(pc.replace_substring(text, "\\", "\\\\"), '"', '\\"')


def json_text(arr: pa.Array) -> pa.Array:
    """Each value of ``arr`` as JSON text (``null`` for nulls). Raises :class:`_Unrenderable`."""
    n = len(arr)
    t = arr.type
    if pa.types.is_dictionary(t):
        return json_text(arr.dictionary_decode())
    if pa.types.is_null(t):
        return _const(n, "null")
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t):
        text = quote(arr)
    elif pa.types.is_binary(t) or pa.types.is_large_binary(t):
        try:
            text = quote(pc.cast(arr, pa.string()))
        except pa.ArrowInvalid as exc:  # not UTF-8
            raise _Unrenderable("bytes") from exc
    elif pa.types.is_boolean(t):
        text = pc.if_else(arr, "true", "false")
    elif pa.types.is_integer(t):
        text = pc.cast(arr, pa.string())
    elif pa.types.is_floating(t) and not pa.types.is_float16(t):
        if not pc.all(pc.fill_null(pc.is_finite(arr), True)).as_py():
            raise _Unrenderable("NaN or infinity")
        # Python's repr, as json.dumps writes floats: Arrow writes 1.0 as "1" and 1e-05 as
        # "0.00001", which would make messages differ between the two paths.
        text = pa.array([None if x is None else float.__repr__(x) for x in arr.to_pylist()], pa.string())
    elif pa.types.is_temporal(t) and not pa.types.is_duration(t) and not pa.types.is_interval(t):
        text = quote(pc.cast(arr, pa.string()))
    elif pa.types.is_struct(t):
        text = _struct_text(arr)
    elif pa.types.is_list(t) or pa.types.is_large_list(t):
        text = _list_text(arr)
    else:
        raise _Unrenderable(str(t))
    if arr.null_count:
        text = pc.if_else(arr.is_null(), pa.scalar("null"), text)
    return text


def _struct_text(arr: pa.StructArray) -> pa.Array:
    t = arr.type
    if t.num_fields == 0:
        return _const(len(arr), "{}")
    # One concatenation: {"a": <a>, "b": <b>} (the members' texts are never null).
    parts: list[pa.Array | str] = []
    for i, child in enumerate(arr.flatten()):
        name = json.dumps(t.field(i).name, ensure_ascii=False)
        parts += [("{" if i == 0 else ", ") + name + ": ", json_text(child)]
    return _concat(*parts, "}")


def _list_text(arr: pa.ListArray) -> pa.Array:
    items = json_text(pc.list_flatten(arr))
    lengths = pc.fill_null(pc.list_value_length(arr), 0)
    offsets = list_offsets(lengths)
    joined = pc.binary_join(pa.ListArray.from_arrays(offsets, items), ", ")
    return _concat("[", joined, "]")


def shown(values: pa.Array) -> pa.Array:
    """Values as quoted in messages: JSON text, cut to :data:`SHOWN_MAX` characters."""
    text = json_text(values)
    # A value has at least as many bytes as characters: most blocks need no character count.
    if (pc.max(pc.binary_length(text)).as_py() or 0) <= SHOWN_MAX:
        return text
    long = pc.greater(pc.utf8_length(text), pa.scalar(SHOWN_MAX, pa.int32()))
    if not pc.any(long).as_py():
        return text
    return pc.if_else(long, _concat(pc.utf8_slice_codeunits(text, 0, SHOWN_MAX - 3), "..."), text)


@dataclass
class TableLines:
    """Lines of a block's failed table rows (in the order of ``indices``) and, for the first
    ones, their errors as (field, code, message), for the file's error summary."""

    lines: pa.Array
    first_errors: list[list[tuple[str | None, str, str]]]


def table_lines(
    table: pa.Table,
    rows: pa.Array,
    indices: pa.Array,
    violations: list[Violation],
    file_name: str,
    first: int,
) -> TableLines | None:
    """Failed-records lines of the rows ``indices`` of ``table`` (the block as read; ``rows`` are
    their row numbers). Errors are listed in the order of ``violations``, as the per-row path
    lists them. None when a value cannot be rendered here.

    The values are rendered column-wise; each error object is rendered only for the rows its
    violation hits (the message's constant part escaped once, in Python), and the objects are
    joined per row in Python: a block's failed rows are few, Arrow calls on all of them for
    every violation cost more than the join."""
    n = len(indices)
    k = min(first, n)
    first_errors: list[list[tuple[str | None, str, str]]] = [[] for _ in range(k)]
    # One string per row (not a list: strings are not tracked by the garbage collector, and
    # thousands of lists per block made it run).
    per_row: list[str] = [""] * n
    try:
        if table.num_columns:
            values = json_text(
                pa.StructArray.from_arrays(
                    [one_array(c) for c in table.take(indices).columns], names=table.column_names
                )
            )
        else:
            values = _const(n, "{}")
        for v in violations:
            hit = pc.take(v.mask, indices)
            if hit.null_count:
                hit = pc.fill_null(hit, False)
            at = pc.indices_nonzero(hit)
            if not len(at):
                continue
            head = f'{{"code": {json.dumps(v.code)}, "message": "{_escaped_constant(v.message)}'
            tail = f'", "field": {json.dumps(v.field, ensure_ascii=False)}}}'
            positions = at.to_pylist()
            if v.values is None:
                objects = [head + tail] * len(positions)
                messages = [v.message] * len(positions)
            else:
                taken = pc.take(v.values, pc.take(indices, at))
                got = shown(taken)
                text = _concat(head + " (got ", _escape_json_text(got), ")" + tail)
                if taken.null_count:  # a null is not shown
                    text = pc.if_else(taken.is_valid(), text, pa.scalar(head + tail))
                objects = text.to_pylist()
                messages = [
                    v.message if g is None else f"{v.message} (got {g})"
                    for g in pc.if_else(taken.is_valid(), got, pa.scalar(None, pa.string()))
                    .slice(0, _count_below(positions, k))
                    .to_pylist()
                ]
            for j, (p, obj) in enumerate(zip(positions, objects, strict=True)):
                per_row[p] = f"{per_row[p]}, {obj}" if per_row[p] else obj
                if p < k:
                    first_errors[p].append((v.field, v.code, messages[j]))
    except _Unrenderable:
        return None
    errors = pa.array(per_row, pa.string())
    head = '{"_corrupt_record": null, "_values": '
    tail = f', "_filename": {json.dumps(file_name, ensure_ascii=False)}, "_row": '
    row_text = pc.cast(pc.take(rows, indices), pa.string())
    lines = _concat(head, values, ', "_errors": [', errors, "]", tail, row_text, "}")
    return TableLines(lines, first_errors)


def _count_below(positions: list[int], k: int) -> int:
    """How many of the sorted ``positions`` are below ``k``."""
    return bisect.bisect_left(positions, k)
