"""Tasks of the feed-sync state machine (``statemachines/feed_sync.asl.json``): one sync of a feed.

    Plan → Deliver (Map over chunks of parts, concurrently) → Finalize;  any failure → Fail

Plan works out the changes (:mod:`batchgate.feeds.changes`) and writes them to S3 as
``plan.json`` under the sync's prefix; the state carries only chunk numbers, so a sync of any size
stays within Step Functions' payload limits. Owed items (failed in an earlier sync) go first, then
the parts, deletes before upserts. Every task is idempotent per sync: a restarted plan reuses its
``plan.json``, a restarted delivery skips items already sent (a part file is written under the
same key; a webhook item carries the same ``Idempotency-Key``), and only Finalize moves the
watermark, so a sync killed half-way never passes undelivered rows.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from pyiceberg.table import Table

from batchgate.aws.feed_store import FeedStore
from batchgate.aws.objects import Objects
from batchgate.core import keys
from batchgate.core.errors import BatchgateError, InvalidRequest, NotFound
from batchgate.core.ids import now_ms
from batchgate.core.models import Dataset
from batchgate.feeds.changes import Planner
from batchgate.feeds.deliver import (
    CONTENT_TYPES,
    EXTENSIONS,
    Webhook,
    encode,
    export_schema,
    read_part,
    records,
)
from batchgate.feeds.items import (
    chunk_units,
    concurrency_of,
    number_units,
    part_json,
    part_size,
    rows_per_item,
)
from batchgate.feeds.models import (
    Feed,
    LastSync,
    S3Destination,
    Sync,
    SyncItem,
    Watermark,
    WebhookDestination,
)
from batchgate.lake.catalog import shared_catalog
from batchgate.lake.history import reading_point
from batchgate.lake.tables import load_table
from batchgate.observability import logger
from batchgate.workflow.context import State, TaskContext, caught_error

# A delivery task stops retrying (items fail, owed to the next sync) before the tasks function's
# 900 s timeout could end it mid-write.
DELIVER_BUDGET_SECONDS = 780


def _store(ctx: TaskContext) -> FeedStore:
    return FeedStore(ctx.settings.table_name)


def _prefix(sync: Sync) -> str:
    return keys.feed_sync_prefix(sync.org, sync.sandbox, sync.feed_id, sync.id)


def _load(ctx: TaskContext, state: State) -> tuple[FeedStore, Feed, Sync]:
    store = _store(ctx)
    feed = store.get_feed(state["org"], state["sandbox"], state["feedId"])
    sync = store.get_sync(state["org"], state["sandbox"], state["syncId"])
    return store, feed, sync


# -- Plan -----------------------------------------------------------------------------------------
def feed_plan(ctx: TaskContext, state: State) -> State:
    store, feed, sync = _load(ctx, state)
    plan_key = f"{_prefix(sync)}plan.json"
    if ctx.objects.exists(plan_key):  # a restarted sync: the plan it made
        plan = ctx.objects.get_json(plan_key)
        return {"chunks": list(range(len(plan["chunks"]))), "items": plan["items"]}
    try:
        dataset = ctx.store.get_dataset(feed.org, feed.sandbox, feed.dataset_id)
    except NotFound as exc:
        raise InvalidRequest(
            f"the feed's dataset {feed.dataset_id} was deleted: nothing can be synced",
            code="BG-400-FEED-DATASET",
        ) from exc
    retries = _owed_items(store, feed) if sync.mode != "full" else []
    units: list[dict[str, Any]] = [{"retry": r} for r in retries]
    columns: list[str] = []
    table = _table_if_any(dataset) if sync.mode != "retry" else None
    if sync.mode != "retry" and table is None:
        # No batch has landed yet, so there is no table: an empty full sync (it sets nothing).
        sync.mode = "full"
        state_extra: dict[str, Any] = {}
    elif table is not None:
        point = reading_point(table, lambda b: _status(ctx, feed, b) == "aborted", now_ms=now_ms())
        size_rows, size_bytes = part_size(feed)
        planner = Planner(
            table,
            dataset_id=dataset.id,
            identity=list(dataset.tags.identity),
            upsert=dataset.tags.is_upsert,
            columns=feed.columns,
            part_rows=size_rows,
            part_bytes=size_bytes,
        )
        columns = planner.columns
        snapshot = point.snapshot_id
        found = table.metadata.snapshot_by_id(snapshot) if snapshot is not None else None
        committed = found.timestamp_ms if found is not None else None
        change_count = [0]

        def write(df: pa.Table) -> tuple[str, int]:
            change_count[0] += 1
            key = f"{_prefix(sync)}changes-{change_count[0]:05d}.parquet"
            body = encode(df, "parquet")
            ctx.objects.put_bytes(key, body, content_type=CONTENT_TYPES["parquet"])
            return keys.s3_uri(ctx.objects.bucket, key), len(body)

        if sync.mode == "full" or feed.watermark.snapshot is None:
            plan_ = planner.full(snapshot, point.aborted, committed)
            sync.mode = "full"
        else:
            plan_ = planner.incremental(feed.watermark.snapshot, snapshot, point.aborted, committed, write)
        sync.from_snapshot, sync.to_snapshot = plan_.from_snapshot, plan_.to_snapshot
        units += [{"part": part_json(p)} for p in plan_.parts]
        state_extra = {"toTime": plan_.to_time, "toBatch": _newest_batch(plan_.upsert_batches)}
    else:
        state_extra = {}
    numbered, total = number_units(units, rows_per_item(feed))
    chunks = chunk_units(numbered, concurrency_of(feed))
    plan = {"columns": columns, "units": numbered, "chunks": chunks, "items": total, **state_extra}
    ctx.objects.put_json(plan_key, plan)
    sync.items.total = total
    sync.message = f"{total} item(s) to deliver"
    store.put_sync(sync)
    return {"chunks": list(range(len(chunks))), "items": total}


def _table_if_any(dataset: Dataset) -> Table | None:
    try:
        return load_table(shared_catalog(), dataset)
    except NotFound:
        return None


def _owed_items(store: FeedStore, feed: Feed) -> list[dict[str, Any]]:
    out = []
    for sync_id in feed.owed:
        for item in store.list_items(feed.org, feed.sandbox, sync_id):
            if item.status == "failed":
                out.append({"syncId": sync_id, "number": item.number, "key": item.key, "rows": item.rows,
                            "op": item.op, "payload": item.payload})  # fmt: skip
    return out


def _newest_batch(batches: list[str]) -> str | None:
    return batches[-1] if batches else None


def _status(ctx: TaskContext, feed: Feed, batch_id: str) -> str | None:
    try:
        return ctx.store.get_batch(feed.org, feed.sandbox, batch_id).status
    except NotFound:
        return None


# -- Deliver --------------------------------------------------------------------------------------
def feed_deliver(ctx: TaskContext, state: State) -> State:
    store, feed, sync = _load(ctx, state)
    plan = ctx.objects.get_json(f"{_prefix(sync)}plan.json")
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
        payload = f"{_prefix(sync)}items/{number:08d}.json"
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
        payload = f"{_prefix(sync)}items/{number:08d}.parquet"
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


# -- Finalize / Fail ------------------------------------------------------------------------------
def feed_finalize(ctx: TaskContext, state: State) -> State:
    store, feed, sync = _load(ctx, state)
    plan = ctx.objects.get_json(f"{_prefix(sync)}plan.json")
    items = store.list_items(sync.org, sync.sandbox, sync.id)
    sent = [i for i in items if i.status == "sent"]
    failed = [i for i in items if i.status == "failed"]
    sync.items.sent, sync.items.failed = len(sent), len(failed)
    sync.items.retried = sum(1 for i in sent if i.origin is not None or i.attempts > 1)
    sync.rows.upserted = sum(i.rows for i in sent if i.op == "upsert")
    sync.rows.deleted = sum(i.rows for i in sent if i.op == "delete")
    sync.bytes = sum(i.bytes for i in sent)
    sync.files = [i.target for i in sent if i.target]
    if isinstance(feed.destination, S3Destination):
        _manifest(feed, sync, sent, failed)
    sync.status = "success" if not failed else ("partial" if sent else "failed")
    sync.ended = now_ms()
    sync.message = f"{len(sent)} item(s) sent, {len(failed)} failed" + (
        ": they are sent again first by the next sync, or by RETRY_FAILED" if failed else ""
    )
    sync.errors = [{"item": i.number, "message": i.last_error or ""} for i in failed[:20]]
    store.put_sync(sync)
    _settle_feed(store, feed, sync, plan, bool(failed))
    return {"status": sync.status}


def _manifest(feed: Feed, sync: Sync, sent: list[SyncItem], failed: list[SyncItem]) -> None:
    d = feed.destination
    assert isinstance(d, S3Destination)
    manifest = {
        "feedId": feed.id,
        "syncId": sync.id,
        "mode": sync.mode,
        "fromSnapshot": sync.from_snapshot,
        "toSnapshot": sync.to_snapshot,
        "format": d.format,
        "files": [
            {"path": i.target, "rows": i.rows, "op": i.op, "bytes": i.bytes}
            for i in sorted(sent, key=lambda i: i.number)
        ],
        "rows": {"upserted": sync.rows.upserted, "deleted": sync.rows.deleted},
        "failedItems": len(failed),
    }
    code = Objects(d.bucket).put_refused(
        f"{d.prefix}{sync.id}/_manifest.json",
        json.dumps(manifest, indent=2).encode(),
        content_type="application/json",
    )
    if code is not None:
        logger.warning("manifest not written", extra={"feed_id": feed.id, "sync_id": sync.id, "error": code})


def _settle_feed(store: FeedStore, feed: Feed, sync: Sync, plan: dict[str, Any], has_failed: bool) -> None:
    """The watermark moves to what this sync covered: what it could not deliver is owed (held as
    failed items with their payloads) and goes first next time."""
    retried_from = {u["retry"]["syncId"] for u in plan["units"] if "retry" in u}
    for _ in range(5):
        current = store.get_feed(feed.org, feed.sandbox, feed.id)
        if current.syncing not in (None, "", sync.id):
            return
        owed = [] if sync.mode == "full" else [s for s in current.owed if s not in retried_from]
        if has_failed:
            owed.append(sync.id)
        update: dict[str, Any] = {
            "owed": owed,
            "syncing": None,
            "last_sync": LastSync(
                id=sync.id, mode=sync.mode, status=sync.status, started=sync.started, ended=sync.ended
            ),
            "failed_items": sum(
                1 for s in owed for i in store.list_items(feed.org, feed.sandbox, s) if i.status == "failed"
            ),
        }
        if sync.to_snapshot is not None:
            update["watermark"] = Watermark(snapshot=sync.to_snapshot, batch=plan.get("toBatch") or current.watermark.batch,
                                            time=plan.get("toTime"))  # fmt: skip
        seconds = max(0.001, ((sync.ended or now_ms()) - sync.started) / 1000)
        rows = sync.rows.upserted + sync.rows.deleted
        if rows >= 1000:
            update["rows_per_second"] = rows / seconds
        try:
            store.save_feed(current.model_copy(update=update), expected_version=current.version)
            return
        except BatchgateError:
            continue


def feed_fail(ctx: TaskContext, state: State) -> State:
    """The sync fails saying why; the watermark stays, the lock is released."""
    store = _store(ctx)
    try:
        sync = store.get_sync(state["org"], state["sandbox"], state["syncId"])
    except NotFound:
        return {"status": "failed"}
    error = sync.errors[-1] if sync.errors else caught_error(state.get("error"), "BG-500-FEED-SYNC")
    if error not in sync.errors:
        sync.errors = [*sync.errors, error]
    sync.status, sync.ended, sync.message = "failed", now_ms(), str(error.get("message", "a step failed"))
    store.put_sync(sync)
    for _ in range(5):
        try:
            feed = store.get_feed(sync.org, sync.sandbox, sync.feed_id)
        except NotFound:
            break
        if feed.syncing != sync.id:
            break
        last = LastSync(id=sync.id, mode=sync.mode, status="failed", started=sync.started, ended=sync.ended)
        try:
            store.save_feed(
                feed.model_copy(update={"syncing": None, "last_sync": last}), expected_version=feed.version
            )
            break
        except BatchgateError:
            continue
    return {"status": "failed"}


def note_failure(ctx: TaskContext, state: State, exc: BaseException) -> None:
    """A task's error on its sync, written by the worker (moto drops SendTaskFailure's cause)."""
    store = _store(ctx)
    try:
        sync = store.get_sync(state["org"], state["sandbox"], state["syncId"])
    except NotFound:
        return
    code = exc.code if isinstance(exc, BatchgateError) else "BG-500-FEED-SYNC"
    message = exc.message if isinstance(exc, BatchgateError) else f"{type(exc).__name__}: {exc}"
    entry = {"code": code, "message": message[:1000]}
    if entry not in sync.errors:
        sync.errors.append(entry)
        store.put_sync(sync)


TASKS: dict[str, Callable[[TaskContext, State], Any]] = {
    "feed_plan": feed_plan,
    "feed_deliver": feed_deliver,
    "feed_finalize": feed_finalize,
    "feed_fail": feed_fail,
}
