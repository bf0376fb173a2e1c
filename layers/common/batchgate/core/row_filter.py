"""Row filters: the small grammar of the rows API's ``filter=`` and the typed conditions it yields.

One filter is one condition on one column; repeated filters all apply (AND)::

    filter := column op value                      age>=30   tier=gold   email!='a@b.c'
            | column "in" "(" value ("," value)* ")"   tier in (gold,silver)
            | column "is" ["not"] "null"               email is null
    op     := "=" | "!=" | "<>" | "<" | "<=" | ">" | ">="
    value  := 'quoted' (a quote inside doubled: 'O''Brien') | bare text, trimmed

``column`` is a top-level field, a lineage column (``_batch_id``, ``_source_file``,
``_source_row``) or a dotted path into an ``object`` field (``address.city``). Keywords are
case-insensitive. Each value is read as the column's type: ``integer`` a whole number,
``number`` a finite decimal, ``boolean`` ``true``/``false``, ``timestamp`` ISO 8601 (without an
offset: UTC), ``date`` ``YYYY-MM-DD``, ``string`` as written. ``array`` columns and whole
objects cannot be filtered. Anything else is an ``InvalidRequest`` (400) naming the filter.

Conditions are pure data here; :mod:`batchgate.lake.filters` turns them into Iceberg expressions.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from batchgate.core.errors import InvalidRequest
from batchgate.core.limits import FILTER_VALUES, FILTERS
from batchgate.core.models import DatasetSchema, FieldType, SchemaField

Op = Literal["=", "!=", "<", "<=", ">", ">=", "in", "is null", "is not null"]
FILTER_CODE = "BG-400-FILTER"

# The lineage columns every table carries beside the dataset's own (batchgate.lake.tables).
LINEAGE_TYPES: dict[str, FieldType] = {
    "_batch_id": "string",
    "_source_file": "string",
    "_source_row": "integer",
}
ORDERED_TYPES = frozenset({"string", "integer", "number", "timestamp", "date"})
INT64 = (-(2**63), 2**63 - 1)

_COLUMN = r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*"
_NULL_TEST = re.compile(rf"^\s*({_COLUMN})\s+is\s+(not\s+)?null\s*$", re.I)
_IN_LIST = re.compile(rf"^\s*({_COLUMN})\s+in\s*\((.*)\)\s*$", re.I | re.S)
_COMPARISON = re.compile(rf"^\s*({_COLUMN})\s*(!=|<>|<=|>=|=|<|>)(.*)$", re.S)
_INTEGER = re.compile(r"^[+-]?\d+$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
# ISO 8601 as both Python and DuckDB read it alike: date, optional time, optional Z / offset.
_TIMESTAMP = re.compile(
    r"^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,6})?)?)?(?:Z|[+-]\d{2}(?::?\d{2})?)?$"
)


@dataclass(frozen=True)
class Condition:
    """``column op values``: one value for a comparison, one or more for ``in``, none for the
    null tests. Values are typed (int, float, bool, str, date, aware datetime)."""

    column: str
    op: Op
    values: tuple[Any, ...] = ()

    def canonical(self) -> str:
        """A stable text of the condition (page tokens are bound to it)."""
        return f"{self.column} {self.op} {[_canonical_value(v) for v in self.values]!r}"


def _canonical_value(value: Any) -> str:
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).isoformat()
    return f"{type(value).__name__}:{value!r}"


def parse_filters(texts: Sequence[str], schema: DatasetSchema) -> tuple[Condition, ...]:
    """Every ``filter=`` of a request, checked against the dataset's schema."""
    FILTERS.check(len(texts), "the number of filters")
    return tuple(parse_filter(text, schema) for text in texts)


def parse_filter(text: str, schema: DatasetSchema) -> Condition:
    if match := _NULL_TEST.match(text):
        _column(match.group(1), schema, text)
        return Condition(match.group(1), "is not null" if match.group(2) else "is null")
    if match := _IN_LIST.match(text):
        column, kind = _column(match.group(1), schema, text)
        raw = _split_list(match.group(2), text)
        FILTER_VALUES.check(len(raw), f"the values of filter {text!r}")
        return Condition(match.group(1), "in", tuple(_value(v, column, kind, text) for v in raw))
    if match := _COMPARISON.match(text):
        column, kind = _column(match.group(1), schema, text)
        op = "!=" if match.group(2) == "<>" else match.group(2)
        if op not in ("=", "!=") and kind not in ORDERED_TYPES:
            raise _bad(text, f"{kind} column {column!r} takes = and != only")
        value = _value(_one_value(match.group(3), text), column, kind, text)
        return Condition(match.group(1), op, (value,))  # type: ignore[arg-type]
    raise _bad(
        text,
        "write it as column op value (op: = != < <= > >=), column in (v1,v2), or column is [not] null",
    )


