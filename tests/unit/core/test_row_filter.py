"""The rows API's filter grammar: conditions typed by the dataset's columns, refusals that name why."""

from __future__ import annotations

import datetime as dt

import pytest

from batchgate.core.errors import InvalidRequest
from batchgate.core.models import DatasetSchema
from batchgate.core.row_filter import Condition, parse_filter, parse_filters

SCHEMA = DatasetSchema.model_validate(
    {
        "fields": [
            {"name": "id", "type": "string"},
            {"name": "age", "type": "integer"},
            {"name": "score", "type": "number"},
            {"name": "vip", "type": "boolean"},
            {"name": "seen", "type": "timestamp"},
            {"name": "born", "type": "date"},
            {"name": "address", "type": "object", "fields": [{"name": "city", "type": "string"}]},
            {"name": "tags", "type": "array", "items": {"type": "string"}},
        ]
    }
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("age>=30", Condition("age", ">=", (30,))),
        ("age >= -3", Condition("age", ">=", (-3,))),
        ("id=gold", Condition("id", "=", ("gold",))),
        ("id = two words ", Condition("id", "=", ("two words",))),
        ("id=' padded '", Condition("id", "=", (" padded ",))),
        ("id='O''Brien'", Condition("id", "=", ("O'Brien",))),
        ("id=''", Condition("id", "=", ("",))),
        ("id=a=b", Condition("id", "=", ("a=b",))),
        ("id<>x", Condition("id", "!=", ("x",))),
        ("id!=x", Condition("id", "!=", ("x",))),
        ("score<0.5", Condition("score", "<", (0.5,))),
        ("vip=TRUE", Condition("vip", "=", (True,))),
        ("born>2026-01-31", Condition("born", ">", (dt.date(2026, 1, 31),))),
        (
            "seen<2026-05-06T07:08:09Z",
            Condition("seen", "<", (dt.datetime(2026, 5, 6, 7, 8, 9, tzinfo=dt.UTC),)),
        ),
        (
            "seen<2026-05-06 09:08+02:00",
            Condition("seen", "<", (dt.datetime(2026, 5, 6, 7, 8, tzinfo=dt.UTC),)),
        ),
        ("seen<2026-05-06", Condition("seen", "<", (dt.datetime(2026, 5, 6, tzinfo=dt.UTC),))),
        ("id in (a, 'b,c', d)", Condition("id", "in", ("a", "b,c", "d"))),
        ("age IN (1,2)", Condition("age", "in", (1, 2))),
        ("id is null", Condition("id", "is null")),
        ("id IS NOT NULL", Condition("id", "is not null")),
        ("address.city=Rome", Condition("address.city", "=", ("Rome",))),
        ("_batch_id=01J", Condition("_batch_id", "=", ("01J",))),
        ("_source_row>3", Condition("_source_row", ">", (3,))),
    ],
)
def test_filters_become_typed_conditions(text: str, expected: Condition) -> None:
    assert parse_filter(text, SCHEMA) == expected


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("nope=1", "unknown column 'nope'"),
        ("address.town=x", "unknown column 'address.town'"),
        ("address=x", "is an object"),
        ("tags=x", "is an array"),
        ("age=thirty", "'thirty' is not a value of integer column 'age'"),
        ("age=1.5", "expected a whole number"),
        ("age=99999999999999999999", "64-bit"),
        ("score=NaN", "finite"),
        ("vip=yes", "true or false"),
        ("vip<true", "takes = and != only"),
        ("born=2026-1-31", "YYYY-MM-DD"),
        ("seen>yesterday", "ISO 8601"),
        ("age", "column op value"),
        ("age=", "no value"),
        ("id='open", "not closed"),
        ("id='a' b", "after the quoted value"),
        ("id in (a,,b)", "empty value"),
        ("id in ('a' 'b')", "separated by commas"),
        ("age ~ 3", "column op value"),
    ],
)
def test_bad_filters_are_400s_naming_the_filter_and_why(text: str, says: str) -> None:
    with pytest.raises(InvalidRequest) as info:
        parse_filter(text, SCHEMA)
    assert info.value.code == "BG-400-FILTER"
    assert text in info.value.message and says in info.value.message, info.value.message


def test_limits_and_canonical_forms() -> None:
    with pytest.raises(InvalidRequest) as info:
        parse_filters([f"age>{i}" for i in range(21)], SCHEMA)
    assert info.value.code == "BG-400-LIMIT" and "maxFilters" in info.value.message
    with pytest.raises(InvalidRequest):
        parse_filter("age in (" + ",".join(str(i) for i in range(1001)) + ")", SCHEMA)
    same = [
        parse_filter(t, SCHEMA).canonical()
        for t in ("seen<2026-05-06T09:00+02:00", "seen < 2026-05-06T07:00Z")
    ]
    assert same[0] == same[1]
    assert parse_filter("id=1", SCHEMA).canonical() != parse_filter("age=1", SCHEMA).canonical()
