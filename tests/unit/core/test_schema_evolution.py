"""Which schema changes a dataset with landed rows accepts (core/schema_evolution.py)."""

from __future__ import annotations

from typing import Any

import pytest

from batchgate.core.models import DatasetSchema
from batchgate.core.schema_evolution import SchemaConflict, evolve


def schema(*fields: dict[str, Any]) -> DatasetSchema:
    return DatasetSchema.model_validate({"fields": list(fields)})


ID = {"name": "id", "type": "string", "required": True}
ADDRESS = {"name": "address", "type": "object", "fields": [{"name": "city", "type": "string"}]}


def test_added_optional_columns_top_level_and_nested_are_listed() -> None:
    new_address = {**ADDRESS, "fields": [*ADDRESS["fields"], {"name": "zip", "type": "string"}]}
    change = evolve(schema(ID, ADDRESS), schema(ID, new_address, {"name": "tier", "type": "string"}))
    assert [path for path, _ in change.added] == ["address.zip", "tier"]
    assert not change.relaxed and not change.empty


def test_relaxations_are_listed_and_an_identical_schema_changes_nothing() -> None:
    old = schema(ID, {"name": "n", "type": "number", "minimum": 0, "maximum": 10, "enum": [1, 2]})
    new = schema(
        {**ID, "required": False},
        {"name": "n", "type": "number", "maximum": 20, "enum": [1, 2, 3], "allowNonFinite": True},
    )
    relaxed = evolve(old, new).relaxed
    assert relaxed == [
        "id: no longer required",
        "n: enum values added",
        "n: maximum 10 → 20",
        "n: minimum 0 → none",
        "n: allows NaN and Infinity",
    ]
    assert evolve(old, old).empty
    assert evolve(schema({**ID, "identity": False}), schema(ID)).empty, "identity false is no identity"


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ([ID, ADDRESS], [ID], "address: removing a column"),
        ([ID], [ID, {"name": "x", "type": "string", "required": True}], "x: a new column must be optional"),
        (
            [ID, {"name": "n", "type": "integer"}],
            [ID, {"name": "n", "type": "number"}],
            "changing type integer",
        ),
        ([{**ID, "required": False}], [ID], "id: making a column required"),
        (
            [ID, {"name": "s", "type": "string"}],
            [ID, {"name": "s", "type": "string", "enum": ["a"]}],
            "adding an enum",
        ),
        (
            [ID, {"name": "s", "type": "string"}],
            [ID, {"name": "s", "type": "string", "pattern": "^a"}],
            "s: a new or changed pattern",
        ),
        (
            [ID, {"name": "s", "type": "string", "maxLength": 5}],
            [ID, {"name": "s", "type": "string", "maxLength": 4}],
            "narrowing max_length from 5 to 4",
        ),
        (
            [ID, {"name": "n", "type": "number", "allowNonFinite": True}],
            [ID, {"name": "n", "type": "number"}],
            "turning allowNonFinite off",
        ),
        (
            [ID, {"name": "a", "type": "array", "items": {"type": "string"}}],
            [ID, {"name": "a", "type": "array", "items": {"type": "integer"}}],
            "a[]: the array's item type",
        ),
        (
            [ID, ADDRESS],
            [ID, {**ADDRESS, "fields": [{"name": "zip", "type": "string"}]}],
            "address.city: removing a column",
        ),
        ([ID], [{**ID, "identity": True}], "the upsert identity"),
    ],
)
def test_what_landed_rows_could_break_is_refused_naming_the_field(
    old: list[dict[str, Any]], new: list[dict[str, Any]], message: str
) -> None:
    with pytest.raises(SchemaConflict, match=message.replace("[", r"\[").replace("]", r"\]")) as info:
        evolve(schema(*old), schema(*new))
    assert info.value.status == 409 and info.value.code == "BG-409-SCHEMA-CHANGE"