def _bad(text: str, why: str) -> InvalidRequest:
    return InvalidRequest(f"filter {text!r}: {why}", code=FILTER_CODE)


def _column(path: str, schema: DatasetSchema, text: str) -> tuple[str, FieldType]:
    """The column's type; an unknown column, an array or a whole object cannot be filtered."""
    head, *rest = path.split(".")
    if head in LINEAGE_TYPES and not rest:
        return path, LINEAGE_TYPES[head]
    fields: Iterable[SchemaField] = schema.fields
    found: SchemaField | None = None
    for i, part in enumerate([head, *rest]):
        found = next((f for f in fields if f.name == part), None)
        if found is None:
            known = ", ".join([*(f.name for f in fields), *(LINEAGE_TYPES if i == 0 else ())])
            raise _bad(text, f"unknown column {'.'.join([head, *rest][: i + 1])!r} (columns: {known})")
        fields = found.fields or []
    assert found is not None
    if found.type in ("object", "array"):
        raise _bad(text, f"column {path!r} is an {found.type}; filter on a field of it (a.b) instead")
    return path, found.type


def _split_list(body: str, text: str) -> list[str]:
    values: list[str] = []
    rest = body
    while True:
        rest = rest.lstrip()
        if rest.startswith("'"):
            value, rest = _quoted(rest, text)
            values.append(value)
            rest = rest.lstrip()
        else:
            cut = rest.find(",")
            values.append(rest[: cut if cut >= 0 else len(rest)].strip())
            rest = rest[cut:] if cut >= 0 else ""
        if not rest:
            break
        if not rest.startswith(","):
            raise _bad(text, "values in a list are separated by commas")
        rest = rest[1:]
    if any(v == "" for v in values) and "'" not in body:
        raise _bad(text, "empty value in the list (quote it: '')")
    return values


def _one_value(raw: str, text: str) -> str:
    stripped = raw.strip()
    if stripped.startswith("'"):
        value, rest = _quoted(stripped, text)
        if rest.strip():
            raise _bad(text, f"unexpected {rest.strip()!r} after the quoted value")
        return value
    if not stripped:
        raise _bad(text, "no value after the operator (an empty string is '')")
    return stripped


def _quoted(text_from_quote: str, text: str) -> tuple[str, str]:
    """The quoted value at the start of ``text_from_quote`` and what follows it."""
    out: list[str] = []
    i = 1
    while i < len(text_from_quote):
        ch = text_from_quote[i]
        if ch == "'":
            if text_from_quote[i + 1 : i + 2] == "'":
                out.append("'")
                i += 2
                continue
            return "".join(out), text_from_quote[i + 1 :]
        out.append(ch)
        i += 1
    raise _bad(text, "a quoted value is not closed")


def _value(raw: str, column: str, kind: FieldType, text: str) -> Any:
    try:
        return typed_value(raw, kind)
    except ValueError as exc:
        raise _bad(text, f"{raw!r} is not a value of {kind} column {column!r}: {exc}") from None


def typed_value(raw: str, kind: FieldType) -> Any:
    """``raw`` read as a ``kind`` value (``ValueError`` saying why not)."""
    if kind == "string":
        return raw
    if kind == "integer":
        if not _INTEGER.match(raw):
            raise ValueError("expected a whole number")
        value = int(raw)
        if not INT64[0] <= value <= INT64[1]:
            raise ValueError("outside the 64-bit range")
        return value
    if kind == "number":
        try:
            number = float(raw)
        except ValueError:
            raise ValueError("expected a number") from None
        if not math.isfinite(number):
            raise ValueError("expected a finite number")
        return number
    if kind == "boolean":
        if raw.lower() not in ("true", "false"):
            raise ValueError("expected true or false")
        return raw.lower() == "true"
    if kind == "date":
        if not _DATE.match(raw):
            raise ValueError("expected YYYY-MM-DD")
        return dt.date.fromisoformat(raw)
    if kind == "timestamp":
        return parse_timestamp(raw)
    raise ValueError(f"{kind} columns cannot be filtered")


def parse_timestamp(raw: str) -> dt.datetime:
    """ISO 8601 (a date alone is midnight); without an offset the time is UTC, as stored."""
    if not _TIMESTAMP.match(raw):
        raise ValueError("expected ISO 8601, e.g. 2026-05-06T07:08:09Z")
    value = dt.datetime.fromisoformat(raw.replace("Z", "+00:00"))
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)
