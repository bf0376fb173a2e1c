"""Row filters as Iceberg expressions: what a scan prunes files by and filters rows with.

Conditions come typed from :mod:`batchgate.core.row_filter` (the rows API's ``filter=``) or from
``batchgate query``'s SQL planner; both meet here, so an Iceberg scan sees one kind of filter.
"""

from __future__ import annotations

from collections.abc import Iterable

from pyiceberg.expressions import (
    AlwaysTrue,
    And,
    BooleanExpression,
    EqualTo,
    GreaterThan,
    GreaterThanOrEqual,
    In,
    IsNull,
    LessThan,
    LessThanOrEqual,
    LiteralPredicate,
    NotEqualTo,
    NotNull,
    Or,
)

from batchgate.core.row_filter import Condition

_COMPARISONS: dict[str, type[LiteralPredicate]] = {
    "=": EqualTo,
    "!=": NotEqualTo,
    "<": LessThan,
    "<=": LessThanOrEqual,
    ">": GreaterThan,
    ">=": GreaterThanOrEqual,
}


def condition_expression(condition: Condition) -> BooleanExpression:
    if condition.op == "is null":
        return IsNull(term=condition.column)
    if condition.op == "is not null":
        return NotNull(term=condition.column)
    if condition.op == "in":
        return In(term=condition.column, literals=set(condition.values))
    return _COMPARISONS[condition.op](term=condition.column, value=condition.values[0])


def all_of(conditions: Iterable[Condition | BooleanExpression]) -> BooleanExpression:
    """Every condition (an empty list: every row)."""
    parts = [c if isinstance(c, BooleanExpression) else condition_expression(c) for c in conditions]
    if not parts:
        return AlwaysTrue()
    return parts[0] if len(parts) == 1 else And(*parts)


def any_of(expressions: Iterable[BooleanExpression]) -> BooleanExpression:
    """At least one (an empty list: every row, the safe side for a pruning filter)."""
    parts = list(expressions)
    if not parts or any(isinstance(p, AlwaysTrue) for p in parts):
        return AlwaysTrue()
    return parts[0] if len(parts) == 1 else Or(*parts)
