"""Export feeds against `batchgate up`, over HTTP and S3 only: a full sync to S3 with a readable
manifest, an incremental sync carrying exactly the new batch, a revert becoming deletes, an empty
sync after that, the estimate against what was sent, and a webhook that fails once and then
accepts, every row delivered once."""

from __future__ import annotations

import io
import itertools
import json
import signal
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
import requests

from tests.e2e.stack import RunningStack, start_stack
from tests.e2e.test_guide_flows import Flow, jsonl
from tests.e2e.test_jobs import SIMPLE, rows_of

FEEDS = "/data/foundation/export/feeds"


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


def test_bad_feeds_are_refused_naming_what_is_wrong(feeds: Feeds, flow: Flow, stack: RunningStack) -> None:
    ds = flow.dataset("feed-bad", SIMPLE)
    cases = [
        (
            {"datasetId": "nope", "destination": {"type": "webhook", "url": "http://127.0.0.1:1/x"}},
            "BG-400-FEED-DATASET",
        ),
        (
            {
                "datasetId": ds,
                "columns": ["id", "colour"],
                "destination": {"type": "webhook", "url": "http://127.0.0.1:1/x"},
            },
            "BG-400-FEED-COLUMNS",
        ),
        (
            {
                "datasetId": ds,
                "destination": {"type": "s3", "uri": "s3://batchgate-feed-destinations-missing/x/"},
            },
            "BG-400-FEED-DESTINATION",
        ),
        ({"datasetId": ds, "destination": {"type": "ftp", "url": "ftp://x"}}, "BG-400-INVALID"),
    ]
    for body, code in cases:
        r = stack.post(FEEDS, json={"name": "bad", **body})
        assert r.status_code == 400 and r.json()["error"]["code"] == code, (body, r.text)
    assert "colour" in stack.post(FEEDS, json={"name": "bad", **cases[1][0]}).json()["error"]["message"]


def test_a_bucket_that_refuses_writes_fails_the_items_and_retry_delivers_them(
    feeds: Feeds, flow: Flow, stack: RunningStack
) -> None:
    ds = flow.dataset("feed-refused", SIMPLE)
    flow.ingest(ds, rows_of(4))
    bucket = "batchgate-feed-destinations-refusing"
    feeds.s3.create_bucket(Bucket=bucket)
    feed = feeds.create("refused", ds, {"type": "s3", "uri": f"s3://{bucket}/out/", "format": "jsonl"})
    feeds.s3.delete_bucket(Bucket=bucket)
    failed = feeds.wait(feed["id"], feeds.sync(feed["id"]))
    assert failed["status"] == "failed" and failed["items"] == {
        "total": 1,
        "sent": 0,
        "failed": 1,
        "retried": 0,
    }, failed
    assert bucket in failed["errors"][0]["message"] and "NoSuchBucket" in failed["errors"][0]["message"]
    state = stack.get(f"{FEEDS}/{feed['id']}").json()["state"]
    assert state["failedItems"] == 1 and state["owedSyncs"] == [failed["id"]]
    item = stack.get(f"{FEEDS}/{feed['id']}/syncs/{failed['id']}/items").json()["items"][0]
    kept = pq.read_table(io.BytesIO(requests.get(item["payload"], timeout=30).content))
    assert kept.num_rows == 4, "the payload is kept for troubleshooting and for the retry"

    feeds.s3.create_bucket(Bucket=bucket)
    retried = feeds.wait(feed["id"], feeds.sync(feed["id"], "RETRY_FAILED"))
    assert (
        retried["status"] == "success" and retried["mode"] == "retry" and retried["rows"]["upserted"] == 4
    ), retried
    lines = (
        feeds.s3.get_object(Bucket=bucket, Key=f"out/{retried['id']}/part-00000.jsonl")["Body"]
        .read()
        .splitlines()
    )
    assert sorted(json.loads(line)["id"] for line in lines) == [f"r{i}" for i in range(4)]
    state = stack.get(f"{FEEDS}/{feed['id']}").json()["state"]
    assert state["failedItems"] == 0 and state["owedSyncs"] == []
    nothing = stack.post(f"{FEEDS}/{feed['id']}?action=RETRY_FAILED")
    assert nothing.status_code == 409 and nothing.json()["error"]["code"] == "BG-409-NOTHING-TO-RETRY"


