"""DynamoDB repository of bundle exports and imports, and the claims that make an import
idempotent by the manifest's ``bundleId``. Same table and conventions as :mod:`batchgate.aws.store`."""

from __future__ import annotations

from collections.abc import Iterator

from botocore.exceptions import ClientError

from batchgate.aws.dynamo import _conditional_failed, _s
from batchgate.aws.store import Store
from batchgate.bundles.records import BundleRecord
from batchgate.core import keys
from batchgate.core.errors import NotFound

_CLAIM_SK = "CLAIM"


class BundleStore(Store):
    def _item(self, record: BundleRecord) -> dict[str, dict[str, str]]:
        order = keys.time_order(record.created, record.id)
        return {
            "pk": _s(keys.bundle_pk(record.org, record.sandbox, record.id)),
            "sk": _s(keys.BUNDLE_SK),
            "gsi1pk": _s(keys.bundles_of_tenant(record.org, record.sandbox)),
            "gsi1sk": _s(order),
            "gsi2pk": _s(keys.bundles_in_status(record.status)),
            "gsi2sk": _s(order),
            "doc": _s(record.model_dump_json(by_alias=True)),
        }

    def create_record(self, record: BundleRecord) -> bool:
        """Record a new export or import; ``False`` when one with this id exists (a repeated
        event or request: the first one stands)."""
        return self._applied(
            "put_item", Item=self._item(record), ConditionExpression="attribute_not_exists(pk)"
        )

    def put_record(self, record: BundleRecord) -> None:
        self.ddb.put_item(TableName=self.table, Item=self._item(record))

    def get_record(self, org: str, sandbox: str, record_id: str) -> BundleRecord:
        item = self._get(keys.bundle_pk(org, sandbox, record_id), keys.BUNDLE_SK)
        if item is None:
            raise NotFound(f"bundle {record_id} not found", code="BG-404-BUNDLE")
        return BundleRecord.model_validate_json(item["doc"]["S"])

    def list_records(self, org: str, sandbox: str) -> Iterator[BundleRecord]:
        for item in self._query_index("gsi1", keys.bundles_of_tenant(org, sandbox), desc=True):
            yield BundleRecord.model_validate_json(item["doc"]["S"])

    def records_in_status(self, status: str) -> list[BundleRecord]:
        return [
            BundleRecord.model_validate_json(i["doc"]["S"])
            for i in self._query_index("gsi2", keys.bundles_in_status(status), desc=False)
        ]

    # -- claims -----------------------------------------------------------------------------
    def claim(self, org: str, sandbox: str, bundle_id: str, import_id: str) -> str:
        """Take ``bundle_id`` for ``import_id``: the id of the import holding it afterwards (this
        one, or an earlier one, which then answers for the bundle)."""
        pk = keys.bundle_claim_pk(org, sandbox, bundle_id)
        try:
            self.ddb.put_item(
                TableName=self.table,
                Item={"pk": _s(pk), "sk": _s(_CLAIM_SK), "importId": _s(import_id)},
                ConditionExpression="attribute_not_exists(pk) OR importId = :me",
                ExpressionAttributeValues={":me": _s(import_id)},
            )
        except ClientError as exc:
            if not _conditional_failed(exc):
                raise
            held = self._get(pk, _CLAIM_SK)
            if held is None:  # released in between: try again
                return self.claim(org, sandbox, bundle_id, import_id)
            return str(held["importId"]["S"])
        return import_id

    def release(self, org: str, sandbox: str, bundle_id: str, import_id: str) -> None:
        """Let the bundle be imported again (this import failed); a claim of another import stays."""
        try:
            self.ddb.delete_item(
                TableName=self.table,
                Key={"pk": _s(keys.bundle_claim_pk(org, sandbox, bundle_id)), "sk": _s(_CLAIM_SK)},
                ConditionExpression="importId = :me",
                ExpressionAttributeValues={":me": _s(import_id)},
            )
        except ClientError as exc:
            if not _conditional_failed(exc):
                raise
