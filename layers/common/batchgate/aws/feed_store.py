"""DynamoDB repository of export feeds, their syncs and the syncs' items.

Same table and conventions as :mod:`batchgate.aws.store`. A feed changes only under the version it
was read with; its sync lock (``syncing``) is taken with a condition, so two syncs of one feed can
never both run. A sync's items live in the sync's partition (``ITEM#{number}``), so the items of a
sync are one query.
"""

from __future__ import annotations

from collections.abc import Iterator

from botocore.exceptions import ClientError

from batchgate.aws.dynamo import _conditional_failed, _n, _s
from batchgate.aws.store import Store
from batchgate.core import keys
from batchgate.core.errors import Conflict, NotFound
from batchgate.feeds.models import Feed, Sync, SyncItem


class FeedStore(Store):
    # -- feeds ------------------------------------------------------------------------------
    def _feed_item(self, feed: Feed) -> dict[str, dict[str, str]]:
        return {
            "pk": _s(keys.feed_pk(feed.org, feed.sandbox, feed.id)),
            "sk": _s(keys.FEED_SK),
            "gsi1pk": _s(keys.feeds_of_tenant(feed.org, feed.sandbox)),
            "gsi1sk": _s(keys.time_order(feed.created, feed.id)),
            "version": _n(feed.version),
            "syncing": _s(feed.syncing or ""),
            "doc": _s(feed.model_dump_json(by_alias=True)),
        }

    def create_feed(self, feed: Feed) -> None:
        self.ddb.put_item(
            TableName=self.table, Item=self._feed_item(feed), ConditionExpression="attribute_not_exists(pk)"
        )

    def get_feed(self, org: str, sandbox: str, feed_id: str) -> Feed:
        item = self._get(keys.feed_pk(org, sandbox, feed_id), keys.FEED_SK)
        if item is None:
            raise NotFound(f"feed {feed_id} not found", code="BG-404-FEED")
        return Feed.model_validate_json(item["doc"]["S"])

    def list_feeds(self, org: str, sandbox: str) -> Iterator[Feed]:
        for item in self._query_index("gsi1", keys.feeds_of_tenant(org, sandbox), desc=True):
            yield Feed.model_validate_json(item["doc"]["S"])

    def save_feed(self, feed: Feed, *, expected_version: int, lock: str | None = None) -> Feed:
        """Write ``feed`` if it still has the version read. ``lock``: also only if no other sync
        holds the feed (taking it for sync ``lock``)."""
        stored = feed.model_copy(update={"version": expected_version + 1})
        condition = "#v = :v"
        values = {":v": _n(expected_version)}
        if lock is not None:
            condition += " AND (#s = :none OR #s = :me)"
            values |= {":none": _s(""), ":me": _s(lock)}
        try:
            self.ddb.put_item(
                TableName=self.table,
                Item=self._feed_item(stored),
                ConditionExpression=condition,
                ExpressionAttributeNames={"#v": "version", **({"#s": "syncing"} if lock is not None else {})},
                ExpressionAttributeValues=values,
            )
        except ClientError as exc:
            if _conditional_failed(exc):
                raise Conflict(
                    f"feed {feed.id} changed concurrently; read it again and retry",
                    code="BG-409-CONCURRENT-CHANGE",
                ) from exc
            raise
        return stored

    def delete_feed(self, feed: Feed) -> None:
        try:
            self.ddb.delete_item(
                TableName=self.table,
                Key={"pk": _s(keys.feed_pk(feed.org, feed.sandbox, feed.id)), "sk": _s(keys.FEED_SK)},
                ConditionExpression="#v = :v AND #s = :none",
                ExpressionAttributeNames={"#v": "version", "#s": "syncing"},
                ExpressionAttributeValues={":v": _n(feed.version), ":none": _s("")},
            )
        except ClientError as exc:
            if _conditional_failed(exc):
                raise Conflict(
                    f"feed {feed.id} is syncing or changed concurrently", code="BG-409-SYNC-RUNNING"
                ) from exc
            raise

    # -- syncs ------------------------------------------------------------------------------
    def _sync_item(self, sync: Sync) -> dict[str, dict[str, str]]:
        order = keys.time_order(sync.started, sync.id)
        return {
            "pk": _s(keys.sync_pk(sync.org, sync.sandbox, sync.id)),
            "sk": _s(keys.SYNC_SK),
            "gsi2pk": _s(keys.syncs_in_status(sync.status)),
            "gsi2sk": _s(order),
            "gsi3pk": _s(keys.syncs_of_feed(sync.org, sync.sandbox, sync.feed_id)),
            "gsi3sk": _s(order),
            "doc": _s(sync.model_dump_json(by_alias=True)),
        }

    def put_sync(self, sync: Sync) -> None:
        self.ddb.put_item(TableName=self.table, Item=self._sync_item(sync))

    def get_sync(self, org: str, sandbox: str, sync_id: str) -> Sync:
        item = self._get(keys.sync_pk(org, sandbox, sync_id), keys.SYNC_SK)
        if item is None:
            raise NotFound(f"sync {sync_id} not found", code="BG-404-SYNC")
        return Sync.model_validate_json(item["doc"]["S"])

    def list_syncs(self, org: str, sandbox: str, feed_id: str) -> Iterator[Sync]:
        for item in self._query_index("gsi3", keys.syncs_of_feed(org, sandbox, feed_id), desc=True):
            yield Sync.model_validate_json(item["doc"]["S"])

    def syncs_in_status(self, status: str) -> list[Sync]:
        return [
            Sync.model_validate_json(i["doc"]["S"])
            for i in self._query_index("gsi2", keys.syncs_in_status(status), desc=False)
        ]

    # -- items ------------------------------------------------------------------------------
    def put_item(self, org: str, sandbox: str, item: SyncItem) -> None:
        self.ddb.put_item(
            TableName=self.table,
            Item={
                "pk": _s(keys.sync_pk(org, sandbox, item.sync_id)),
                "sk": _s(keys.item_sk(item.number)),
                "doc": _s(item.model_dump_json(by_alias=True)),
            },
        )

    def get_item(self, org: str, sandbox: str, sync_id: str, number: int) -> SyncItem | None:
        found = self._get(keys.sync_pk(org, sandbox, sync_id), keys.item_sk(number))
        return None if found is None else SyncItem.model_validate_json(found["doc"]["S"])

    def list_items(self, org: str, sandbox: str, sync_id: str) -> list[SyncItem]:
        found = self._query(
            KeyConditionExpression="pk = :pk AND begins_with(sk, :item)",
            ExpressionAttributeValues={
                ":pk": _s(keys.sync_pk(org, sandbox, sync_id)),
                ":item": _s(keys.ITEM_SK_PREFIX),
            },
        )
        return [SyncItem.model_validate_json(i["doc"]["S"]) for i in found]
