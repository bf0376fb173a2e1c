"""A file above SplitBytes is validated in parts by the validate-large state machine (a Map over
byte ranges on record boundaries) and merged: same counts and row numbers as one pass."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path

import boto3
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.e2e.stack import RunningStack, start_stack
from tests.e2e.test_guide_flows import PROFILE, Flow

ROWS = 20_000
BAD_LINES = (3, 12_345)  # physical lines of the bad records (the header is line 1), in different parts


@pytest.fixture(scope="module")
def small_split(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    stack = start_stack(Path(tmp_path_factory.mktemp("split")), params={"SplitBytes": "150000"})
    yield stack
    stack.stop()


def split_runs(stack: RunningStack, name: str) -> list[int]:
    """Part counts of the validate-large executions that handled ``name``."""
    sfn = boto3.client(
        "stepfunctions", endpoint_url=stack.info["endpoint"], region_name="us-east-1",
        aws_access_key_id="testing", aws_secret_access_key="testing",
    )  # fmt: skip
    arn = "arn:aws:states:us-east-1:123456789012:stateMachine:batchgate-validate-large-state-machine"
    counts = []
    for ex in sfn.list_executions(stateMachineArn=arn)["executions"]:
        desc = sfn.describe_execution(executionArn=ex["executionArn"])
        out = json.loads(desc.get("output") or "{}")
        if desc["status"] == "SUCCEEDED" and out.get("file", {}).get("name") == name:
            counts.append(out["merged"]["parts"])
    return counts


def csv_bytes() -> bytes:
    lines = [b"id,email,age,tier"]
    for i in range(ROWS):
        line = 2 + i
        age = b"not-a-number" if line in BAD_LINES else str(i % 100).encode()
        lines.append(b"id%d,u%d@example.com,%s,gold" % (i, i, age))
    return b"\n".join(lines) + b"\n"


def test_large_csv_is_split_validated_in_parallel_and_merged(small_split: RunningStack) -> None:
    flow = Flow(small_split)
    ds = flow.dataset("large_csv", PROFILE)
    data = csv_bytes()
    assert len(data) > 4 * 150_000, "the file must need several parts"
    done = flow.ingest(ds, data, "big.csv", "csv", partialIngestionPercentage=1)
    assert done["status"] == "success", done
    m = done["metrics"]
    assert (m["inputRecordCount"], m["outputRecordCount"], m["failedRecordCount"]) == (ROWS, ROWS - 2, 2)
    files = small_split.get(f"/data/foundation/export/batches/{done['id']}/failed")
    assert files.status_code == 200, files.text
    reports = files.json()["data"]
    assert len(reports) == 2, "two parts failed a row each: one failed-records report per part"
    failed = []
    for report in reports:
        got = small_split.get(report["_links"]["self"]["href"], allow_redirects=True)
        failed += [json.loads(line) for line in got.text.splitlines()]
    assert sorted(r["_row"] for r in failed) == list(BAD_LINES), (
        "row numbers are file-wide, not part-relative"
    )
    assert {r["_errors"][0]["field"] for r in failed} == {"age"}
    rows = flow.rows(ds)
    assert len(rows) == ROWS - 2
    by_id = {r["id"]: r for r in rows}
    assert by_id["id0"]["_source_row"] == 2 and by_id[f"id{ROWS - 1}"]["_source_row"] == ROWS + 1
    seen_lines = sorted(r["_source_row"] for r in rows)
    assert not set(BAD_LINES) & set(seen_lines) and len(set(seen_lines)) == ROWS - 2
    (parts,) = split_runs(small_split, "big.csv")
    assert parts >= 4, "validated in parts, not in one pass"


def test_large_parquet_is_split_by_row_groups(small_split: RunningStack) -> None:
    flow = Flow(small_split)
    ds = flow.dataset("large_parquet", PROFILE)
    table = pa.table(
        {
            "id": [f"q{i}" for i in range(ROWS)],
            "email": [f"q{i}@example.com" for i in range(ROWS)],
            "age": [i % 100 for i in range(ROWS)],
            "tier": ["silver"] * ROWS,
        }
    )
    buf = io.BytesIO()
    pq.write_table(table, buf, row_group_size=2_000, compression="none")
    assert buf.tell() > 150_000
    done = flow.ingest(ds, buf.getvalue(), "big.parquet", "parquet")
    assert done["status"] == "success", done
    assert done["metrics"]["outputRecordCount"] == ROWS
    assert len(flow.rows(ds)) == ROWS
    (parts,) = split_runs(small_split, "big.parquet")
    assert parts >= 2