class Faulty(BaseHTTPRequestHandler):
    """Answers by path: /ok 200, /bad 400, /slow after 3 s, /close drops the connection."""

    accepted: dict[str, list[dict[str, Any]]] = {}
    healed = threading.Event()

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        if not self.healed.is_set():
            if self.path == "/bad":
                self.send_response(400)
                self.end_headers()
                return
            if self.path == "/slow":
                time.sleep(3)
            if self.path == "/close":
                self.close_connection = True
                self.connection.close()
                return
        Faulty.accepted.setdefault(self.headers["Idempotency-Key"], body["records"])
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        return


def test_webhooks_that_refuse_hang_close_or_are_down_fail_their_items_then_retry(
    feeds: Feeds, flow: Flow, stack: RunningStack
) -> None:
    ds = flow.dataset("feed-faulty", SIMPLE)
    flow.ingest(ds, rows_of(6))
    server = ThreadingHTTPServer(("127.0.0.1", 0), Faulty)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        expect = {
            "/bad": (1, "answered 400"),
            "/slow": (2, "did not answer within 1 s"),
            "/close": (2, "could not be reached"),
        }
        made = {}
        for path in expect:
            hook = {
                "type": "webhook",
                "url": base + path,
                "batchSize": 6,
                "timeoutSeconds": 1,
                "maxAttempts": 2,
            }
            made[path] = feeds.create(f"hook{path.replace('/', '-')}", ds, hook)
        down = feeds.create(
            "hook-down", ds, {"type": "webhook", "url": "http://127.0.0.1:9/x", "maxAttempts": 2}
        )
        for path, (attempts, says) in expect.items():
            sync = feeds.wait(made[path]["id"], feeds.sync(made[path]["id"]))
            assert sync["status"] == "failed", (path, sync)
            (item,) = stack.get(f"{FEEDS}/{made[path]['id']}/syncs/{sync['id']}/items").json()["items"]
            assert item["attempts"] == attempts and says in item["lastError"], (path, item)
        unreachable = feeds.wait(down["id"], feeds.sync(down["id"]))
        assert (
            unreachable["status"] == "failed"
            and "could not be reached" in unreachable["errors"][0]["message"]
        )

        Faulty.healed.set()
        for path in expect:
            again = feeds.wait(made[path]["id"], feeds.sync(made[path]["id"]))
            assert again["status"] == "success" and again["rows"]["upserted"] == 6, (path, again)
            # The owed item went first, under the idempotency key it was first sent with.
            (item,) = stack.get(f"{FEEDS}/{made[path]['id']}/syncs/{again['id']}/items").json()["items"]
            assert not item["idempotencyKey"].startswith(again["id"])
    finally:
        server.shutdown()
    per_key = [r["id"] for records in Faulty.accepted.values() for r in records]
    assert sorted(per_key) == sorted([f"r{i}" for i in range(6)] * 3), "each feed delivered each row once"


