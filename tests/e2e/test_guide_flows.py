"""The seed guide's flows (AEP Batch Ingestion API guide) against `batchgate up`, plain HTTP and
S3 only, with the Iceberg table itself read back to prove what landed."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import boto3
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pyiceberg.catalog.sql import SqlCatalog

from tests.e2e.stack import ROOT, RunningStack, start_stack

PROFILE = {
    "fields": [
        {"name": "id", "type": "string", "required": True},
        {"name": "email", "type": "string", "required": True, "pattern": "^[^@]+@[^@]+$"},
        {"name": "age", "type": "integer", "minimum": 0, "maximum": 150},
        {"name": "tier", "type": "string", "enum": ["gold", "silver", "bronze"]},
    ]
}
IMPORT = "/data/foundation/import/batches"


def jsonl(rows: list[dict[str, Any]]) -> bytes:
    return b"".join(json.dumps(r).encode() + b"\n" for r in rows)


def people(n: int, start: int = 0, tier: str = "gold") -> list[dict[str, Any]]:
    return [
        {"id": f"p{i}", "email": f"p{i}@example.com", "age": 20 + i % 60, "tier": tier}
        for i in range(start, start + n)
    ]


def parquet(rows: list[dict[str, Any]], schema: pa.Schema | None = None) -> bytes:
    buf = io.BytesIO()
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), buf, row_group_size=max(1, len(rows) // 3 or 1))
    return buf.getvalue()


class Flow:
    def __init__(self, stack: RunningStack) -> None:
        self.s = stack

    def dataset(self, name: str, schema: dict[str, Any] = PROFILE, tags: dict[str, Any] | None = None) -> str:
        body: dict[str, Any] = {"name": name, "schema": schema}
        if tags:
            body["tags"] = tags
        r = self.s.post("/data/foundation/catalog/dataSets", json=body)
        assert r.status_code == 201, r.text
        return str(r.json()[0].split("/")[-1])

    def batch(self, ds: str, fmt: str = "json", **extra: Any) -> str:
        r = self.s.post(IMPORT, json={"datasetId": ds, "inputFormat": {"format": fmt}, **extra})
        assert r.status_code == 201, r.text
        body = r.json()
        assert body["status"] == "loading" and body["relatedObjects"] == [{"type": "dataSet", "id": ds}]
        return str(body["id"])

    def upload(self, bid: str, ds: str, name: str, data: bytes) -> None:
        r = self.s.put(f"{IMPORT}/{bid}/datasets/{ds}/files/{name}", data)
        assert r.status_code == 200, r.text

    def action(self, bid: str, action: str) -> Any:
        return self.s.post(f"{IMPORT}/{bid}?action={action}")

    def ingest(
        self, ds: str, data: bytes, name: str = "f.json", fmt: str = "json", **extra: Any
    ) -> dict[str, Any]:
        bid = self.batch(ds, fmt, **extra)
        self.upload(bid, ds, name, data)
        assert self.action(bid, "COMPLETE").status_code == 200
        return self.s.wait_batch(bid, {"success", "failed", "stalled"})

    def rows(self, ds: str, **params: Any) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        start: Any = 0
        while True:
            r = self.s.get(
                f"/data/foundation/export/datasets/{ds}/rows",
                params={"limit": 1000, "start": start, **params},
            )
            assert r.status_code == 200, r.text
            body = r.json()
            out += body["data"]
            if not body["page"]["next"]:
                return out
            start = body["page"]["next"]


def iceberg_rows(stack: RunningStack, ds: str) -> list[dict[str, Any]]:
    """Read the dataset's table with pyiceberg directly: the catalog file and the S3 warehouse."""
    from batchgate.lake.tables import table_identifier

    catalog = SqlCatalog(
        "batchgate",
        uri=f"sqlite:///{stack.data_dir / 'catalog.sqlite'}",
        warehouse=f"s3://{stack.bucket}/warehouse",
        **{
            "s3.endpoint": stack.info["endpoint"],
            "s3.access-key-id": "testing",
            "s3.secret-access-key": "testing",
            "s3.region": "us-east-1",
        },
    )
    table = catalog.load_table(table_identifier("local", "prod", ds))
    return list(table.scan().to_arrow().to_pylist())


