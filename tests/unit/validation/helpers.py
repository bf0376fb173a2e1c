"""Test helpers: a profile-like dataset and a function that validates bytes on the local disk."""

from __future__ import annotations

import datetime as dt
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from batchgate.core.models import Dataset, InputFormat
from batchgate.core.schema import arrow_schema
from batchgate.validation import FileResult, validate_file

PROFILE_FIELDS: list[dict[str, Any]] = [
    {"name": "id", "type": "string", "required": True},
    {"name": "email", "type": "string", "required": True, "pattern": "^[^@]+@[^@]+$", "maxLength": 40},
    {"name": "age", "type": "integer", "minimum": 0, "maximum": 150},
    {"name": "tier", "type": "string", "enum": ["gold", "silver", "bronze"]},
    {"name": "seen", "type": "timestamp"},
    {"name": "born", "type": "date"},
    {"name": "score", "type": "number"},
    {"name": "active", "type": "boolean"},
    {
        "name": "address",
        "type": "object",
        "fields": [{"name": "city", "type": "string", "required": True}, {"name": "zip", "type": "string"}],
    },
    {"name": "tags", "type": "array", "items": {"type": "string"}},
]


def make_dataset(fields: list[dict[str, Any]] | None = None) -> Dataset:
    return Dataset.model_validate(
        {
            "id": "ds1",
            "name": "profiles",
            "org": "o",
            "sandbox": "s",
            "created": 0,
            "updated": 0,
            "table": "ns.profiles",
            "schema": {"fields": fields or PROFILE_FIELDS},
        }
    )


@dataclass
class Outcome:
    result: FileResult
    staged: list[dict[str, Any]]
    failed: list[dict[str, Any]]

    @property
    def staged_rows(self) -> list[int]:
        return [r["_source_row"] for r in self.staged]

    @property
    def failed_rows(self) -> list[int]:
        return [r["_row"] for r in self.failed]

    def codes(self) -> set[str]:
        return {e["code"] for r in self.failed for e in r["_errors"]}


def read_outputs(result: FileResult) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    staged: list[dict[str, Any]] = []
    for path in result.staged_paths:
        staged.extend(pq.read_table(path).to_pylist())
    failed: list[dict[str, Any]] = []
    for path in result.failed_paths:
        failed.extend(json.loads(line) for line in Path(path).read_text().splitlines())
    return staged, failed


def run(
    tmp_path: Path,
    data: bytes,
    fmt: dict[str, Any] | InputFormat,
    *,
    dataset: Dataset | None = None,
    name: str = "input.dat",
    **kwargs: Any,
) -> Outcome:
    """Validate ``data`` written to a local file; check the outputs agree with the counts."""
    src = tmp_path / "in" / name
    src.parent.mkdir(parents=True, exist_ok=True)
    src.write_bytes(data)
    input_format = fmt if isinstance(fmt, InputFormat) else InputFormat.model_validate(fmt)
    result = validate_file(
        fs=pafs.LocalFileSystem(),
        source_path=str(src),
        dataset=dataset or make_dataset(),
        input_format=input_format,
        batch_id="batch-1",
        file_name=name,
        staged_dir=str(tmp_path / "staged"),
        failed_dir=str(tmp_path / "failed"),
        **kwargs,
    )
    staged, failed = read_outputs(result)
    assert result.input_record_count == result.output_record_count + result.failed_record_count
    assert len(staged) == result.output_record_count
    assert len(failed) == result.failed_record_count
    assert (result.failed_path is None) == (result.failed_record_count == 0)
    return Outcome(result, staged, failed)


def good_record(i: int) -> dict[str, Any]:
    return {
        "id": f"u{i}",
        "email": f"user{i}@example.com",
        "age": 20 + i % 50,
        "tier": ["gold", "silver", "bronze"][i % 3],
        "seen": "2024-05-01T10:00:00Z",
        "born": "1990-01-02",
        "score": i / 3,
        "active": i % 2 == 0,
        "address": {"city": "Paris", "zip": "75001"},
        "tags": ["a", "b"],
    }


CSV_HEADER = "id,email,age,tier,seen,born,score,active,address.city,address.zip,tags"


def mixed_jsonl(n: int) -> bytes:
    out = []
    for i in range(n):
        rec = good_record(i)
        if i % 97 == 0:
            rec["age"] = "old"  # type error
        elif i % 89 == 0:
            rec["tier"] = "platinum"  # enum
        line = json.dumps(rec)
        if i % 131 == 0:
            line = line[:-5]  # corrupt JSON
        out.append(line)
    return ("\n".join(out) + "\n").encode()


def mixed_csv(n: int) -> bytes:
    rows = ["id,email,age,tier,seen,born,score,active,address.city,address.zip,tags"]
    for i in range(n):
        age = "x" if i % 97 == 0 else str(i % 90)
        tail = "" if i % 113 == 0 else ',"[""a""]"'  # ragged row
        rows.append(f"u{i},u{i}@x.io,{age},gold,2024-01-01T00:00:00Z,1990-01-01,1.5,true,Paris,75001{tail}")
    return ("\n".join(rows) + "\n").encode()


def row(i: int, **over: str) -> str:
    values = {
        "id": f"u{i}",
        "email": f"u{i}@x.io",
        "age": str(20 + i % 50),
        "tier": "gold",
        "seen": "2024-05-01T10:00:00Z",
        "born": "1990-01-02",
        "score": "1.5",
        "active": "true",
        "address.city": "Paris",
        "address.zip": "75001",
        "tags": '"[""a"",""b""]"',
    } | over
    return ",".join(values[c] for c in CSV_HEADER.split(","))


def csv_bytes(rows: list[str], header: str = CSV_HEADER, nl: str = "\n") -> bytes:
    return (nl.join([header, *rows]) + nl).encode()


def parquet_bytes(table: pa.Table, row_group_size: int | None = None) -> bytes:
    buf = io.BytesIO()
    pq.write_table(table, buf, row_group_size=row_group_size)
    return buf.getvalue()


def good_table(n: int) -> pa.Table:
    schema = arrow_schema(make_dataset().schema_, lineage=False)
    recs = [good_record(i) for i in range(n)]
    for r in recs:
        r["seen"] = dt.datetime(2024, 5, 1, 10, tzinfo=dt.UTC)
        r["born"] = dt.date(1990, 1, 2)
    return pa.Table.from_pylist(recs, schema=schema)
