"""Restore: load a data dir's mirrored items and objects back into a fresh server (``Mirror.restore``)."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from batchgate_tools.local.persistence.data_dir import PersistenceError
from batchgate_tools.local.persistence.items import ItemStore, wire_to_boto
from batchgate_tools.local.persistence.objects import ObjectStore, put_args
from batchgate_tools.local.persistence.requests import RESTORE_HEADER

logger = logging.getLogger(__name__)


@dataclass
class RestoreResult:
    """What ``Mirror.restore`` loaded back."""

    items: int = 0
    objects: int = 0
    object_bytes: int = 0
    buckets_created: list[str] = field(default_factory=list)
    #: Tables with mirrored items that the server does not have; their items stay on disk.
    tables_missing: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        """True when anything was restored (the stack then runs its recovery)."""
        return bool(self.items or self.objects)


def restore(
    items: ItemStore,
    objects: ObjectStore,
    endpoint: str,
    *,
    region: str,
    create_buckets: bool,
    max_concurrency: int,
    data_dir: Path,
) -> RestoreResult:
    """Load ``items`` and ``objects`` into the server at ``endpoint``: see ``Mirror.restore``."""
    import boto3
    from boto3.s3.transfer import TransferConfig
    from botocore.config import Config
    from botocore.exceptions import ClientError

    session = boto3.session.Session(
        aws_access_key_id=os.environ.get("AWS_ACCESS_KEY_ID", "testing"),
        aws_secret_access_key=os.environ.get("AWS_SECRET_ACCESS_KEY", "testing"),
        region_name=region,
    )
    config = Config(retries={"max_attempts": 5, "mode": "standard"}, s3={"addressing_style": "path"})

    def mark_restore(request: Any, **_: Any) -> None:
        request.headers[RESTORE_HEADER] = "1"

    dynamodb = session.client("dynamodb", endpoint_url=endpoint, config=config)
    s3 = session.client("s3", endpoint_url=endpoint, config=config)
    for client in (dynamodb, s3):
        client.meta.events.register("before-sign", mark_restore)
    result = RestoreResult()

    existing: set[str] = set()
    for page in dynamodb.get_paginator("list_tables").paginate():
        existing.update(page.get("TableNames", []))
    for table in items.tables():
        if table not in existing:
            result.tables_missing.append(table)
            logger.warning("data dir has items for table %s, which does not exist: not restored", table)
            continue
        batch: list[dict[str, Any]] = []
        for item in items.items(table):
            batch.append({"PutRequest": {"Item": {k: wire_to_boto(v) for k, v in item.items()}}})
            if len(batch) == 25:
                result.items += _write_batch(dynamodb, table, batch)
                batch = []
        if batch:
            result.items += _write_batch(dynamodb, table, batch)

    # One part for anything up to 64 MB: a single PUT keeps a plain MD5 ETag, and moto holds
    # every object in memory anyway; larger ones go up in 64 MB parts.
    transfer = TransferConfig(
        multipart_threshold=64 * 1024 * 1024,
        multipart_chunksize=64 * 1024 * 1024,
        max_concurrency=max_concurrency,
    )
    for directory, meta in objects.buckets():
        bucket = str(meta["name"])
        try:
            s3.head_bucket(Bucket=bucket)
        except ClientError:
            if not create_buckets:
                raise
            bucket_region = str(meta.get("region") or region)
            kwargs: dict[str, Any] = {"Bucket": bucket}
            if bucket_region != "us-east-1":
                kwargs["CreateBucketConfiguration"] = {"LocationConstraint": bucket_region}
            s3.create_bucket(**kwargs)
            result.buckets_created.append(bucket)
        for record in objects.records(directory):
            blob = directory / "blobs" / str(record["blob"])
            s3.upload_file(str(blob), bucket, record["key"], ExtraArgs=put_args(record), Config=transfer)
            result.objects += 1
            result.object_bytes += int(record["size"])
    logger.info(
        "restored %d items and %d objects (%d bytes) from %s",
        result.items,
        result.objects,
        result.object_bytes,
        data_dir,
    )
    return result


def _write_batch(client: Any, table: str, batch: list[dict[str, Any]]) -> int:
    pending: dict[str, Any] = {table: batch}
    for _attempt in range(20):
        response = client.batch_write_item(RequestItems=pending)
        pending = response.get("UnprocessedItems") or {}
        if not pending:
            return len(batch)
    raise PersistenceError(f"restoring {table}: items stayed unprocessed")
