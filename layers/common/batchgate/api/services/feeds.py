"""Export feeds through the API: create (admin), read with their state at a glance, sync (full,
incremental, retry of owed items), list syncs and items, estimate. The syncs themselves are
``workflow/feed_sync/``."""

from __future__ import annotations

from typing import Any

from batchgate.api.bodies import FeedCreate
from batchgate.aws.executions import Executions
from batchgate.aws.feed_store import FeedStore
from batchgate.aws.objects import Objects
from batchgate.core.errors import BatchgateError, InvalidRequest, NotFound
from batchgate.core.ids import new_id, now_ms
from batchgate.core.models import Dataset
from batchgate.core.principal import Principal
from batchgate.feeds.changes import ChangePlan, Planner, WatermarkExpired
from batchgate.feeds.models import Feed, S3Destination, Sync, SyncItem, SyncMode
from batchgate.feeds.start import start_sync
from batchgate.lake.catalog import shared_catalog
from batchgate.lake.history import reading_point
from batchgate.lake.tables import LINEAGE_COLUMNS, load_table
from batchgate.settings import Settings

# Until a feed has measured its own throughput (rows per second of its syncs), estimates assume
# these, measured on the local stack (docs/feeds.md): S3 parts, and webhook items.
ASSUMED_ROWS_PER_SECOND = {"s3": 100_000.0, "webhook": 5_000.0}
ACTIONS: dict[str, SyncMode] = {"SYNC": "incremental", "FULL_SYNC": "full", "RETRY_FAILED": "retry"}
PAYLOAD_URL_SECONDS = 900


