"""A JSON Schema document is accepted wherever a dataset schema is, and becomes the same fields."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from batchgate.core.models import DatasetSchema

PROFILE = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "profile",
    "type": "object",
    "required": ["id", "email"],
    "properties": {
        "id": {"type": "string", "identity": True, "description": "the customer id"},
        "email": {"type": "string", "pattern": "^[^@]+@[^@]+$", "maxLength": 254},
        "age": {"type": ["integer", "null"], "minimum": 0, "maximum": 150},
        "tier": {"type": "string", "enum": ["gold", "silver", "bronze"]},
        "seen": {"type": "string", "format": "date-time"},
        "born": {"type": "string", "format": "date"},
        "address": {
            "type": "object",
            "required": ["city"],
            "properties": {"city": {"type": "string"}, "zip": {"type": "string"}},
            "additionalProperties": False,
        },
        "tags": {"type": "array", "items": {"type": "string"}},
        "score": {"type": "number"},
        "active": {"type": "boolean"},
    },
}


def test_a_profile_schema_becomes_the_same_fields() -> None:
    schema = DatasetSchema.model_validate(PROFILE)
    fields = {f.name: f for f in schema.fields}
    assert [f.name for f in schema.fields] == list(PROFILE["properties"])  # type: ignore[arg-type]
    assert fields["id"].required and fields["id"].identity and fields["email"].required
    assert fields["email"].pattern == "^[^@]+@[^@]+$" and fields["email"].max_length == 254
    assert fields["age"].type == "integer" and not fields["age"].required and fields["age"].maximum == 150
    assert fields["tier"].enum == ["gold", "silver", "bronze"]
    assert (fields["seen"].type, fields["born"].type) == ("timestamp", "date")
    city = fields["address"].fields[0]  # type: ignore[index]
    assert fields["address"].type == "object" and city.name == "city" and city.required
    assert fields["tags"].items is not None and fields["tags"].items.type == "string"
    assert schema.identity_fields == ["id"]


@pytest.mark.parametrize(
    ("document", "named"),
    [
        ({"type": "object", "properties": {"a": {"oneOf": [{"type": "string"}]}}}, "oneOf"),
        ({"type": "object", "properties": {"a": {"$ref": "#/$defs/x"}}}, "$ref"),
        (
            {"type": "object", "properties": {"a": {"type": "string", "exclusiveMinimum": 1}}},
            "exclusiveMinimum",
        ),
        ({"type": "object", "properties": {"a": {"type": ["string", "integer"]}}}, "one type"),
        ({"type": "object", "properties": {"a": {"type": "array"}}}, "items"),
        ({"type": "object", "required": ["b"], "properties": {"a": {"type": "string"}}}, "b"),
        (
            {
                "type": "object",
                "properties": {"o": {"type": "object", "properties": {"x": {"type": "null"}}}},
            },
            "o.x",
        ),
    ],
)
def test_what_has_no_column_equivalent_is_refused_naming_it(document: dict, named: str) -> None:
    with pytest.raises(ValidationError) as info:
        DatasetSchema.model_validate(document)
    assert named in str(info.value)


def test_our_own_form_is_untouched() -> None:
    ours = {"fields": [{"name": "id", "type": "string", "required": True}]}
    assert DatasetSchema.model_validate(ours).model_dump(by_alias=True, exclude_none=True) == ours
