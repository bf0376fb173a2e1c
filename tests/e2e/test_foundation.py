"""Issue 2's promise, end to end: a newcomer's stack, driven over HTTP and S3 only."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

from tests.e2e.stack import RunningStack, start_stack

SCHEMA = {
    "fields": [
        {"name": "id", "type": "string", "required": True},
        {"name": "email", "type": "string", "required": True, "pattern": "^[^@]+@[^@]+$"},
        {"name": "age", "type": "integer", "minimum": 0, "maximum": 150},
    ]
}
ROWS = b"".join(
    json.dumps({"id": f"p-{i}", "email": f"user{i}@example.com", "age": 20 + i % 50}).encode() + b"\n"
    for i in range(200)
)


def create_dataset(stack: RunningStack, name: str = "profiles") -> str:
    r = stack.post("/data/foundation/catalog/dataSets", json={"name": name, "schema": SCHEMA})
    assert r.status_code == 201, r.text
    ref = r.json()[0]
    assert ref.startswith("@/dataSets/")
    return str(ref.removeprefix("@/dataSets/"))


def inbox_batches(stack: RunningStack, dataset_id: str, want: int = 1, timeout: float = 60) -> list[dict]:
    deadline = time.monotonic() + timeout
    found: list[dict] = []
    while time.monotonic() < deadline:
        r = stack.get(f"/data/foundation/catalog/batches?dataSet={dataset_id}")
        assert r.status_code == 200, r.text
        found = list(r.json().values())
        if len(found) >= want:
            return found
        time.sleep(0.3)
    raise AssertionError(f"no inbox batch for {dataset_id} after {timeout}s:\n{stack.tail()}")


def test_dropped_file_becomes_a_finished_batch(stack: RunningStack) -> None:
    ds = create_dataset(stack)
    stack.s3().put_object(Bucket=stack.bucket, Key=f"inbox/local/prod/{ds}/people.json", Body=ROWS)
    (batch,) = inbox_batches(stack, ds)
    final = stack.wait_batch(batch["id"], {"success", "failed"})
    assert final["status"] == "success", final
    assert final["metrics"]["inputRecordCount"] == 200
    assert final["metrics"]["outputRecordCount"] == 200
    assert final["metrics"]["failedRecordCount"] == 0
    assert final["relatedObjects"] == [{"type": "dataSet", "id": ds}]


def test_inbox_drop_for_unknown_dataset_is_a_failed_batch_not_silence(stack: RunningStack) -> None:
    stack.s3().put_object(Bucket=stack.bucket, Key="inbox/local/prod/no-such-dataset/x.json", Body=ROWS)
    (batch,) = inbox_batches(stack, "no-such-dataset")
    batch = stack.wait_batch(batch["id"], {"failed", "success"})
    assert batch["status"] == "failed"
    assert batch["errors"][0]["code"] == "BG-INBOX-DATASET"


def test_api_upload_complete_and_read_back(stack: RunningStack) -> None:
    ds = create_dataset(stack, "api-flow")
    r = stack.post(
        "/data/foundation/import/batches", json={"datasetId": ds, "inputFormat": {"format": "json"}}
    )
    assert r.status_code == 201, r.text
    bid = r.json()["id"]
    r = stack.put(f"/data/foundation/import/batches/{bid}/datasets/{ds}/files/people.json", ROWS)
    assert r.status_code == 200, r.text
    r = stack.post(f"/data/foundation/import/batches/{bid}?action=COMPLETE")
    assert r.status_code == 200, r.text
    final = stack.wait_batch(bid, {"success", "failed"})
    assert final["status"] == "success", final
    r = stack.get(f"/data/foundation/export/datasets/{ds}/rows?limit=500")
    assert r.status_code == 200, r.text
    rows = r.json()["data"]
    assert len(rows) == 200
    assert {row["_batch_id"] for row in rows} == {bid}


def test_kill_and_restart_over_the_same_data_dir_loses_no_batch(tmp_path: Path) -> None:
    first = start_stack(tmp_path / "data")
    try:
        ds = create_dataset(first, "durable")
        r = first.post(
            "/data/foundation/import/batches", json={"datasetId": ds, "inputFormat": {"format": "json"}}
        )
        done_id = r.json()["id"]
        first.put(f"/data/foundation/import/batches/{done_id}/datasets/{ds}/files/a.json", ROWS)
        first.post(f"/data/foundation/import/batches/{done_id}?action=COMPLETE")
        first.wait_batch(done_id, {"success"})
        # a second batch left open mid-run, with a file uploaded
        r = first.post(
            "/data/foundation/import/batches", json={"datasetId": ds, "inputFormat": {"format": "json"}}
        )
        open_id = r.json()["id"]
        assert (
            first.put(
                f"/data/foundation/import/batches/{open_id}/datasets/{ds}/files/b.json", ROWS
            ).status_code
            == 200
        )
    finally:
        first.stop(signal.SIGKILL)
    second = start_stack(tmp_path / "data")
    try:
        assert second.info["keyId"] == first.info["keyId"], "the development key survives a restart"
        assert (
            second.get(f"/data/foundation/catalog/batches/{done_id}").json()[done_id]["status"] == "success"
        )
        assert (
            second.get(f"/data/foundation/catalog/batches/{open_id}").json()[open_id]["status"] == "loading"
        )
        r = second.post(f"/data/foundation/import/batches/{open_id}?action=COMPLETE")
        assert r.status_code == 200, r.text
        assert second.wait_batch(open_id, {"success", "failed"})["status"] == "success"
        rows = second.get(f"/data/foundation/export/datasets/{ds}/rows?limit=1000").json()["data"]
        assert sorted({r["_batch_id"] for r in rows}) == sorted({done_id, open_id})
        assert len(rows) == 400
    finally:
        assert second.stop() == 0, "Ctrl-C (SIGINT) stops the stack cleanly"
    assert "stopping" in second.log.read_text()


def test_request_size_limits_match_aws(stack: RunningStack) -> None:
    ds = create_dataset(stack, "limits")
    r = stack.post(
        "/data/foundation/import/batches", json={"datasetId": ds, "inputFormat": {"format": "json"}}
    )
    bid = r.json()["id"]
    path = f"/data/foundation/import/batches/{bid}/datasets/{ds}/files/big.json"
    over_lambda = stack.put(path, b"x" * (5 * 1024 * 1024))
    assert over_lambda.status_code == 413, over_lambda.text
    assert "PRESIGN" in over_lambda.json()["error"]["message"]
    over_gateway = stack.put(path, b"x" * (11 * 1024 * 1024))
    assert over_gateway.status_code == 413
    assert "API Gateway" in over_gateway.json()["error"]["message"]