class FeedAdmin:
    def __init__(self, store: FeedStore, cfg: Settings) -> None:
        self.store = store
        self.cfg = cfg
        self.executions = Executions()

    # -- feeds ------------------------------------------------------------------------------
    def create(self, p: Principal, parsed: FeedCreate) -> Feed:
        dataset = self._dataset(p, parsed.dataset_id, code="BG-400-FEED-DATASET")
        if parsed.columns is not None:
            known = {f.name for f in dataset.schema_.fields} | set(LINEAGE_COLUMNS)
            unknown = [c for c in parsed.columns if c not in known]
            if unknown:
                raise InvalidRequest(
                    f"columns {unknown} are not fields of dataset {dataset.id} (it has {sorted(known)})",
                    code="BG-400-FEED-COLUMNS",
                )
        destination = parsed.destination
        if isinstance(destination, S3Destination) and (
            problem := Objects(destination.bucket).bucket_problem()
        ):
            raise InvalidRequest(f"destination {problem}", code="BG-400-FEED-DESTINATION")
        ts = now_ms()
        feed = Feed(
            id=new_id(), org=p.org, sandbox=p.sandbox, name=parsed.name, dataset_id=dataset.id,
            columns=parsed.columns, destination=destination, created=ts, updated=ts, created_user=p.user,
        )  # fmt: skip
        self.store.create_feed(feed)
        return feed

    def get(self, p: Principal, feed_id: str) -> Feed:
        return self.store.get_feed(p.org, p.sandbox, feed_id)

    def find(self, p: Principal, dataset_id: str | None) -> list[Feed]:
        return [f for f in self.store.list_feeds(p.org, p.sandbox) if dataset_id in (None, f.dataset_id)]

    def delete(self, p: Principal, feed_id: str) -> None:
        self.store.delete_feed(self.get(p, feed_id))

    def show(self, p: Principal, feed: Feed) -> dict[str, Any]:
        """The feed and its state: last sync, watermark, pending changes, failed items."""
        pending: dict[str, Any]
        try:
            plan = self._plan(p, feed, "incremental")
            pending = {
                "rows": plan.rows,
                "batches": len(plan.upsert_batches) + len(plan.deleted_batches),
                "mode": plan.mode,
            }
        except WatermarkExpired as exc:
            pending = {"rows": None, "batches": None, "mode": "full", "message": exc.message}
        except NotFound as exc:
            pending = {"rows": None, "batches": None, "mode": None, "message": exc.message}
        return {
            "id": feed.id,
            "name": feed.name,
            "datasetId": feed.dataset_id,
            "columns": feed.columns,
            "destination": feed.destination.model_dump(),
            "created": feed.created,
            "createdUser": feed.created_user,
            "state": {
                "lastSync": feed.last_sync.model_dump() if feed.last_sync else None,
                "watermark": feed.watermark.model_dump(),
                "pending": pending,
                "failedItems": feed.failed_items,
                "owedSyncs": feed.owed,
                "syncing": feed.syncing,
                "rowsPerSecond": feed.rows_per_second,
            },
        }

    # -- syncs ------------------------------------------------------------------------------
    def sync(self, p: Principal, feed_id: str, action: str) -> str:
        feed = self.get(p, feed_id)
        return start_sync(
            self.store, self.cfg.feed_sync_state_machine_arn, feed, ACTIONS[action], trigger="api"
        )

    def syncs(self, p: Principal, feed_id: str, *, limit: int, start: int) -> list[Sync]:
        self.get(p, feed_id)
        out: list[Sync] = []
        for i, sync in enumerate(self.store.list_syncs(p.org, p.sandbox, feed_id)):
            if i < start:
                continue
            if len(out) >= limit:
                break
            out.append(sync)
        return out

    def get_sync(self, p: Principal, feed_id: str, sync_id: str) -> Sync:
        sync = self.store.get_sync(p.org, p.sandbox, sync_id)
        if sync.feed_id != feed_id:
            raise NotFound(f"sync {sync_id} not found", code="BG-404-SYNC")
        return sync

    def items(self, p: Principal, feed_id: str, sync_id: str, status: str | None) -> list[dict[str, Any]]:
        self.get_sync(p, feed_id, sync_id)
        objects = Objects(self.cfg.bucket)
        out = []
        for item in self.store.list_items(p.org, p.sandbox, sync_id):
            if status is not None and item.status != status:
                continue
            shown = item.to_api()
            shown["payload"] = _payload_link(objects, item)
            out.append(shown)
        return out

    def estimate(self, p: Principal, feed_id: str, mode: str) -> dict[str, Any]:
        feed = self.get(p, feed_id)
        plan = self._plan(p, feed, mode)
        kind = feed.destination.type
        speed = feed.rows_per_second or ASSUMED_ROWS_PER_SECOND[kind]
        return {
            "mode": plan.mode,
            "rows": plan.rows,
            "bytes": plan.bytes,
            "seconds": round(plan.rows / speed, 1),
            "batches": {"upsert": len(plan.upsert_batches), "delete": len(plan.deleted_batches)},
            "rowsPerSecond": round(speed, 1),
            "measured": feed.rows_per_second is not None,
        }

    # -- helpers ----------------------------------------------------------------------------
    def _plan(self, p: Principal, feed: Feed, mode: str) -> ChangePlan:
        """The sync ``mode`` would send, from metadata only (nothing read, nothing written)."""
        dataset = self._dataset(p, feed.dataset_id, code="BG-404-DATASET", missing=NotFound)
        try:
            table = load_table(shared_catalog(), dataset)
        except NotFound:  # no batch has landed yet: nothing to send
            return ChangePlan(
                "full" if mode == "full" or feed.watermark.snapshot is None else "incremental",
                None,
                None,
                None,
            )
        point = reading_point(table, lambda b: self._status(p, b) == "aborted", now_ms=now_ms())
        planner = Planner(
            table, dataset_id=dataset.id, identity=list(dataset.tags.identity), upsert=dataset.tags.is_upsert,
            columns=feed.columns, part_rows=1 << 40, part_bytes=1 << 62,
        )  # fmt: skip
        current = point.snapshot_id
        if mode == "full" or feed.watermark.snapshot is None:
            return planner.full(current, point.aborted, None)
        return planner.incremental(feed.watermark.snapshot, current, point.aborted, None, None)

    def _status(self, p: Principal, batch_id: str) -> str | None:
        try:
            return self.store.get_batch(p.org, p.sandbox, batch_id).status
        except NotFound:
            return None

    def _dataset(
        self, p: Principal, dataset_id: str, *, code: str, missing: type[BatchgateError] = InvalidRequest
    ) -> Dataset:
        try:
            return self.store.get_dataset(p.org, p.sandbox, dataset_id)
        except NotFound as exc:
            raise missing(f"dataset {dataset_id!r} not found in this sandbox", code=code) from exc


def _payload_link(objects: Objects, item: SyncItem) -> str | None:
    return objects.presign_get(item.payload, PAYLOAD_URL_SECONDS) if item.payload else None