def test_two_syncs_at_once_one_runs_and_a_deleted_dataset_fails_the_sync(
    feeds: Feeds, flow: Flow, stack: RunningStack
) -> None:
    ds = flow.dataset("feed-race", SIMPLE)
    flow.ingest(ds, rows_of(3))
    bucket = "batchgate-feed-destinations-race"
    feeds.s3.create_bucket(Bucket=bucket)
    feed = feeds.create("race", ds, {"type": "s3", "uri": f"s3://{bucket}/"})
    answers: list[int] = []
    barrier = threading.Barrier(2)

    def go() -> None:
        barrier.wait()
        answers.append(stack.post(f"{FEEDS}/{feed['id']}?action=SYNC").status_code)

    threads = [threading.Thread(target=go) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # The API runs in worker processes: the second request may meet a cold worker and arrive
    # after the first sync ended, and then it rightly starts one. What must hold: no overlap.
    assert sorted(answers) in ([202, 409], [202, 202]), answers
    syncs = stack.get(f"{FEEDS}/{feed['id']}/syncs").json()["syncs"]
    assert len(syncs) == answers.count(202)
    ended = sorted((feeds.wait(feed["id"], s["id"]) for s in syncs), key=lambda s: s["started"])
    assert all(s["status"] == "success" for s in ended), ended
    for earlier, later in itertools.pairwise(ended):
        assert earlier["ended"] <= later["started"], ended
    sync = ended[-1]

    assert requests.delete(
        f"{stack.api}/data/foundation/catalog/dataSets/{ds}", headers=stack.headers(), timeout=30
    ).ok
    gone = feeds.wait(feed["id"], feeds.sync(feed["id"]))
    assert gone["status"] == "failed" and ds in gone["message"] and "deleted" in gone["message"], gone
    assert stack.get(f"{FEEDS}/{feed['id']}").json()["state"]["watermark"]["snapshot"] == sync_snapshot(
        feeds, feed["id"], sync["id"]
    ), "a failed sync leaves the watermark where it was"


def sync_snapshot(feeds: Feeds, feed_id: str, sync_id: str) -> int:
    return int(feeds.s.get(f"{FEEDS}/{feed_id}/syncs/{sync_id}").json()["toSnapshot"])


def test_a_replay_between_syncs_is_deletes_of_the_predecessors_and_the_new_rows(
    feeds: Feeds, flow: Flow, stack: RunningStack
) -> None:
    ds = flow.dataset("feed-replay", SIMPLE)
    a = flow.ingest(ds, rows_of(3))
    keep = flow.ingest(ds, rows_of(2, 10))
    bucket = "batchgate-feed-destinations-replay"
    feeds.s3.create_bucket(Bucket=bucket)
    feed = feeds.create("replay", ds, {"type": "s3", "uri": f"s3://{bucket}/"})
    assert feeds.wait(feed["id"], feeds.sync(feed["id"]))["rows"]["upserted"] == 5
    r = stack.post(
        "/data/foundation/import/batches",
        json={"datasetId": ds, "inputFormat": {"format": "json"}, "replay": {"predecessors": [a["id"]]}},
    )
    replay = r.json()["id"]
    flow.upload(replay, ds, "fixed.json", rows_of(4, 20))
    flow.action(replay, "COMPLETE")
    assert stack.wait_batch(replay, {"success", "failed"})["status"] == "success"
    sync = feeds.wait(feed["id"], feeds.sync(feed["id"]))
    rows = feeds.rows(feeds.manifest(bucket, "", sync["id"]))
    assert [r["_op"] for r in rows] == ["delete"] * 3 + ["upsert"] * 4, "deletes first"
    assert {r["_batch_id"] for r in rows[:3]} == {a["id"]}
    assert sorted(r["id"] for r in rows[3:]) == ["r20", "r21", "r22", "r23"]
    assert keep["id"] not in {r["_batch_id"] for r in rows}


def test_an_upsert_dataset_sends_current_values_and_a_revert_restores_them(
    feeds: Feeds, flow: Flow, stack: RunningStack
) -> None:
    ds = flow.dataset("feed-upsert", SIMPLE, tags={"isUpsert": True, "identity": ["id"]})
    flow.ingest(ds, rows_of(3))  # r0 r1 r2, n = 0 1 2
    bucket = "batchgate-feed-destinations-upsert"
    feeds.s3.create_bucket(Bucket=bucket)
    feed = feeds.create("upsert", ds, {"type": "s3", "uri": f"s3://{bucket}/"})
    feeds.wait(feed["id"], feeds.sync(feed["id"]))
    patch = flow.ingest(ds, jsonl([{"id": "r1", "n": 100}, {"id": "r9", "n": 9}]))
    changed = feeds.rows(feeds.manifest(bucket, "", feeds.wait(feed["id"], feeds.sync(feed["id"]))["id"]))
    assert sorted((r["_op"], r["id"], r["n"]) for r in changed) == [
        ("upsert", "r1", 100),
        ("upsert", "r9", 9),
    ]

    assert stack.post(f"/data/foundation/import/batches/{patch['id']}?action=REVERT").status_code == 200
    stack.wait_batch(patch["id"], {"inactive"}, timeout=60)
    restored = feeds.rows(feeds.manifest(bucket, "", feeds.wait(feed["id"], feeds.sync(feed["id"]))["id"]))
    assert sorted((r["_op"], r["id"], r["n"]) for r in restored) == [
        ("delete", "r9", None),
        ("upsert", "r1", 1),
    ]


class Blocking(BaseHTTPRequestHandler):
    """Holds the first POST until ``release`` is set; accepts everything, keeping the first body
    per idempotency key."""

    arrived = threading.Event()
    release = threading.Event()
    accepted: dict[str, list[dict[str, Any]]] = {}
    posts = 0

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        Blocking.posts += 1
        if not self.arrived.is_set():
            self.arrived.set()
            self.release.wait(60)
        Blocking.accepted.setdefault(self.headers["Idempotency-Key"], body["records"])
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        return


def test_a_stack_killed_mid_sync_resumes_it_and_the_watermark_never_passes_undelivered_rows(
    tmp_path: Path,
) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Blocking)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    data = tmp_path / "stack"
    doomed = start_stack(data)
    try:
        feeds, flow = Feeds(doomed), Flow(doomed)
        ds = flow.dataset("feed-killed", SIMPLE)
        flow.ingest(ds, rows_of(30))
        hook = {"type": "webhook", "url": f"http://127.0.0.1:{server.server_address[1]}/", "batchSize": 10,
                "concurrency": 1}  # fmt: skip
        feed = feeds.create("killed", ds, hook)
        sync_id = feeds.sync(feed["id"])
        assert Blocking.arrived.wait(60), "the first item never arrived"
        doomed.stop(signal.SIGKILL)
    finally:
        doomed.stop(signal.SIGKILL)
    Blocking.release.set()

    restarted = start_stack(data)
    try:
        feeds = Feeds(restarted)
        shown = restarted.get(f"{FEEDS}/{feed['id']}").json()["state"]
        assert shown["watermark"]["snapshot"] is None, "nothing was acknowledged before the kill"
        done = feeds.wait(feed["id"], sync_id)
        assert done["status"] == "success" and done["rows"]["upserted"] == 30, done
        delivered = [r["id"] for records in Blocking.accepted.values() for r in records]
        assert sorted(delivered) == sorted(f"r{i}" for i in range(30)), "every row once per idempotency key"
        assert set(Blocking.accepted) == {f"{sync_id}:{n}" for n in range(3)}
        state = restarted.get(f"{FEEDS}/{feed['id']}").json()["state"]
        assert state["watermark"]["snapshot"] == done["toSnapshot"] and state["syncing"] is None
    finally:
        restarted.stop()
        server.shutdown()


