"""Test helpers: a profile-like dataset and a function that validates bytes on the local disk."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow.fs as pafs
import pyarrow.parquet as pq

from batchgate.core.models import Dataset, InputFormat
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
