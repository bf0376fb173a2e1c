"""pyarrow's S3 filesystem for the upload bucket, pointed at the local endpoint when one is set."""

from __future__ import annotations

import os
from functools import lru_cache
from urllib.parse import urlparse

from pyarrow import fs as pafs


@lru_cache(maxsize=1)
def s3_filesystem() -> pafs.S3FileSystem:
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    endpoint = os.environ.get("AWS_ENDPOINT_URL")
    if not endpoint:
        return pafs.S3FileSystem(region=region)
    url = urlparse(endpoint)
    # moto needs explicit (dummy) keys; Lambda's role credentials are used when no endpoint is set.
    return pafs.S3FileSystem(
        region=region,
        endpoint_override=url.netloc,
        scheme=url.scheme or "http",
        access_key=os.environ.get("AWS_ACCESS_KEY_ID", "testing"),
        secret_key=os.environ.get("AWS_SECRET_ACCESS_KEY", "testing"),
        allow_bucket_creation=True,
    )


def reset_filesystem() -> None:
    s3_filesystem.cache_clear()
