"""Starting a sync of a feed: take the feed's lock, record the sync, start its execution. Shared
by the API (SYNC / FULL_SYNC / RETRY_FAILED) and by export-feed job runs."""

from __future__ import annotations

from batchgate.aws.executions import ExecutionNotStarted, Executions
from batchgate.aws.feed_store import FeedStore
from batchgate.core.errors import BatchgateError, Conflict, Transient
from batchgate.core.ids import new_id, now_ms
from batchgate.feeds.models import Feed, LastSync, Sync, SyncMode


class FeedsNotConfigured(BatchgateError):
    code = "BG-503-NOT-CONFIGURED"
    status = 503


def start_sync(store: FeedStore, machine_arn: str | None, feed: Feed, mode: SyncMode, trigger: str) -> str:
    """The new sync's id. 409 ``BG-409-SYNC-RUNNING`` while another sync of the feed holds it:
    two syncs of one feed never overlap."""
    if not machine_arn:
        raise FeedsNotConfigured("syncs need the feed-sync state machine: BATCHGATE_FEED_SYNC_SM is not set")
    if mode == "retry" and not feed.owed:
        raise Conflict(f"feed {feed.id} owes no failed items", code="BG-409-NOTHING-TO-RETRY")
    if mode == "incremental" and feed.watermark.snapshot is None:
        mode = "full"  # a feed's first sync sends everything, whatever it was asked
    if feed.syncing:
        raise Conflict(f"sync {feed.syncing} of feed {feed.id} is running", code="BG-409-SYNC-RUNNING")
    sync = Sync(id=new_id(), org=feed.org, sandbox=feed.sandbox, feed_id=feed.id, mode=mode, trigger=trigger,
                started=now_ms())  # fmt: skip
    last = LastSync(id=sync.id, mode=sync.mode, status="running", started=sync.started)
    try:
        store.save_feed(
            feed.model_copy(update={"syncing": sync.id, "last_sync": last}),
            expected_version=feed.version,
            lock=sync.id,
        )
    except Conflict as exc:
        raise Conflict(f"another sync of feed {feed.id} started first", code="BG-409-SYNC-RUNNING") from exc
    store.put_sync(sync)
    payload = {"org": feed.org, "sandbox": feed.sandbox, "feedId": feed.id, "syncId": sync.id}
    try:
        Executions().start(machine_arn, f"sync-{sync.id}", payload)
    except ExecutionNotStarted as exc:
        update = {"status": "failed", "ended": now_ms(), "message": f"not started: {exc.aws_code}"}
        store.put_sync(sync.model_copy(update=update))
        current = store.get_feed(feed.org, feed.sandbox, feed.id)
        store.save_feed(current.model_copy(update={"syncing": None}), expected_version=current.version)
        raise Transient(f"the sync could not be started ({exc.aws_code}); try again", code=exc.code) from exc
    return sync.id
