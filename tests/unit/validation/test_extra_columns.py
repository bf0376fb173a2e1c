"""Columns a file carries that the schema does not: found in every format, then discarded (named
and counted), frozen (the file fails) or evolved (typed and validated as new optional columns)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from batchgate.core.models import Dataset, DatasetSchema
from batchgate.core.schema import NoFieldType, field_from_arrow
from batchgate.validation import merge_results
from batchgate.validation.extra_columns import ExtraColumns, text_type, unify, with_added
from batchgate.validation.result import FileResult
from tests.unit.validation.helpers import parquet_bytes, run

FIELDS: list[dict[str, Any]] = [
    {"name": "id", "type": "string", "required": True},
    {"name": "address", "type": "object", "fields": [{"name": "city", "type": "string"}]},
]


def dataset(policy: str) -> Dataset:
    return Dataset.model_validate(
        {
            "id": "ds1", "name": "d", "org": "o", "sandbox": "s", "created": 0, "updated": 0,
            "table": "ns.d", "schema": {"fields": FIELDS}, "extraColumns": policy,
        }
    )  # fmt: skip


def jsonl(*records: dict[str, Any]) -> bytes:
    return b"".join(json.dumps(r).encode() + b"\n" for r in records)


JSON = jsonl(
    {"id": "a", "score": 1, "address": {"city": "Oslo", "zip": "0150"}},
    {"id": "b", "score": 2.5, "note": "x"},
    {"id": "c"},
)
CSV = b"id,score,address.city,address.zip\na,1,Oslo,0150\nb,2.5,Rome,\nc,,,\n"
PARQUET = parquet_bytes(
    pa.table(
        {
            "id": ["a", "b", "c"],
            "score": pa.array([1.0, None, 3.0]),
            "address": pa.array(
                [{"city": "Oslo", "zip": "0150"}, None, {"city": "Rome", "zip": None}],
                pa.struct([("city", pa.string()), ("zip", pa.string())]),
            ),
        }
    )
)


@pytest.mark.parametrize(
    ("data", "fmt", "extras"),
    [
        (JSON, "json", {"score": 2, "note": 1, "address.zip": 1}),
        (CSV, "csv", {"score": 3, "address.zip": 3}),  # every CSV record carries its header's columns
        (PARQUET, "parquet", {"score": 2, "address.zip": 1}),
    ],
)
def test_discard_drops_them_and_counts_the_rows_giving_a_value(
    tmp_path: Path, data: bytes, fmt: str, extras: dict[str, int]
) -> None:
    out = run(tmp_path, data, {"format": fmt}, dataset=dataset("discard"))
    assert out.result.file_error is None and out.result.output_record_count == 3
    assert out.result.extra_columns == extras
    assert set(out.staged[0]) == {"id", "address", "_batch_id", "_source_file", "_source_row"}


@pytest.mark.parametrize(("data", "fmt"), [(JSON, "json"), (CSV, "csv"), (PARQUET, "parquet")])
def test_freeze_fails_the_file_naming_them_and_every_record_is_counted(
    tmp_path: Path, data: bytes, fmt: str
) -> None:
    out = run(tmp_path, data, {"format": fmt}, dataset=dataset("freeze"))
    error = out.result.file_error
    assert error is not None and error.code == "BG-FILE-EXTRA-COLUMNS", error
    assert "score" in error.description and "address.zip" in error.description
    assert (out.result.input_record_count, out.result.output_record_count) == (3, 0)
    assert out.result.failed_record_count == 3 and out.staged == []


@pytest.mark.parametrize(
    ("data", "fmt", "added"),
    [
        (JSON, "json", {"score": "number", "note": "string", "address.zip": "string"}),
        (CSV, "csv", {"score": "number"}),  # address.zip (a child in a CSV header) is not typed: dropped
        (PARQUET, "parquet", {"score": "number", "address.zip": "string"}),
    ],
)
def test_evolve_types_them_and_stages_them_as_new_columns(
    tmp_path: Path, data: bytes, fmt: str, added: dict[str, str]
) -> None:
    out = run(tmp_path, data, {"format": fmt}, dataset=dataset("evolve"))
    assert out.result.file_error is None and out.result.output_record_count == 3
    assert {path: f["type"] for path, f in out.result.added_columns.items()} == added
    by_id = {r["id"]: r for r in out.staged}
    assert by_id["a"]["score"] == 1.0 and [r["score"] for r in out.staged].count(None) == 1
    if "address.zip" in added:
        assert by_id["a"]["address"]["zip"] == "0150"
    else:
        assert out.result.extra_columns == {"address.zip": 3}


def test_evolve_refuses_a_column_whose_values_no_one_type_holds(tmp_path: Path) -> None:
    data = jsonl({"id": "a", "mixed": 1}, {"id": "b", "mixed": "one"})
    out = run(tmp_path, data, {"format": "json"}, dataset=dataset("evolve"))
    assert out.result.file_error is not None and out.result.file_error.code == "BG-FILE-EXTRA-COLUMNS"
    assert "mixed" in out.result.file_error.description
    assert (out.result.input_record_count, out.result.failed_record_count) == (2, 2), "nothing lost"
    # discard still names it, although Arrow refuses the block with the column inferred
    discarded = run(tmp_path / "d", data, {"format": "json"}, dataset=dataset("discard"))
    assert discarded.result.extra_columns == {"mixed": 2} and discarded.result.output_record_count == 2


def test_csv_text_is_typed_by_what_every_cell_converts_to() -> None:
    cases = {
        ("1", "2", ""): pa.int64(),
        ("1", "2.5"): pa.float64(),
        ("true", "false"): pa.bool_(),
        ("2024-01-01T00:00:00Z",): pa.timestamp("us", tz="UTC"),
        ("2024-01-01",): pa.date32(),
        ("1", "x"): pa.string(),
    }
    for cells, expected in cases.items():
        assert text_type(pa.chunked_array([pa.array(cells)])) == expected, cells


def test_types_unify_as_one_column_can_hold_them() -> None:
    assert unify(pa.int64(), pa.float64()) == pa.float64()
    assert unify(pa.null(), pa.string()) == pa.string()
    assert unify(pa.string(), pa.int64()) is None
    merged = unify(pa.struct([("a", pa.int64())]), pa.struct([("b", pa.string())]))
    assert merged == pa.struct([("a", pa.int64()), ("b", pa.string())])
    found = ExtraColumns()
    found.add("x", 1, pa.int64())
    found.add("x", 2, pa.string())
    assert found.types["x"] is None and found.rows["x"] == 3 and found.describe() == "x (3 rows)"


def test_fields_from_arrow_and_added_at_their_paths() -> None:
    nested = field_from_arrow("n", pa.struct([("k", pa.list_(pa.int32())), ("d", pa.date32())]))
    assert nested.model_dump(exclude_none=True, by_alias=True) == {
        "name": "n",
        "type": "object",
        "required": False,
        "fields": [
            {"name": "k", "type": "array", "required": False, "items": {"type": "integer"}},
            {"name": "d", "type": "date", "required": False},
        ],
    }
    with pytest.raises(NoFieldType, match="m holds map"):
        field_from_arrow("m", pa.map_(pa.string(), pa.int64()))
    schema = DatasetSchema.model_validate({"fields": FIELDS})
    grown = with_added(schema, {"address.zip": field_from_arrow("zip", pa.string()), "id": nested})
    assert [f.name for f in grown.fields] == ["id", "address"], "a path already there is left alone"
    assert [c.name for c in grown.fields[1].fields or []] == ["city", "zip"]
    assert [c.name for c in schema.fields[1].fields or []] == ["city"], "the original is not changed"


def test_parts_add_up_and_a_column_typed_apart_fails_the_file() -> None:
    one = FileResult(extra_columns={"x": 2}, added_columns={"n": {"name": "n", "type": "integer"}})
    two = FileResult(extra_columns={"x": 3}, added_columns={"n": {"name": "n", "type": "number"}})
    merged = merge_results([one, two])
    assert merged.extra_columns == {"x": 5} and merged.added_columns["n"]["type"] == "number"
    three = FileResult(added_columns={"n": {"name": "n", "type": "string"}})
    failed = merge_results([one, three])
    assert failed.file_error is not None and failed.file_error.code == "BG-FILE-EXTRA-COLUMNS"
