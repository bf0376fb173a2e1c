"""Export feeds against `batchgate up`, over HTTP and S3 only: a full sync to S3 with a readable
manifest, an incremental sync carrying exactly the new batch, a revert becoming deletes, an empty
sync after that, the estimate against what was sent, and a webhook that fails once and then
accepts, every row delivered once."""

from __future__ import annotations

import io
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pyarrow.parquet as pq
import pytest
import requests

from tests.e2e.stack import RunningStack
from tests.e2e.test_guide_flows import Flow, jsonl

FEEDS = "/data/foundation/export/feeds"
SIMPLE = {"fields": [{"name": "id", "type": "string", "required": True}, {"name": "n", "type": "integer"}]}


def rows_of(n: int, start: int = 0) -> bytes:
    return jsonl([{"id": f"r{i}", "n": i} for i in range(start, start + n)])


class Feeds:
    def __init__(self, stack: RunningStack) -> None:
        self.s = stack
        self.s3 = stack.s3()

    def create(self, name: str, ds: str, destination: dict[str, Any], **extra: Any) -> dict[str, Any]:
        r = self.s.post(FEEDS, json={"name": name, "datasetId": ds, "destination": destination, **extra})
        assert r.status_code == 201, r.text
        return dict(r.json())

    def sync(self, feed_id: str, action: str = "SYNC") -> str:
        r = self.s.post(f"{FEEDS}/{feed_id}?action={action}")
        assert r.status_code == 202, r.text
        return str(r.json()["syncId"])

    def wait(self, feed_id: str, sync_id: str, timeout: float = 120) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        body: dict[str, Any] = {}
        while time.monotonic() < deadline:
            r = self.s.get(f"{FEEDS}/{feed_id}/syncs/{sync_id}")
            if r.status_code == 200:
                body = r.json()
                if body["status"] != "running":
                    return body
            time.sleep(0.3)
        raise AssertionError(f"sync {sync_id} still running: {body}\n{self.s.tail()}")

    def manifest(self, bucket: str, prefix: str, sync_id: str) -> dict[str, Any]:
        got = self.s3.get_object(Bucket=bucket, Key=f"{prefix}{sync_id}/_manifest.json")["Body"].read()
        return dict(json.loads(got))

    def rows(self, manifest: dict[str, Any]) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for f in manifest["files"]:
            bucket, key = f["path"][len("s3://") :].split("/", 1)
            body = self.s3.get_object(Bucket=bucket, Key=key)["Body"].read()
            out += pq.read_table(io.BytesIO(body)).to_pylist()
        return out


@pytest.fixture(scope="module")
def feeds(stack: RunningStack) -> Feeds:
    return Feeds(stack)


@pytest.fixture(scope="module")
def flow(stack: RunningStack) -> Flow:
    return Flow(stack)


def test_full_incremental_revert_and_empty_syncs_to_s3(feeds: Feeds, flow: Flow, stack: RunningStack) -> None:
    ds = flow.dataset("feed-s3", SIMPLE)
    flow.ingest(ds, rows_of(5))
    bucket = "batchgate-feed-destinations-e2e"
    feeds.s3.create_bucket(Bucket=bucket)
    feed = feeds.create(
        "to-s3", ds, {"type": "s3", "uri": f"s3://{bucket}/exports/people/", "format": "parquet"}
    )

    estimate = stack.get(f"{FEEDS}/{feed['id']}/estimate", params={"mode": "full"}).json()
    full = feeds.wait(feed["id"], feeds.sync(feed["id"], "FULL_SYNC"))
    assert full["status"] == "success" and full["mode"] == "full", full
    manifest = feeds.manifest(bucket, "exports/people/", full["id"])
    assert manifest["feedId"] == feed["id"] and manifest["mode"] == "full"
    sent = feeds.rows(manifest)
    assert estimate["rows"] == len(sent) == full["rows"]["upserted"] == 5
    assert {r["_op"] for r in sent} == {"upsert"} and all(r["_batch_id"] for r in sent)

    batch = flow.ingest(ds, rows_of(3, 100))
    shown = stack.get(f"{FEEDS}/{feed['id']}").json()
    assert shown["state"]["pending"] == {"rows": 3, "batches": 1, "mode": "incremental"}, shown["state"]
    incremental = feeds.wait(feed["id"], feeds.sync(feed["id"]))
    assert incremental["status"] == "success" and incremental["mode"] == "incremental", incremental
    rows = feeds.rows(feeds.manifest(bucket, "exports/people/", incremental["id"]))
    assert sorted(r["id"] for r in rows) == ["r100", "r101", "r102"]
    assert {r["_batch_id"] for r in rows} == {batch["id"]}

    r = stack.post(f"/data/foundation/import/batches/{batch['id']}?action=REVERT")
    assert r.status_code == 200, r.text
    stack.wait_batch(batch["id"], {"inactive", "reverted", "deleted"}, timeout=60)
    reverted = feeds.wait(feed["id"], feeds.sync(feed["id"]))
    deletes = feeds.rows(feeds.manifest(bucket, "exports/people/", reverted["id"]))
    assert reverted["rows"] == {"upserted": 0, "deleted": 3}, reverted
    assert {(r["_op"], r["_batch_id"]) for r in deletes} == {("delete", batch["id"])}
    assert sorted(r["_source_row"] for r in deletes) == [1, 2, 3]  # lines of the file

    empty = feeds.wait(feed["id"], feeds.sync(feed["id"]))
    assert (
        empty["status"] == "success"
        and empty["items"]["total"] == 0
        and empty["rows"] == {"upserted": 0, "deleted": 0}
    )
    assert feeds.manifest(bucket, "exports/people/", empty["id"])["files"] == []


class Flaky(BaseHTTPRequestHandler):
    """Fails the first POST of every item with a 503, then accepts; remembers what it accepted."""

    seen: dict[str, int] = {}
    accepted: dict[str, list[dict[str, Any]]] = {}
    lock = threading.Lock()

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        key = self.headers["Idempotency-Key"]
        with self.lock:
            self.seen[key] = self.seen.get(key, 0) + 1
            first = self.seen[key] == 1
            if not first:
                self.accepted.setdefault(key, body["records"])
        self.send_response(503 if first else 200)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        return


def test_a_webhook_that_fails_once_then_accepts_gets_every_row_once(
    feeds: Feeds, flow: Flow, stack: RunningStack
) -> None:
    ds = flow.dataset("feed-hook", SIMPLE)
    flow.ingest(ds, rows_of(25))
    server = ThreadingHTTPServer(("127.0.0.1", 0), Flaky)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/hook"
        feed = feeds.create("to-hook", ds, {"type": "webhook", "url": url, "batchSize": 10})
        done = feeds.wait(feed["id"], feeds.sync(feed["id"]))
        assert done["status"] == "success" and done["items"]["total"] == 3, done
        assert done["items"]["retried"] == 3 and done["rows"]["upserted"] == 25
        delivered = [r["id"] for records in Flaky.accepted.values() for r in records]
        assert sorted(delivered) == sorted(f"r{i}" for i in range(25)), "every row once"
        assert all(k.startswith(f"{done['id']}:") for k in Flaky.accepted)
        items = stack.get(f"{FEEDS}/{feed['id']}/syncs/{done['id']}/items").json()["items"]
        assert [i["attempts"] for i in items] == [2, 2, 2]
        payload = requests.get(items[0]["payload"], timeout=30).json()
        assert payload["syncId"] == done["id"] and len(payload["records"]) == 10
    finally:
        server.shutdown()
