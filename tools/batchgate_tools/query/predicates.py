"""One WHERE conjunct of DuckDB's parse tree as an Iceberg expression, when that is exact.

A pushed-down predicate may keep more rows than the SQL does (DuckDB filters again), never fewer.
So a conjunct is pushed only when the Iceberg scan keeps every row DuckDB would, which rules out:

- literals of another kind than the column (``age < 30.5`` on an integer: the conversion would
  round), and anything that is not a plain literal (expressions, casts of columns, parameters);
- ``>``, ``>=`` and ``!=`` on doubles: DuckDB orders NaN above every number (``NaN > 1`` is
  true) while Arrow compares it false, so those would drop NaN rows DuckDB keeps;
- ``IS NULL`` on the nullable side of an outer join: the join makes rows NULL that the scan
  never held, so filtering the scan changes which rows are NULL-extended.

Timestamps: the query runs with DuckDB's TimeZone set to UTC, so a literal without an offset
means UTC in DuckDB as it does here.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pyiceberg.expressions import BooleanExpression
from pyiceberg.types import (
    BooleanType,
    DateType,
    DoubleType,
    IcebergType,
    IntegerType,
    LongType,
    StringType,
    TimestamptzType,
)

from batchgate.core.row_filter import Condition, parse_timestamp
from batchgate.lake.filters import all_of, any_of, condition_expression

_COMPARE = {
    "COMPARE_EQUAL": "=",
    "COMPARE_NOTEQUAL": "!=",
    "COMPARE_LESSTHAN": "<",
    "COMPARE_GREATERTHAN": ">",
    "COMPARE_LESSTHANOREQUALTO": "<=",
    "COMPARE_GREATERTHANOREQUALTO": ">=",
}
_FLIPPED = {"=": "=", "!=": "!=", "<": ">", ">": "<", "<=": ">=", ">=": "<="}
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_OFFSET = re.compile(r"[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}(?::?\d{2})?)$")
_TIMESTAMPTZ_NAMES = frozenset({"TIMESTAMPTZ", "TIMESTAMP WITH TIME ZONE"})
_INT_RANGE = {IntegerType: (-(2**31), 2**31 - 1), LongType: (-(2**63), 2**63 - 1)}
NO_VALUE = object()


@dataclass(frozen=True)
class Column:
    """A top-level column of a dataset's table."""

    name: str
    type: IcebergType | None  # None: not known (a dataset whose table does not exist yet)


Binder = Callable[[dict[str, Any]], Column | None]


