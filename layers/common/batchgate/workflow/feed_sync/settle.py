"""The sync's bookkeeping: Finalize (the counts, the S3 manifest, then the feed's watermark, owed
syncs and lock), Fail (the sync fails saying why, the lock is released, the watermark stays) and
the error a failed task leaves on its sync.
"""

from __future__ import annotations

import json
from typing import Any

from batchgate.aws.feed_store import FeedStore
from batchgate.aws.objects import Objects
from batchgate.core.errors import BatchgateError, NotFound
from batchgate.core.ids import now_ms
from batchgate.feeds.models import Feed, LastSync, S3Destination, Sync, SyncItem, Watermark
from batchgate.observability import logger
from batchgate.workflow.context import State, TaskContext, caught_error, raised_error
from batchgate.workflow.feed_sync.loading import feed_store, load, plan_key


def feed_finalize(ctx: TaskContext, state: State) -> State:
    store, feed, sync = load(ctx, state)
    plan = ctx.objects.get_json(plan_key(sync))
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
    store = feed_store(ctx)
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
    store = feed_store(ctx)
    try:
        sync = store.get_sync(state["org"], state["sandbox"], state["syncId"])
    except NotFound:
        return
    entry = raised_error(exc, "BG-500-FEED-SYNC")
    if entry not in sync.errors:
        sync.errors.append(entry)
        store.put_sync(sync)
