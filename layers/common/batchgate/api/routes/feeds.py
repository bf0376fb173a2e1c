"""Export feeds: ``/data/foundation/export/feeds/...`` (management is admin-only, reading is open to
every role; see core/roles.py)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Body, Query

from batchgate.api.bodies import FeedCreate
from batchgate.api.deps import principal, services
from batchgate.api.responses.common import UNSUPPORTED, answers, ok
from batchgate.api.responses.feeds import (
    FeedEstimate,
    FeedList,
    FeedOut,
    SyncItems,
    SyncList,
    SyncOut,
    SyncStarted,
)

router = Router()
FEEDS = "/data/foundation/export/feeds"
NOT_FOUND = "no such feed in this sandbox (BG-404-FEED)"


@router.post(
    FEEDS,
    tags=["feeds"],
    summary="Create an export feed",
    description='Body: {"name", "datasetId", "columns"?, "destination": {"type": "s3", "uri": "s3://bucket/prefix/", '
    '"format": "parquet"|"jsonl"|"csv"} | {"type": "webhook", "url", "batchSize"?, "headers"?, "concurrency"?}}.',
    responses=answers(
        ok(201, "the feed", FeedOut),
        e400="the dataset does not exist (BG-400-FEED-DATASET), a column it lacks (BG-400-FEED-COLUMNS), a "
        "destination bucket that does not exist (BG-400-FEED-DESTINATION), an invalid body (BG-400-INVALID)",
        e415=UNSUPPORTED,
    ),
)
def create_feed(body: Annotated[FeedCreate, Body()]) -> Response[dict[str, Any]]:
    feeds, p = services().feeds, principal(router)
    feed = feeds.create(p, body)
    return Response(201, "application/json", feeds.show(p, feed))


@router.get(
    FEEDS,
    tags=["feeds"],
    summary="List feeds, newest first, with their state",
    responses=answers(ok(200, "the feeds", FeedList), e400="a parameter out of range (BG-400-INVALID)"),
)
def list_feeds(
    datasetId: Annotated[str | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    start: Annotated[int, Query(ge=0)] = 0,
) -> dict[str, Any]:
    feeds, p = services().feeds, principal(router)
    page = feeds.find(p, datasetId)[start : start + limit]
    return {
        "feeds": [feeds.show(p, f) for f in page],
        "_page": {"limit": limit, "start": start, "count": len(page)},
    }


@router.get(
    f"{FEEDS}/<feed_id>",
    tags=["feeds"],
    summary="A feed: last sync, watermark, pending changes, failed items",
    responses=answers(ok(200, "the feed", FeedOut), e404=NOT_FOUND),
)
def get_feed(feed_id: str) -> dict[str, Any]:
    feeds, p = services().feeds, principal(router)
    return feeds.show(p, feeds.get(p, feed_id))


@router.delete(
    f"{FEEDS}/<feed_id>",
    tags=["feeds"],
    summary="Delete a feed (its syncs stay readable by id)",
    responses=answers(ok(204, "Deleted"), e404=NOT_FOUND, e409="a sync is running (BG-409-SYNC-RUNNING)"),
)
def delete_feed(feed_id: str) -> Response[None]:
    services().feeds.delete(principal(router), feed_id)
    return Response(204)


@router.post(
    f"{FEEDS}/<feed_id>",
    tags=["feeds"],
    summary="SYNC (changes since the watermark), FULL_SYNC, or RETRY_FAILED (only the owed items)",
    responses=answers(
        ok(202, "the sync started", SyncStarted),
        e400="an unknown action (BG-400-INVALID)",
        e404=NOT_FOUND,
        e409="a sync of this feed is running (BG-409-SYNC-RUNNING), nothing to retry (BG-409-NOTHING-TO-RETRY)",
        e503="the deployment lacks the feed-sync machine (BG-503-NOT-CONFIGURED), or it could not start",
    ),
)
def feed_action(
    feed_id: str, action: Annotated[Literal["SYNC", "FULL_SYNC", "RETRY_FAILED"], Query()]
) -> Response[dict[str, Any]]:
    sync_id = services().feeds.sync(principal(router), feed_id, action)
    return Response(202, "application/json", {"syncId": sync_id})


@router.get(
    f"{FEEDS}/<feed_id>/syncs",
    tags=["feeds"],
    summary="The feed's syncs, newest first",
    responses=answers(
        ok(200, "the syncs", SyncList), e400="a parameter out of range (BG-400-INVALID)", e404=NOT_FOUND
    ),
)
def list_syncs(
    feed_id: str,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    start: Annotated[int, Query(ge=0)] = 0,
) -> dict[str, Any]:
    found = services().feeds.syncs(principal(router), feed_id, limit=limit, start=start)
    return {
        "syncs": [s.to_api() for s in found],
        "_page": {"limit": limit, "start": start, "count": len(found)},
    }


@router.get(
    f"{FEEDS}/<feed_id>/syncs/<sync_id>",
    tags=["feeds"],
    summary="One sync",
    responses=answers(ok(200, "the sync", SyncOut), e404="no such feed or sync (BG-404-FEED, BG-404-SYNC)"),
)
def get_sync(feed_id: str, sync_id: str) -> dict[str, Any]:
    return services().feeds.get_sync(principal(router), feed_id, sync_id).to_api()


@router.get(
    f"{FEEDS}/<feed_id>/syncs/<sync_id>/items",
    tags=["feeds"],
    summary="A sync's items: rows, status, attempts, last error, and a link to the payload",
    responses=answers(
        ok(200, "the items", SyncItems),
        e400="a parameter out of range (BG-400-INVALID)",
        e404="no such feed or sync (BG-404-FEED, BG-404-SYNC)",
    ),
)
def list_items(
    feed_id: str, sync_id: str, status: Annotated[Literal["pending", "sent", "failed"] | None, Query()] = None
) -> dict[str, Any]:
    return {"items": services().feeds.items(principal(router), feed_id, sync_id, status)}


@router.get(
    f"{FEEDS}/<feed_id>/estimate",
    tags=["feeds"],
    summary="Rows, bytes and seconds a sync would take, before running it",
    responses=answers(
        ok(200, "the estimate", FeedEstimate),
        e400="an unknown mode (BG-400-INVALID)",
        e404="no such feed, or its dataset was deleted (BG-404-FEED, BG-404-DATASET)",
        e409="the watermark's snapshot expired: only a full sync can run (BG-409-FEED-WATERMARK-EXPIRED)",
    ),
)
def estimate(
    feed_id: str, mode: Annotated[Literal["full", "incremental"], Query()] = "incremental"
) -> dict[str, Any]:
    return services().feeds.estimate(principal(router), feed_id, mode)
