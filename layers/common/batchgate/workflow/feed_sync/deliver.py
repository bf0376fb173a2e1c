"""Deliver, one chunk of the plan per task (a Map runs them concurrently): parts written to the
S3 destination or posted to the webhook item by item, owed items sent again from their kept
payloads. Each item is recorded as sent or failed; a restarted delivery skips the items already
sent (a part under the same key; a webhook item under the same ``Idempotency-Key``).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from batchgate.aws.feed_store import FeedStore
from batchgate.aws.objects import Objects
from batchgate.core import keys
from batchgate.feeds.deliver import (
    CONTENT_TYPES,
    EXTENSIONS,
    Webhook,
    encode,
    export_schema,
    read_part,
    records,
)
from batchgate.feeds.models import Feed, S3Destination, Sync, SyncItem, WebhookDestination
from batchgate.lake.catalog import shared_catalog
from batchgate.lake.tables import load_table
from batchgate.workflow.context import State, TaskContext
from batchgate.workflow.feed_sync.loading import load, plan_key, sync_prefix

# A delivery task stops retrying (items fail, owed to the next sync) before the tasks function's
# 900 s timeout could end it mid-write.
DELIVER_BUDGET_SECONDS = 780


def feed_deliver(ctx: TaskContext, state: State) -> State:
    store, feed, sync = load(ctx, state)
    plan = ctx.objects.get_json(plan_key(sync))
    done = {i.number: i for i in store.list_items(sync.org, sync.sandbox, sync.id) if i.status == "sent"}
    deadline = time.monotonic() + DELIVER_BUDGET_SECONDS

    def remaining() -> float:
        return deadline - time.monotonic()

    source: Any = None
    sent = failed = 0
    for index in plan["chunks"][int(state["chunk"])]:
        unit = plan["units"][index]
        if "retry" in unit:
            ok = _redeliver(ctx, store, feed, sync, unit, done, remaining)
        else:
            if source is None:
                dataset = ctx.store.get_dataset(feed.org, feed.sandbox, feed.dataset_id)
                source = load_table(shared_catalog(), dataset)
            schema = export_schema(_arrow(source), plan["columns"])
            ok = _deliver_part(ctx, store, feed, sync, unit, schema, source.io, done, remaining)
        sent, failed = sent + ok[0], failed + ok[1]
    return {"sent": sent, "failed": failed}


def _deliver_part(
    ctx: TaskContext,
    store: FeedStore,
    feed: Feed,
    sync: Sync,
    unit: dict[str, Any],
    schema: pa.Schema,
    file_io: Any,
    done: dict[int, SyncItem],
    remaining: Callable[[], float],
) -> tuple[int, int]:
    part, first = unit["part"], int(unit["first"])
    d = feed.destination
    if isinstance(d, S3Destination):
        if first in done:
            return 1, 0
        return _to_s3(
            ctx, store, feed, sync, first, read_part(file_io, part["files"], schema, part["op"]), part["op"]
        )
    df = read_part(file_io, part["files"], schema, part["op"])
    sent = failed = 0
    for offset, chunk in enumerate(records(df, d.batchSize)):
        number = first + offset
        if number in done:
            sent += 1
            continue
        body = json.dumps({"feedId": feed.id, "syncId": sync.id, "item": number, "records": chunk}).encode()
        payload = f"{sync_prefix(sync)}items/{number:08d}.json"
        ctx.objects.put_bytes(payload, body, content_type="application/json")
        item = SyncItem(
            sync_id=sync.id, number=number, rows=len(chunk), op=part["op"], payload=payload, bytes=len(body)
        )
        ok = _post(store, feed, sync, item, body, remaining)
        sent, failed = sent + ok, failed + (not ok)
    return sent, failed


def _arrow(table: Any) -> pa.Schema:
    from pyiceberg.io.pyarrow import schema_to_pyarrow

    return schema_to_pyarrow(table.schema(), include_field_ids=False)


def _to_s3(
    ctx: TaskContext,
    store: FeedStore,
    feed: Feed,
    sync: Sync,
    number: int,
    df: pa.Table,
    op: str,
    origin: str | None = None,
) -> tuple[int, int]:
    d = feed.destination
    assert isinstance(d, S3Destination)
    target = f"{d.prefix}{sync.id}/part-{number:05d}.{EXTENSIONS[d.format]}"
    body = encode(df, d.format)
    item = SyncItem(sync_id=sync.id, number=number, rows=df.num_rows, op=op, payload="", bytes=len(body),
                    origin=origin, target=keys.s3_uri(d.bucket, target))  # fmt: skip
    code = Objects(d.bucket).put_refused(target, body, content_type=CONTENT_TYPES[d.format])
    if code is not None:
        # Kept in the stack's bucket, so a retry sends exactly these rows.
        payload = f"{sync_prefix(sync)}items/{number:08d}.parquet"
        ctx.objects.put_bytes(payload, encode(df, "parquet"), content_type=CONTENT_TYPES["parquet"])
        update = {
            "status": "failed",
            "attempts": 1,
            "payload": payload,
            "last_error": f"s3://{d.bucket}/{target}: {code}",
        }
        store.put_item(sync.org, sync.sandbox, item.model_copy(update=update))
        return 0, 1
    store.put_item(sync.org, sync.sandbox, item.model_copy(update={"status": "sent", "attempts": 1}))
    return 1, 0


def _post(
    store: FeedStore, feed: Feed, sync: Sync, item: SyncItem, body: bytes, remaining: Callable[[], float]
) -> bool:
    d = feed.destination
    assert isinstance(d, WebhookDestination)
    outcome = Webhook(d, remaining=remaining).post(body, item.key)
    status = "sent" if outcome.sent else "failed"
    update = {"status": status, "attempts": outcome.attempts, "last_error": outcome.error}
    store.put_item(sync.org, sync.sandbox, item.model_copy(update=update))
    return outcome.sent


def _redeliver(
    ctx: TaskContext,
    store: FeedStore,
    feed: Feed,
    sync: Sync,
    unit: dict[str, Any],
    done: dict[int, SyncItem],
    remaining: Callable[[], float],
) -> tuple[int, int]:
    """An item an earlier sync could not deliver, sent again from its kept payload under its
    first idempotency key."""
    owed, number = unit["retry"], int(unit["first"])
    if number in done:
        return 1, 0
    d = feed.destination
    if isinstance(d, WebhookDestination):
        body = ctx.objects.get_bytes(owed["payload"])
        item = SyncItem(sync_id=sync.id, number=number, rows=owed["rows"], op=owed["op"], payload=owed["payload"],
                        bytes=len(body), origin=owed["key"])  # fmt: skip
        ok = _post(store, feed, sync, item, body, remaining)
        return int(ok), int(not ok)
    df = pq.read_table(pa.BufferReader(ctx.objects.get_bytes(owed["payload"])))
    return _to_s3(ctx, store, feed, sync, number, df, owed["op"], origin=owed["key"])
