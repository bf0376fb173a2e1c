"""Small S3 object questions every part asks, with AWS's "not found" turned into None."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from batchgate.aws.clients import client

_MISSING = ("404", "NoSuchKey", "NotFound")


def head(bucket: str, key: str) -> dict[str, Any] | None:
    """The object's HEAD response, or None when there is no such object."""
    try:
        resp: dict[str, Any] = client("s3").head_object(Bucket=bucket, Key=key)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in _MISSING:
            return None
        raise
    return resp


def exists(bucket: str, key: str) -> bool:
    return head(bucket, key) is not None


def current_etag(bucket: str, key: str) -> str | None:
    resp = head(bucket, key)
    return None if resp is None else str(resp["ETag"]).strip('"')