def conjuncts(where: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The AND-ed parts of a WHERE clause."""
    if not where:
        return []
    if where.get("type") == "CONJUNCTION_AND":
        return [part for child in where.get("children") or [] for part in conjuncts(child)]
    return [where]


def to_expression(node: dict[str, Any], bind: Binder, *, nullable_side: bool) -> BooleanExpression | None:
    """``node`` as an Iceberg expression over the columns ``bind`` resolves, or ``None``."""
    kind = node.get("type")
    if kind == "CONJUNCTION_AND":  # a weaker filter is still a correct one: drop what cannot go
        parts = [
            p
            for c in node.get("children") or []
            if (p := to_expression(c, bind, nullable_side=nullable_side))
        ]
        return all_of(parts) if parts else None
    if kind == "CONJUNCTION_OR":  # every branch, or nothing
        branches = [to_expression(c, bind, nullable_side=nullable_side) for c in node.get("children") or []]
        return any_of(b for b in branches if b is not None) if branches and None not in branches else None
    if kind in _COMPARE:
        return _comparison(node, bind)
    if kind == "COMPARE_IN":
        first, *rest = node.get("children") or [{}]
        column = _bound(first, bind)
        if column is None or not rest or not _allowed("=", column.type):
            return None
        values = [literal_value(v, column.type) for v in rest]
        if any(v is NO_VALUE for v in values):
            return None
        return condition_expression(Condition(column.name, "in", tuple(values)))
    if kind in ("OPERATOR_IS_NULL", "OPERATOR_IS_NOT_NULL"):
        column = _bound((node.get("children") or [{}])[0], bind)
        if column is None or (kind == "OPERATOR_IS_NULL" and nullable_side):
            return None
        return condition_expression(
            Condition(column.name, "is null" if kind == "OPERATOR_IS_NULL" else "is not null")
        )
    if kind == "COMPARE_BETWEEN":
        column = _bound(node.get("input") or {}, bind)
        if column is None:
            return None
        bounds = [(">=", node.get("lower") or {}), ("<=", node.get("upper") or {})]
        parts = [
            condition_expression(Condition(column.name, op, (value,)))  # type: ignore[arg-type]
            for op, literal in bounds
            if _allowed(op, column.type) and (value := literal_value(literal, column.type)) is not NO_VALUE
        ]
        return all_of(parts) if parts else None
    return None


def _comparison(node: dict[str, Any], bind: Binder) -> BooleanExpression | None:
    op = _COMPARE[str(node.get("type"))]
    left, right = node.get("left") or {}, node.get("right") or {}
    column, literal = _bound(left, bind), right
    if column is None:
        column, literal, op = _bound(right, bind), left, _FLIPPED[op]
    if column is None or not _allowed(op, column.type):
        return None
    value = literal_value(literal, column.type)
    if value is NO_VALUE:
        return None
    return condition_expression(Condition(column.name, op, (value,)))  # type: ignore[arg-type]


def _bound(node: dict[str, Any], bind: Binder) -> Column | None:
    return bind(node) if node.get("class") == "COLUMN_REF" else None


def _allowed(op: str, kind: IcebergType | None) -> bool:
    if isinstance(kind, DoubleType):
        return op in ("=", "<", "<=")
    if isinstance(kind, BooleanType):
        return op in ("=", "!=")
    return True


def literal_value(node: dict[str, Any], kind: IcebergType | None) -> Any:
    """The literal ``node`` as a value of the column type ``kind``, exactly as DuckDB would
    compare it; ``NO_VALUE`` when it is no plain literal or would need a lossy conversion."""
    if kind is None:
        return NO_VALUE
    cast_to = None
    if node.get("class") == "CAST" and not node.get("try_cast"):
        cast_to = str((node.get("type_expr") or {}).get("type_name") or "").upper()
        node = node.get("child") or {}
    if node.get("class") != "CONSTANT":
        return NO_VALUE
    literal = node.get("literal") or {}
    literal_kind, text = literal.get("kind"), literal.get("text")
    if not isinstance(text, str):
        return NO_VALUE
    try:
        if cast_to is None:
            return _plain(literal_kind, text, kind)
        if literal_kind == "STRING":
            return _cast_string(cast_to, text, kind)
    except ValueError:
        pass
    return NO_VALUE


def _plain(literal_kind: Any, text: str, kind: IcebergType) -> Any:
    if isinstance(kind, IntegerType | LongType) and literal_kind == "INTEGER":
        low, high = _INT_RANGE[type(kind)]
        value = int(text)
        return value if low <= value <= high else NO_VALUE
    if isinstance(kind, DoubleType) and literal_kind in ("INTEGER", "NUMERIC"):
        number = float(text)
        return number if number == number and abs(number) != float("inf") else NO_VALUE
    if isinstance(kind, StringType) and literal_kind == "STRING":
        return text
    if isinstance(kind, BooleanType) and literal_kind == "BOOLEAN":
        return text.lower() == "true"
    if literal_kind == "STRING":  # DuckDB casts a string literal to the column's type
        implicit = "DATE" if isinstance(kind, DateType) else "TIMESTAMPTZ"
        return _cast_string(implicit, text, kind)
    return NO_VALUE


def _cast_string(cast_to: str, text: str, kind: IcebergType) -> Any:
    if isinstance(kind, StringType) and cast_to in ("VARCHAR", "TEXT", "STRING"):
        return text
    if isinstance(kind, DateType) and cast_to == "DATE" and _DATE.match(text):
        return dt.date.fromisoformat(text)
    if isinstance(kind, TimestamptzType):
        if cast_to in _TIMESTAMPTZ_NAMES or (cast_to == "TIMESTAMP" and not _OFFSET.search(text)):
            return parse_timestamp(text)
        if cast_to == "DATE" and _DATE.match(text):
            return parse_timestamp(text)
    return NO_VALUE
