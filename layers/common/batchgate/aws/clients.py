"""boto3 clients configured for AWS or for the local stack (``AWS_ENDPOINT_URL``)."""

from __future__ import annotations

import os
from functools import cache
from typing import Any

import boto3
from botocore.config import Config


def _config() -> Config:
    # Path-style keeps presigned URLs and bucket names working against a local endpoint.
    if os.environ.get("AWS_ENDPOINT_URL"):
        return Config(retries={"mode": "standard", "max_attempts": 5}, s3={"addressing_style": "path"})
    return Config(retries={"mode": "standard", "max_attempts": 5})


@cache
def client(service: str) -> Any:
    """A cached client; boto3 itself reads AWS_ENDPOINT_URL and the region from the environment."""
    return boto3.session.Session().client(service, config=_config())  # type: ignore[call-overload]


def reset_clients() -> None:
    """Forget cached clients (tests and the local stack change the environment)."""
    client.cache_clear()
