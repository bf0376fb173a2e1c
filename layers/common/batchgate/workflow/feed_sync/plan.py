"""Plan, the feed sync's first task: what this sync delivers, written once as ``plan.json``.

Owed items (failed in an earlier sync) go first, then the parts of the table's changes since the
watermark (:mod:`batchgate.feeds.changes`), deletes before upserts, numbered into items and cut
into chunks; the state carries only the chunk numbers. A restarted plan reuses its ``plan.json``.
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa
from pyiceberg.table import Table

from batchgate.aws.feed_store import FeedStore
from batchgate.core import keys
from batchgate.core.errors import InvalidRequest, NotFound
from batchgate.core.ids import now_ms
from batchgate.core.models import Dataset
from batchgate.feeds.changes import Planner
from batchgate.feeds.deliver import CONTENT_TYPES, encode
from batchgate.feeds.items import (
    chunk_units,
    concurrency_of,
    number_units,
    part_json,
    part_size,
    rows_per_item,
)
from batchgate.feeds.models import Feed
from batchgate.lake.catalog import shared_catalog
from batchgate.lake.history import reading_point
from batchgate.lake.tables import load_table
from batchgate.workflow.context import State, TaskContext
from batchgate.workflow.feed_sync.loading import load, plan_key, sync_prefix


def feed_plan(ctx: TaskContext, state: State) -> State:
    store, feed, sync = load(ctx, state)
    plan_at = plan_key(sync)
    if ctx.objects.exists(plan_at):  # a restarted sync: the plan it made
        plan = ctx.objects.get_json(plan_at)
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
            key = f"{sync_prefix(sync)}changes-{change_count[0]:05d}.parquet"
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
    ctx.objects.put_json(plan_at, plan)
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