def test_an_export_feed_job_runs_a_sync_and_its_run_follows_it(
    feeds: Feeds, flow: Flow, stack: RunningStack
) -> None:
    ds = flow.dataset("feed-job", SIMPLE)
    flow.ingest(ds, rows_of(4))
    bucket = "batchgate-feed-destinations-job"
    feeds.s3.create_bucket(Bucket=bucket)
    feed = feeds.create("nightly-export", ds, {"type": "s3", "uri": f"s3://{bucket}/"})
    r = stack.post(
        "/data/foundation/schedules/jobs",
        json={"name": "export-nightly", "workflow": "export-feed", "attributes": {"feedId": feed["id"]},
              "schedule": {"expression": "cron(0 1 * * ? *)"}},
    )  # fmt: skip
    assert r.status_code == 201, r.text
    job = r.json()
    runs = "/data/foundation/schedules/runs"

    def run_once() -> dict[str, Any]:
        started = stack.post(f"/data/foundation/schedules/jobs/{job['id']}?action=RUN")
        assert started.status_code == 202, started.text
        run_id = started.json()["runId"]
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            run = stack.get(f"{runs}/{run_id}").json()
            if run["status"] != "running":
                return dict(run)
            time.sleep(0.3)
        raise AssertionError(f"run {run_id} did not end")

    first = run_once()
    assert first["status"] == "success", first
    (synced,) = [s for s in first["steps"] if s["name"] == "sync"]
    assert synced["metrics"]["rows"] == 4 and synced["status"] == "success", synced
    (sync,) = stack.get(f"{FEEDS}/{feed['id']}/syncs").json()["syncs"]
    assert (
        sync["trigger"] == f"job:{job['id']}" and sync["mode"] == "full"
    )  # the first sync of a feed is full
    flow.ingest(ds, rows_of(2, 50))
    second = run_once()
    (synced,) = [s for s in second["steps"] if s["name"] == "sync"]
    assert second["status"] == "success" and synced["metrics"]["rows"] == 2, second


def test_a_feed_of_a_dataset_with_nothing_landed_yet_syncs_empty_then_full(
    feeds: Feeds, flow: Flow, stack: RunningStack
) -> None:
    ds = flow.dataset("feed-empty", SIMPLE)
    bucket = "batchgate-feed-destinations-empty"
    feeds.s3.create_bucket(Bucket=bucket)
    feed = feeds.create("empty", ds, {"type": "s3", "uri": f"s3://{bucket}/"})
    assert stack.get(f"{FEEDS}/{feed['id']}/estimate").json()["rows"] == 0
    first = feeds.wait(feed["id"], feeds.sync(feed["id"]))
    assert first["status"] == "success" and first["mode"] == "full" and first["items"]["total"] == 0, first
    flow.ingest(ds, rows_of(2))
    second = feeds.wait(feed["id"], feeds.sync(feed["id"]))
    assert second["mode"] == "full" and second["rows"]["upserted"] == 2, "still no watermark: full again"
