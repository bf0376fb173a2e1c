"""DynamoDB repository for datasets, batches, files and API keys.

Each item keeps the model as one JSON document (``doc``) next to the few attributes that keys,
indexes and conditions need. Status changes are conditional on the status the caller read and
on the item's ``version``: a racing writer gets ``IllegalTransition`` and nothing half-applies.
The read-only queries over the batch indexes (listing, the stats range, by status) are in
:mod:`batchgate.aws.batch_queries`; the table's plumbing in :mod:`batchgate.aws.dynamo`.
"""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import ClientError

from batchgate.aws.batch_queries import BatchQueries
from batchgate.aws.dynamo import _conditional_failed, _n, _s
from batchgate.core import keys
from batchgate.core.errors import Conflict, IllegalTransition, NotFound
from batchgate.core.models import Batch, BatchFile, BatchStatus, Dataset, RegisteredSchema


class Store(BatchQueries):
    # -- datasets -------------------------------------------------------------------------
    def _dataset_item(self, ds: Dataset) -> dict[str, Any]:
        return {
            "pk": _s(keys.dataset_pk(ds.org, ds.sandbox, ds.id)),
            "sk": _s(keys.DATASET_SK),
            "gsi1pk": _s(keys.datasets_of_tenant(ds.org, ds.sandbox)),
            "gsi1sk": _s(keys.time_order(ds.created, ds.id)),
            "updated": _n(ds.updated),
            "doc": _s(ds.model_dump_json(by_alias=True)),
        }

    def put_dataset(self, ds: Dataset) -> None:
        try:
            self.ddb.put_item(
                TableName=self.table,
                Item=self._dataset_item(ds),
                ConditionExpression="attribute_not_exists(pk)",
            )
        except ClientError as exc:
            if _conditional_failed(exc):
                raise Conflict(f"dataset {ds.id} already exists") from exc
            raise

    def replace_dataset(self, ds: Dataset, *, expected_updated: int) -> None:
        """Write a changed dataset, unless it changed since it was read (``updated``)."""
        try:
            self.ddb.put_item(
                TableName=self.table,
                Item=self._dataset_item(ds),
                ConditionExpression="attribute_exists(pk) AND (attribute_not_exists(#u) OR #u = :u)",
                ExpressionAttributeNames={"#u": "updated"},
                ExpressionAttributeValues={":u": _n(expected_updated)},
            )
        except ClientError as exc:
            if _conditional_failed(exc):
                raise Conflict(
                    f"dataset {ds.id} changed concurrently; read it again and retry",
                    code="BG-409-CONCURRENT-CHANGE",
                ) from exc
            raise

    def delete_dataset(self, ds: Dataset, *, table_location: str | None) -> None:
        """Remove the dataset and leave a tombstone, in one transaction: the GC sweep deletes
        its files (staged, failed records, uploads, the table's) and then the tombstone."""
        pk = keys.dataset_pk(ds.org, ds.sandbox, ds.id)
        tombstone = {
            "pk": _s(pk),
            "sk": _s(keys.DATASET_TOMBSTONE_SK),
            "gsi2pk": _s(keys.DELETED_DATASETS),
            "gsi2sk": _s(keys.time_order(ds.updated, keys.tenant(ds.org, ds.sandbox), ds.id)),
            "doc": _s(
                json.dumps({"dataset": ds.model_dump(mode="json", by_alias=True), "location": table_location})
            ),
        }
        try:
            self.ddb.transact_write_items(
                TransactItems=[
                    {
                        "Delete": {
                            "TableName": self.table,
                            "Key": {"pk": _s(pk), "sk": _s(keys.DATASET_SK)},
                            "ConditionExpression": "#u = :u",
                            "ExpressionAttributeNames": {"#u": "updated"},
                            "ExpressionAttributeValues": {":u": _n(ds.updated)},
                        }
                    },
                    {"Put": {"TableName": self.table, "Item": tombstone}},
                ]
            )
        except ClientError as exc:
            if _conditional_failed(exc):
                raise Conflict(
                    f"dataset {ds.id} changed concurrently; read it again and retry",
                    code="BG-409-CONCURRENT-CHANGE",
                ) from exc
            raise

    def deleted_datasets(self) -> list[tuple[Dataset, str | None]]:
        """Tombstones of deleted datasets whose files are not all gone: (dataset, table location)."""
        out = []
        for item in self._query_index("gsi2", keys.DELETED_DATASETS, desc=False):
            doc = json.loads(item["doc"]["S"])
            out.append((Dataset.model_validate(doc["dataset"]), doc["location"]))
        return out

    def forget_deleted_dataset(self, ds: Dataset) -> None:
        self.ddb.delete_item(
            TableName=self.table,
            Key={"pk": _s(keys.dataset_pk(ds.org, ds.sandbox, ds.id)), "sk": _s(keys.DATASET_TOMBSTONE_SK)},
        )

    def get_dataset(self, org: str, sandbox: str, dataset_id: str) -> Dataset:
        item = self._get(keys.dataset_pk(org, sandbox, dataset_id), keys.DATASET_SK)
        if item is None:
            raise NotFound(f"dataset {dataset_id} not found", code="BG-404-DATASET")
        return Dataset.model_validate_json(item["doc"]["S"])

    def list_datasets(self, org: str, sandbox: str, limit: int = 50, start: int = 0) -> list[Dataset]:
        docs = self._query_index("gsi1", keys.datasets_of_tenant(org, sandbox), desc=True)
        out: list[Dataset] = []
        for i, item in enumerate(docs):
            if i < start:
                continue
            if len(out) >= limit:
                break
            out.append(Dataset.model_validate_json(item["doc"]["S"]))
        return out

    # -- the schema registry ----------------------------------------------------------------
    def put_schema(self, schema: RegisteredSchema) -> None:
        item = {
            "pk": _s(keys.schema_pk(schema.org, schema.sandbox, schema.id)),
            "sk": _s(keys.SCHEMA_SK),
            "gsi1pk": _s(keys.schemas_of_tenant(schema.org, schema.sandbox)),
            "gsi1sk": _s(keys.time_order(schema.created, schema.id)),
            "doc": _s(schema.model_dump_json(by_alias=True)),
        }
        self.ddb.put_item(TableName=self.table, Item=item)

    def get_schema(self, org: str, sandbox: str, schema_id: str) -> RegisteredSchema:
        item = self._get(keys.schema_pk(org, sandbox, schema_id), keys.SCHEMA_SK)
        if item is None:
            raise NotFound(f"schema {schema_id} not found in the registry", code="BG-404-SCHEMA")
        return RegisteredSchema.model_validate_json(item["doc"]["S"])

    def list_schemas(self, org: str, sandbox: str, limit: int = 50, start: int = 0) -> list[RegisteredSchema]:
        items = self._query_index("gsi1", keys.schemas_of_tenant(org, sandbox), desc=True)
        out: list[RegisteredSchema] = []
        for i, item in enumerate(items):
            if i < start:
                continue
            if len(out) >= limit:
                break
            out.append(RegisteredSchema.model_validate_json(item["doc"]["S"]))
        return out

    # -- batches --------------------------------------------------------------------------
    def _batch_item(self, b: Batch) -> dict[str, Any]:
        return {
            "pk": _s(keys.batch_pk(b.org, b.sandbox, b.id)),
            "sk": _s(keys.BATCH_SK),
            "status": _s(b.status),
            "version": _n(b.version),
            "created": _n(b.created),
            "updated": _n(b.updated),
            "datasetId": _s(b.dataset_id),
            # by dataset, newest first; by tenant; by status and last change (GC, TTL sweeps)
            "gsi1pk": _s(keys.batches_of_dataset(b.org, b.sandbox, b.dataset_id)),
            "gsi1sk": _s(keys.time_order(b.created, b.id)),
            "gsi2pk": _s(keys.batches_in_status(b.status)),
            "gsi2sk": _s(keys.time_order(b.updated, keys.tenant(b.org, b.sandbox), b.id)),
            "gsi3pk": _s(keys.batches_of_tenant(b.org, b.sandbox)),
            "gsi3sk": _s(keys.time_order(b.created, b.id)),
            "doc": _s(b.model_dump_json(by_alias=True)),
        }

    def create_batch(self, b: Batch) -> None:
        try:
            self.ddb.put_item(
                TableName=self.table, Item=self._batch_item(b), ConditionExpression="attribute_not_exists(pk)"
            )
        except ClientError as exc:
            if _conditional_failed(exc):
                raise Conflict(f"batch {b.id} already exists") from exc
            raise

    def get_batch(self, org: str, sandbox: str, batch_id: str, *, consistent: bool = True) -> Batch:
        item = self._get(keys.batch_pk(org, sandbox, batch_id), keys.BATCH_SK, consistent=consistent)
        if item is None:
            raise NotFound(f"batch {batch_id} not found", code="BG-404-BATCH")
        return Batch.model_validate_json(item["doc"]["S"])

    def save_batch(self, new: Batch, *, expected_status: BatchStatus, expected_version: int) -> Batch:
        """Write ``new`` only if the stored batch still has the status and version the caller read."""
        stored = new.model_copy(update={"version": expected_version + 1})
        try:
            self.ddb.put_item(
                TableName=self.table,
                Item=self._batch_item(stored),
                ConditionExpression="#s = :s AND #v = :v",
                ExpressionAttributeNames={"#s": "status", "#v": "version"},
                ExpressionAttributeValues={":s": _s(expected_status), ":v": _n(expected_version)},
            )
        except ClientError as exc:
            if _conditional_failed(exc):
                current = self.get_batch(new.org, new.sandbox, new.id)
                raise IllegalTransition(
                    f"batch {new.id} changed concurrently: it is now '{current.status}' "
                    f"(expected '{expected_status}'); re-read it and retry if still wanted",
                    code="BG-409-CONCURRENT-CHANGE",
                ) from exc
            raise
        return stored

    # -- files ----------------------------------------------------------------------------
    def _file_item(self, org: str, sandbox: str, f: BatchFile) -> dict[str, Any]:
        item = {
            "pk": _s(keys.batch_pk(org, sandbox, f.batch_id)),
            "sk": _s(keys.file_sk(f.name)),
            "status": _s(f.status),
            "etag": _s(f.etag or ""),
            "doc": _s(f.model_dump_json(by_alias=True)),
        }
        if f.sequencer:
            item["seq"] = _s(f.sequencer)
        return item

    def put_file(self, org: str, sandbox: str, f: BatchFile, *, only_if_new: bool = False) -> None:
        if only_if_new and not self._put_file_if(org, sandbox, f, condition="attribute_not_exists(pk)"):
            raise Conflict(f"file {f.name!r} already exists in batch {f.batch_id}", code="BG-409-FILE-EXISTS")
        if not only_if_new:
            self.ddb.put_item(TableName=self.table, Item=self._file_item(org, sandbox, f))

    def record_file_result(self, org: str, sandbox: str, f: BatchFile) -> bool:
        """Write a file's validation result unless a result for the same or a newer object version
        (S3 sequencer) is already there; False when it is (a duplicate or stale event)."""
        assert f.sequencer is not None, "a result names the object version it is for"
        return self._put_file_if(
            org, sandbox, f,
            condition="attribute_not_exists(#doc) OR attribute_not_exists(#seq) OR #seq < :seq",
            names={"#doc": "doc", "#seq": "seq"},
            values={":seq": _s(f.sequencer)},
        )  # fmt: skip

    def mark_file_validating(self, org: str, sandbox: str, f: BatchFile, sequencer: str) -> bool:
        """Say a file is being validated (in parts) unless a newer object version got there first."""
        return self._put_file_if(
            org, sandbox, f,
            condition="attribute_not_exists(#seq) OR #seq < :seq",
            names={"#seq": "seq"},
            values={":seq": _s(sequencer)},
        )  # fmt: skip

    def size_unlanded_upload(self, org: str, sandbox: str, f: BatchFile) -> bool:
        """Record the size of an upload whose object does not exist yet; False when the item is no
        longer such an upload (only single PUTs set an etag, and nothing but the upload itself writes
        the item before the object lands)."""
        return self._put_file_if(
            org, sandbox, f, condition="attribute_exists(pk) AND etag = :e", values={":e": _s("")}
        )

    def _put_file_if(
        self,
        org: str,
        sandbox: str,
        f: BatchFile,
        *,
        condition: str,
        values: dict[str, Any] | None = None,
        names: dict[str, str] | None = None,
    ) -> bool:
        """Conditional file write; False when the condition does not hold (e.g. a stale event)."""
        kwargs: dict[str, Any] = {"ConditionExpression": condition}
        if values:
            kwargs["ExpressionAttributeValues"] = values
        if names:
            kwargs["ExpressionAttributeNames"] = names
        return self._applied("put_item", Item=self._file_item(org, sandbox, f), **kwargs)

    def delete_file(self, org: str, sandbox: str, batch_id: str, name: str) -> None:
        self.ddb.delete_item(
            TableName=self.table,
            Key={"pk": _s(keys.batch_pk(org, sandbox, batch_id)), "sk": _s(keys.file_sk(name))},
        )

    def get_file(self, org: str, sandbox: str, batch_id: str, name: str) -> BatchFile | None:
        item = self._get(keys.batch_pk(org, sandbox, batch_id), keys.file_sk(name))
        return None if item is None else BatchFile.model_validate_json(item["doc"]["S"])

    def list_files(self, org: str, sandbox: str, batch_id: str) -> list[BatchFile]:
        items = self._query(
            KeyConditionExpression="pk = :pk AND begins_with(sk, :f)",
            ExpressionAttributeValues={
                ":pk": _s(keys.batch_pk(org, sandbox, batch_id)),
                ":f": _s(keys.FILE_SK_PREFIX),
            },
            ConsistentRead=True,
        )
        return [BatchFile.model_validate_json(i["doc"]["S"]) for i in items]

    # -- a completion waiting for the files -----------------------------------------------
    def park_waiter(self, org: str, sandbox: str, batch_id: str, token: str) -> None:
        """Leave the task token of a completion waiting for the batch's files (one at a time: a
        later park replaces it)."""
        self.ddb.put_item(
            TableName=self.table,
            Item={
                "pk": _s(keys.batch_pk(org, sandbox, batch_id)),
                "sk": _s(keys.WAITER_SK),
                "token": _s(token),
            },
        )

    def waiter(self, org: str, sandbox: str, batch_id: str) -> str | None:
        item = self._get(keys.batch_pk(org, sandbox, batch_id), keys.WAITER_SK)
        return None if item is None else str(item["token"]["S"])

    def take_waiter(self, org: str, sandbox: str, batch_id: str, token: str) -> bool:
        """Remove the parked token if it is still ``token``; True for the one caller that did, who
        alone answers it."""
        return self._applied(
            "delete_item",
            Key={"pk": _s(keys.batch_pk(org, sandbox, batch_id)), "sk": _s(keys.WAITER_SK)},
            ConditionExpression="#t = :t",
            ExpressionAttributeNames={"#t": "token"},
            ExpressionAttributeValues={":t": _s(token)},
        )

    # -- API keys -------------------------------------------------------------------------
    def put_api_key(self, key_id: str, record: dict[str, Any]) -> None:
        self.ddb.put_item(
            TableName=self.table,
            Item={
                "pk": _s(keys.api_key_pk(key_id)),
                "sk": _s(keys.API_KEY_SK),
                "gsi1pk": _s(keys.keys_of_org(str(record["org"]))),
                "gsi1sk": _s(keys.time_order(int(record.get("created") or 0), key_id)),
                "doc": _s(json.dumps(record)),
            },
        )

    def list_api_keys(self, org: str) -> list[dict[str, Any]]:
        """The org's keys, newest first (secret hashes included: callers leave them out)."""
        return [
            json.loads(i["doc"]["S"]) for i in self._query_index("gsi1", keys.keys_of_org(org), desc=True)
        ]

    def get_api_key(self, key_id: str) -> dict[str, Any] | None:
        item = self._get(keys.api_key_pk(key_id), keys.API_KEY_SK)
        return None if item is None else dict(json.loads(item["doc"]["S"]))
