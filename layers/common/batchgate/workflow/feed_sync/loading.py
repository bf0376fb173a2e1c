"""What every task of a feed sync starts from: the feed store, the feed and the sync it works
on, and where the sync keeps its files (``plan.json``, changes, kept payloads) in the stack's bucket.
"""

from __future__ import annotations

from batchgate.aws.feed_store import FeedStore
from batchgate.core import keys
from batchgate.feeds.models import Feed, Sync
from batchgate.workflow.context import State, TaskContext


def feed_store(ctx: TaskContext) -> FeedStore:
    return FeedStore(ctx.settings.table_name)


def sync_prefix(sync: Sync) -> str:
    return keys.feed_sync_prefix(sync.org, sync.sandbox, sync.feed_id, sync.id)


def plan_key(sync: Sync) -> str:
    """What Plan decided, read by Deliver and Finalize."""
    return f"{sync_prefix(sync)}plan.json"


def load(ctx: TaskContext, state: State) -> tuple[FeedStore, Feed, Sync]:
    store = feed_store(ctx)
    feed = store.get_feed(state["org"], state["sandbox"], state["feedId"])
    sync = store.get_sync(state["org"], state["sandbox"], state["syncId"])
    return store, feed, sync