@pytest.fixture(scope="module")
def flow(stack: RunningStack) -> Flow:
    return Flow(stack)


def test_json_flow_lands_rows_with_batch_id(flow: Flow, stack: RunningStack) -> None:
    ds = flow.dataset("json_flow")
    done = flow.ingest(ds, jsonl(people(50)))
    assert done["status"] == "success", done
    assert done["metrics"]["outputRecordCount"] == 50
    rows = iceberg_rows(stack, ds)
    assert len(rows) == 50 and {r["_batch_id"] for r in rows} == {done["id"]}
    assert flow.action(done["id"], "COMPLETE").status_code == 200, "COMPLETE is idempotent"


def test_parquet_flow(flow: Flow) -> None:
    ds = flow.dataset("parquet_flow")
    done = flow.ingest(ds, parquet(people(30)), "f.parquet", "parquet")
    assert done["status"] == "success", done
    assert len(flow.rows(ds)) == 30


def test_large_parquet_in_chunks(flow: Flow) -> None:
    ds = flow.dataset("chunked")
    data = parquet(people(20_000))
    bid = flow.batch(ds, "parquet")
    path = f"{IMPORT}/{bid}/datasets/{ds}/files/big.parquet"
    assert flow.s.post(path + "?action=INITIALIZE").status_code == 201
    step = max(1, len(data) // 3)
    for start in range(0, len(data), step):
        chunk = data[start : start + step]
        r = flow.s.patch(path, chunk, content_range=f"bytes {start}-{start + len(chunk) - 1}/{len(data)}")
        assert r.status_code == 200, r.text
    assert flow.s.post(path + "?action=COMPLETE").status_code in (200, 201)
    assert flow.action(bid, "COMPLETE").status_code == 200
    done = flow.s.wait_batch(bid, {"success", "failed"})
    assert done["status"] == "success", done
    assert done["metrics"]["inputRecordCount"] == 20_000


def test_csv_flow_with_row_errors_and_partial_ingestion(flow: Flow) -> None:
    ds = flow.dataset("csv_flow")
    csv = b"id,email,age,tier\n" + b"".join(f"c{i},c{i}@x.org,{i % 90},silver\n".encode() for i in range(99))
    csv += b"bad,not-an-email,abc,platinum\n"
    strict = flow.ingest(ds, csv, "f.csv", "csv")
    assert strict["status"] == "failed"
    assert strict["metrics"] == {
        **strict["metrics"],
        "inputRecordCount": 100,
        "outputRecordCount": 99,
        "failedRecordCount": 1,
    }
    assert any(e["code"] == "BG-BATCH-ROW-ERRORS" for e in strict["errors"])
    failed = flow.s.get(f"/data/foundation/export/batches/{strict['id']}/failed")
    assert failed.status_code == 200, failed.text
    lenient = flow.ingest(ds, csv, "f.csv", "csv", partialIngestionPercentage=5)
    assert lenient["status"] == "success", lenient
    assert len(flow.rows(ds)) == 99


def test_abort_then_nothing_lands_and_upload_is_refused(flow: Flow) -> None:
    ds = flow.dataset("abort_flow")
    bid = flow.batch(ds)
    flow.upload(bid, ds, "a.json", jsonl(people(5)))
    assert flow.action(bid, "ABORT").status_code == 200
    assert flow.s.wait_batch(bid, {"aborted"})["status"] == "aborted"
    r = flow.s.put(f"{IMPORT}/{bid}/datasets/{ds}/files/b.json", jsonl(people(1)))
    assert r.status_code == 409
    assert flow.action(bid, "COMPLETE").status_code == 409
    assert flow.rows(ds) == []
    # the abort machine removes what the batch staged
    s3, prefix = flow.s.s3(), f"staged/local/prod/{ds}/{bid}/"

    def staged() -> list[str]:
        # zero-byte "dir/" keys are the directory markers pyarrow's S3 filesystem leaves
        listing = s3.list_objects_v2(Bucket=flow.s.bucket, Prefix=prefix).get("Contents", [])
        return [o["Key"] for o in listing if not o["Key"].endswith("/")]

    deadline = time.monotonic() + 30
    while staged() and time.monotonic() < deadline:
        time.sleep(0.3)
    assert staged() == []


def test_racing_complete_and_abort_exactly_one_wins(flow: Flow) -> None:
    ds = flow.dataset("race")
    for _ in range(3):
        bid = flow.batch(ds)
        flow.upload(bid, ds, "a.json", jsonl(people(3)))
        codes: dict[str, int] = {}
        barrier = threading.Barrier(2)

        def go(
            action: str, b: str = bid, barrier: threading.Barrier = barrier, codes: dict[str, int] = codes
        ) -> None:
            barrier.wait()
            codes[action] = flow.action(b, action).status_code

        threads = [threading.Thread(target=go, args=(a,)) for a in ("COMPLETE", "ABORT")]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        final = flow.s.wait_batch(bid, {"success", "aborted"})
        if final["status"] == "aborted" and codes["COMPLETE"] == 200:
            # COMPLETE ran first, then ABORT stopped the completion: both legal in sequence.
            assert codes["ABORT"] == 200
        elif final["status"] == "aborted":
            assert codes == {"ABORT": 200, "COMPLETE": 409}
        else:
            assert codes == {"COMPLETE": 200, "ABORT": 409}, (codes, final)


def test_revert_removes_exactly_the_batch(flow: Flow, stack: RunningStack) -> None:
    ds = flow.dataset("revert_flow")
    keep = flow.ingest(ds, jsonl(people(10)))
    gone = flow.ingest(ds, jsonl(people(7, start=100)))
    assert flow.action(gone["id"], "REVERT").status_code == 200
    assert flow.s.wait_batch(gone["id"], {"inactive"})["status"] == "inactive"
    rows = iceberg_rows(stack, ds)
    assert {r["_batch_id"] for r in rows} == {keep["id"]} and len(rows) == 10
    assert flow.action(keep["id"], "ABORT").status_code == 409


def test_replay_replaces_predecessors_in_one_commit(flow: Flow) -> None:
    ds = flow.dataset("replay_flow")
    a = flow.ingest(ds, jsonl(people(5)))
    b = flow.ingest(ds, jsonl(people(5, start=5)))
    other = flow.ingest(ds, jsonl(people(3, start=50)))
    r = flow.s.post(
        IMPORT,
        json={
            "datasetId": ds,
            "inputFormat": {"format": "json"},
            "replay": {"predecessors": [a["id"], b["id"]], "reason": "replace"},
        },
    )
    assert r.status_code == 201, r.text
    assert r.json()["replay"] == {"predecessors": [a["id"], b["id"]], "reason": "replace"}
    rid = r.json()["id"]
    flow.upload(rid, ds, "fixed.json", jsonl(people(8, tier="silver")))
    flow.action(rid, "COMPLETE")
    assert flow.s.wait_batch(rid, {"success", "failed"})["status"] == "success"
    for pred in (a, b):
        assert flow.s.wait_batch(pred["id"], {"inactive"})["status"] == "inactive"
    rows = flow.rows(ds)
    assert {r["_batch_id"] for r in rows} == {rid, other["id"]}
    assert len(rows) == 8 + 3
    before = flow.rows(ds, asOfBatch=b["id"])
    assert {r["_batch_id"] for r in before} == {a["id"], b["id"]}, (
        "the snapshot before holds the old rows only"
    )
    bad = flow.s.post(
        IMPORT,
        json={"datasetId": ds, "inputFormat": {"format": "json"}, "replay": {"predecessors": ["nope"]}},
    )
    assert bad.status_code == 400


def test_upsert_patches_and_its_revert_restores(flow: Flow) -> None:
    ds = flow.dataset("upsert_flow", tags={"isUpsert": True, "identity": ["id"]})
    base = flow.ingest(ds, jsonl(people(4)))
    assert base["status"] == "success", base
    # JSON: no record carries age or tier, so those keep their values (AEP's patch semantics)
    up = flow.ingest(
        ds, jsonl([{"id": "p1", "email": "new1@example.com"}, {"id": "p9", "email": "p9@example.com"}])
    )
    assert up["status"] == "success", up
    rows = {r["id"]: r for r in flow.rows(ds)}
    assert set(rows) == {"p0", "p1", "p2", "p3", "p9"}
    assert rows["p1"]["email"] == "new1@example.com"
    assert (rows["p1"]["age"], rows["p1"]["tier"]) == (21, "gold"), "absent columns keep their values"
    assert rows["p9"]["age"] is None
    # CSV: the header carries tier, and an empty cell is null: the null is applied
    csv = flow.ingest(ds, b"id,email,tier\np2,p2@example.com,\n", "patch.csv", "csv")
    assert csv["status"] == "success", csv
    rows = {r["id"]: r for r in flow.rows(ds)}
    assert rows["p2"]["tier"] is None and rows["p2"]["age"] == 22, "a null present in the file sets null"
    for batch in (csv, up):  # newest first: each revert restores what that batch changed
        assert flow.action(batch["id"], "REVERT").status_code == 200
        flow.s.wait_batch(batch["id"], {"inactive"})
    restored = {r["id"]: r for r in flow.rows(ds)}
    assert set(restored) == {"p0", "p1", "p2", "p3"}
    assert restored["p1"]["email"] == "p1@example.com" and restored["p2"]["tier"] == "gold"


def test_concurrent_completes_on_one_dataset_both_land(flow: Flow) -> None:
    ds = flow.dataset("concurrent")
    bids = []
    for k in range(2):
        bid = flow.batch(ds)
        flow.upload(bid, ds, "a.json", jsonl(people(20, start=k * 100)))
        bids.append(bid)
    threads = [threading.Thread(target=flow.action, args=(b, "COMPLETE")) for b in bids]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for b in bids:
        assert flow.s.wait_batch(b, {"success", "failed"})["status"] == "success"
    assert {r["_batch_id"] for r in flow.rows(ds)} == set(bids)


def test_injected_commit_failure_retries_and_leaves_the_table_consistent(tmp_path: Path) -> None:
    stack = start_stack(tmp_path / "faulty", env={"BATCHGATE_FAULT": "commit"})
    try:
        f = Flow(stack)
        ds = f.dataset("faulty")
        done = f.ingest(ds, jsonl(people(6)))
        assert done["status"] == "success", done
        assert any(e["code"] == "BG-503-INJECTED" for e in done["errors"]), done["errors"]
        rows = iceberg_rows(stack, ds)
        assert len(rows) == 6, "the failed attempt left nothing behind, the retry landed it once"
    finally:
        stack.stop()


def test_revert_then_gc_deletes_the_batch_and_keeps_the_rest(flow: Flow, stack: RunningStack) -> None:
    ds = flow.dataset("gc_flow")
    keep = flow.ingest(ds, jsonl(people(4)))
    gone = flow.ingest(ds, jsonl(people(3, start=10)))
    assert flow.action(gone["id"], "REVERT").status_code == 200
    flow.s.wait_batch(gone["id"], {"inactive"})
    s3 = stack.s3()

    def staged(bid: str) -> list[str]:
        listing = s3.list_objects_v2(Bucket=stack.bucket, Prefix=f"staged/local/prod/{ds}/{bid}/").get(
            "Contents", []
        )
        return [o["Key"] for o in listing if not o["Key"].endswith("/")]

    assert staged(gone["id"]), "a reverted batch's files stay until GC (time travel needs them)"
    run_gc(stack)
    assert flow.s.wait_batch(gone["id"], {"deleted"})["status"] == "deleted"
    assert staged(gone["id"]) == []
    assert staged(keep["id"]), "GC never deletes files the current snapshot reads"
    rows = iceberg_rows(stack, ds)
    assert {r["_batch_id"] for r in rows} == {keep["id"]} and len(rows) == 4


def run_gc(stack: RunningStack, *, expect_deleted: bool = True) -> dict[str, Any]:
    """Run one GC sweep on the stack; its result (abandoned, deleted, datasetsRemoved, ...)."""
    port = stack.info["endpoint"].rsplit(":", 1)[1]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(str(ROOT / p) for p in ("layers/common", "tools"))}
    env.pop("AWS_ENDPOINT_URL", None)
    done = subprocess.run(
        [sys.executable, "-m", "batchgate_tools.cli", "gc", "--aws-port", port, "--retention-seconds", "0"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    result: dict[str, Any] = json.loads(done.stdout)["output"]["result"]
    if expect_deleted:
        assert result["deleted"] >= 1, result
    return result


def test_outcomes_are_eventbridge_events_users_can_route(flow: Flow, stack: RunningStack) -> None:
    aws = {
        "endpoint_url": stack.info["endpoint"], "region_name": "us-east-1",
        "aws_access_key_id": "testing", "aws_secret_access_key": "testing",
    }  # fmt: skip
    sqs, events = boto3.client("sqs", **aws), boto3.client("events", **aws)
    queue = sqs.create_queue(QueueName="my-batch-outcomes")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events.put_rule(Name="batchgate-outcomes", EventPattern=json.dumps({"source": ["batchgate"]}))
    events.put_targets(Rule="batchgate-outcomes", Targets=[{"Id": "q", "Arn": arn}])
    ds = flow.dataset("notified")
    ok = flow.ingest(ds, jsonl(people(2)))
    bad = flow.ingest(ds, b'{"id": "x", "email": "nope"}\n')
    assert (ok["status"], bad["status"]) == ("success", "failed")
    seen: dict[str, str] = {}
    deadline = time.monotonic() + 30
    while len(seen) < 2 and time.monotonic() < deadline:
        for m in sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=1, MaxNumberOfMessages=10).get(
            "Messages", []
        ):
            detail = json.loads(m["Body"])["detail"]
            seen[detail["batch"]["id"]] = detail["outcome"]
    assert seen.get(ok["id"]) == "success" and seen.get(bad["id"]) == "failed", seen


def test_upsert_patch_columns_are_per_file(flow: Flow) -> None:
    ds = flow.dataset("upsert_files", tags={"isUpsert": True, "identity": ["id"]})
    assert flow.ingest(ds, jsonl(people(3)))["status"] == "success"
    bid = flow.batch(ds)
    flow.upload(bid, ds, "emails.json", jsonl([{"id": "p0", "email": "zero@example.com"}]))
    flow.upload(bid, ds, "tiers.json", jsonl([{"id": "p1", "email": "p1@example.com", "tier": "bronze"}]))
    assert flow.action(bid, "COMPLETE").status_code == 200
    assert flow.s.wait_batch(bid, {"success", "failed"})["status"] == "success"
    rows = {r["id"]: r for r in flow.rows(ds)}
    assert rows["p0"]["email"] == "zero@example.com"
    assert rows["p0"]["tier"] == "gold", "tier is carried by the other file only: p0 keeps its value"
    assert rows["p1"]["tier"] == "bronze"
