"""A schema is refused, naming why, when it could not be run safely: patterns that backtrack
without bound, and sizes past the limits of core/limits.py."""

from __future__ import annotations

from typing import Any

import pytest

from batchgate.core import limits
from batchgate.core.errors import InvalidRequest
from batchgate.core.models import DatasetSchema, SchemaError
from batchgate.core.schema_rules import check_new_schema


def schema(*fields: dict[str, Any]) -> DatasetSchema:
    return DatasetSchema.model_validate({"fields": list(fields)})


@pytest.mark.parametrize(
    ("pattern", "construct"),
    [
        ("^(?=a)(a+)+$", "(?="),  # the look-ahead of the reported freeze
        ("(?<=x)y", "(?<="),
        (r"(\w+)\1", r"\1"),  # a back-reference
        ("a++", "++"),  # possessive: Python's re takes it, RE2 does not
    ],
)
def test_a_pattern_that_cannot_run_in_linear_time_is_refused_naming_the_construct(
    pattern: str, construct: str
) -> None:
    with pytest.raises(SchemaError) as info:
        check_new_schema(schema({"name": "s", "type": "string", "pattern": pattern}))
    assert info.value.field == "s" and construct in info.value.message and "linear time" in info.value.message


def test_patterns_are_found_in_nested_objects_and_array_items() -> None:
    nested = {"name": "o", "type": "object", "fields": [{"name": "c", "type": "string", "pattern": "(?!x)"}]}
    with pytest.raises(SchemaError) as info:
        check_new_schema(schema(nested))
    assert info.value.field == "o.c"


def test_ordinary_patterns_pass() -> None:
    check_new_schema(schema({"name": "email", "type": "string", "pattern": "^[^@]+@[^@]+$"}))
    check_new_schema(schema({"name": "code", "type": "string", "pattern": r"^\w{2}-\d{4}$"}))


def nested(depth: int) -> dict[str, Any]:
    node: dict[str, Any] = {"name": "leaf", "type": "string"}
    for i in range(depth - 1):
        node = {"name": f"n{i}", "type": "object", "fields": [node]}
    return node


def test_each_limit_is_named_when_exceeded() -> None:
    check_new_schema(schema(nested(limits.SCHEMA_DEPTH.value)))
    cases = [
        (schema(nested(limits.SCHEMA_DEPTH.value + 1)), "maxSchemaDepth"),
        (
            schema({"name": "e", "type": "integer", "enum": list(range(limits.ENUM_VALUES.value + 1))}),
            "maxEnumValues",
        ),
        (
            schema({"name": "p", "type": "string", "pattern": "a" * (limits.PATTERN_LENGTH.value + 1)}),
            "maxPatternLength",
        ),
        (
            schema(*[{"name": f"f{i}", "type": "string"} for i in range(limits.SCHEMA_FIELDS.value + 1)]),
            "maxSchemaFields",
        ),
        (schema({"name": "e", "type": "string", "enum": ["x" * 100] * 5000}), "maxSchemaBytes"),
    ]
    for bad, name in cases:
        with pytest.raises(InvalidRequest) as info:
            check_new_schema(bad)
        assert info.value.code == "BG-400-LIMIT" and name in info.value.message, info.value.message


def test_a_413_limit_says_so() -> None:
    with pytest.raises(Exception) as info:
        limits.RECORD_BYTES.check(limits.RECORD_BYTES.value + 1, "a record", status=413)
    assert getattr(info.value, "status", None) == 413 and "maxRecordBytes" in str(info.value)
