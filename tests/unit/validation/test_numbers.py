"""NaN, ±Infinity and numbers beyond a double's range are not finite numbers: a number field
refuses them (BG-ROW-TYPE) in every format, unless it says allowNonFinite."""

from __future__ import annotations

import io
import math
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from batchgate.validation import codes
from tests.unit.validation.helpers import make_dataset, run


def fields(allow: bool | None = None) -> list[dict[str, Any]]:
    score: dict[str, Any] = {"name": "score", "type": "number"}
    if allow is not None:
        score["allowNonFinite"] = allow
    return [
        {"name": "id", "type": "string", "required": True},
        score,
        {"name": "readings", "type": "array", "items": {"type": "number"}},
    ]


JSONL = (
    b'{"id": "ok", "score": 1.5, "readings": [1, 2]}\n'
    b'{"id": "nan", "score": NaN}\n'
    b'{"id": "inf", "score": Infinity}\n'
    b'{"id": "minf", "score": -Infinity}\n'
    b'{"id": "huge", "score": 1e999}\n'
    b'{"id": "item", "score": 2, "readings": [1, NaN]}\n'
)
CSV = b"id,score\nok,1.5\nnan,nan\ninf,inf\nminf,-Infinity\nhuge,1e999\n"


def parquet() -> bytes:
    buf = io.BytesIO()
    table = pa.table({"id": ["ok", "nan", "inf"], "score": [1.5, math.nan, math.inf]})
    pq.write_table(table, buf)
    return buf.getvalue()


@pytest.mark.parametrize(
    ("fmt", "data", "bad"),
    [
        ({"format": "json"}, JSONL, {"nan", "inf", "minf", "huge", "item"}),
        ({"format": "csv"}, CSV, {"nan", "inf", "minf", "huge"}),
        ({"format": "parquet"}, parquet(), {"nan", "inf"}),
    ],
    ids=["json", "csv", "parquet"],
)
def test_non_finite_numbers_are_refused(
    tmp_path: Path, fmt: dict[str, Any], data: bytes, bad: set[str]
) -> None:
    out = run(tmp_path, data, fmt, dataset=make_dataset(fields()))
    assert out.result.file_error is None
    assert {r["id"] for r in out.staged} == {"ok"}
    failed = {(r["_values"] or {}).get("id") for r in out.failed}
    assert failed == bad
    assert all(
        e["code"] == codes.ROW_TYPE and "finite" in e["message"] for r in out.failed for e in r["_errors"]
    )
    r = out.result
    assert r.input_record_count == r.output_record_count + r.failed_record_count == len(bad) + 1


def test_a_field_that_allows_them_keeps_them(tmp_path: Path) -> None:
    out = run(tmp_path, CSV, {"format": "csv"}, dataset=make_dataset(fields(allow=True)))
    assert out.result.failed_record_count == 0
    scores = {r["id"]: r["score"] for r in out.staged}
    assert math.isnan(scores["nan"]) and scores["inf"] == math.inf and scores["huge"] == math.inf
