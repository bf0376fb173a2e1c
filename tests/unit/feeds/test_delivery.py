"""Delivery pieces without AWS: how a webhook answer is classified and retried, how parts become
numbered items and chunks, and how rows are encoded per format."""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from batchgate.feeds.deliver import Webhook, encode, export_schema, records
from batchgate.feeds.items import chunk_units, number_units, rows_per_item
from batchgate.feeds.models import Feed, S3Destination, WebhookDestination


class Scripted(BaseHTTPRequestHandler):
    """Answers each POST with the next status of ``script`` (then 200), recording keys."""

    script: list[int] = []
    keys: list[str] = []

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        Scripted.keys.append(self.headers["Idempotency-Key"])
        status = Scripted.script.pop(0) if Scripted.script else 200
        self.send_response(status)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        return


@pytest.fixture
def url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Scripted)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    Scripted.keys = []
    yield f"http://127.0.0.1:{server.server_address[1]}/in"
    server.shutdown()


def hook(url: str, **extra: Any) -> Webhook:
    slept: list[float] = []
    w = Webhook(WebhookDestination(type="webhook", url=url, **extra), sleep=slept.append)
    w.slept = slept  # type: ignore[attr-defined]
    return w


@pytest.mark.parametrize(
    ("script", "sent", "attempts", "says"),
    [
        ([503, 429, 500], True, 4, None),
        ([400], False, 1, "answered 400"),
        ([404], False, 1, "answered 404"),
        ([503, 503, 503, 503, 503], False, 5, "answered 503"),
    ],
)
def test_5xx_and_429_are_retried_other_4xx_fail_at_once(
    url: str, script: list[int], sent: bool, attempts: int, says: str | None
) -> None:
    Scripted.script = list(script)
    w = hook(url)
    outcome = w.post(b"{}", "sync:0")
    assert (outcome.sent, outcome.attempts) == (sent, attempts)
    assert (outcome.error is None) if says is None else (says in str(outcome.error))
    assert Scripted.keys == ["sync:0"] * attempts, "every attempt carries the same key"
    delays = w.slept  # type: ignore[attr-defined]
    assert len(delays) == attempts - 1
    assert all(0 <= d <= min(20.0, 0.5 * 2**i) for i, d in enumerate(delays)), delays


def test_an_unreachable_destination_is_retried_then_fails_and_time_left_bounds_retries() -> None:
    w = hook("http://127.0.0.1:9/x", maxAttempts=3)
    outcome = w.post(b"{}", "k")
    assert not outcome.sent and outcome.attempts == 3 and "could not be reached" in str(outcome.error)
    hurried = Webhook(WebhookDestination(type="webhook", url="http://127.0.0.1:9/x"), remaining=lambda: 1.0)
    out = hurried.post(b"{}", "k")
    assert not out.sent and out.attempts == 0 and "no time left" in str(out.error)


def feed(destination: Any) -> Feed:
    return Feed(id="f", org="o", sandbox="s", name="n", dataset_id="d", destination=destination,
                created=0, updated=0, created_user="u")  # fmt: skip


def test_parts_become_numbered_items_and_chunks_keep_their_order() -> None:
    units = [{"retry": {"rows": 10}}, {"part": {"rows": 25}}, {"part": {"rows": 0}}, {"part": {"rows": 10}}]
    web = feed(WebhookDestination(type="webhook", url="http://x", batchSize=10))
    numbered, total = number_units([dict(u) for u in units], rows_per_item(web))
    assert [u["first"] for u in numbered] == [0, 1, 4, 5] and total == 6
    s3 = feed(S3Destination(type="s3", uri="s3://bucket/p"))
    numbered, total = number_units([dict(u) for u in units], rows_per_item(s3))
    assert [u["first"] for u in numbered] == [0, 1, 2, 3] and total == 4
    chunks = chunk_units(numbered, 2)
    assert [i for c in chunks for i in c] == [0, 1, 2, 3] and len(chunks) == 2
    assert chunk_units([], 4) == [] and len(chunk_units(numbered, 16)) <= 4
    assert s3.destination.prefix == "p/" and s3.destination.bucket == "bucket"  # type: ignore[union-attr]


def test_encoding_per_format_keeps_rows_and_ops() -> None:
    table_schema = pa.schema(
        [("id", pa.string()), ("tags", pa.list_(pa.string())), ("_batch_id", pa.string())]
    )
    schema = export_schema(table_schema, ["id", "tags", "_batch_id"])
    df = pa.table({"id": ["a", None], "tags": [["x"], None], "_batch_id": ["b", "b"], "_op": ["upsert", "delete"]},
                  schema=schema)  # fmt: skip
    assert pq.read_table(io.BytesIO(encode(df, "parquet"))).to_pylist() == df.to_pylist()
    lines = [json.loads(line) for line in encode(df, "jsonl").splitlines()]
    assert lines == [{"id": "a", "tags": ["x"], "_batch_id": "b", "_op": "upsert"},
                     {"id": None, "tags": None, "_batch_id": "b", "_op": "delete"}]  # fmt: skip
    csv = encode(df, "csv").decode().splitlines()
    assert csv[0] == '"id","tags","_batch_id","_op"' and csv[1] == '"a","[""x""]","b","upsert"'
    assert [len(chunk) for chunk in records(df, 1)] == [1, 1]
