"""Which columns a file carries: an upsert patches only these (AEP's patch semantics)."""

from __future__ import annotations

import io
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from tests.unit.validation.helpers import run


def test_csv_header_declares_its_columns_even_when_empty(tmp_path: Path) -> None:
    out = run(tmp_path, b"id,email,tier\na,a@x.org,\nb,b@x.org,\n", {"format": "csv"})
    assert out.result.present_columns == ["email", "id", "tier"]


def test_parquet_schema_declares_its_columns(tmp_path: Path) -> None:
    buf = io.BytesIO()
    pq.write_table(pa.table({"id": ["a"], "email": ["a@x.org"], "age": pa.array([None], pa.int64())}), buf)
    out = run(tmp_path, buf.getvalue(), {"format": "parquet"})
    assert out.result.present_columns == ["age", "email", "id"]


def test_json_columns_are_present_where_some_record_gives_a_value(tmp_path: Path) -> None:
    data = b'{"id": "a", "email": "a@x.org"}\n{"id": "b", "email": "b@x.org", "tier": "gold", "age": null}\n'
    out = run(tmp_path, data, {"format": "json"})
    assert out.result.present_columns == ["email", "id", "tier"]
