"""boto3 clients configured for AWS or for the local stack (``AWS_ENDPOINT_URL``)."""

from __future__ import annotations

import os
import threading
from functools import cache
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError


def _config() -> Config:
    # Path-style keeps presigned URLs and bucket names working against a local endpoint.
    if os.environ.get("AWS_ENDPOINT_URL"):
        return Config(retries={"mode": "standard", "max_attempts": 5}, s3={"addressing_style": "path"})
    return Config(retries={"mode": "standard", "max_attempts": 5})


# One session for every client of the process: its loader parses botocore's endpoint and
# partition files once, where a session per client parsed them again for each (six clients:
# 0.15 CPU-s against 0.42, paid by each cold sandbox). Creating clients from one session is not
# thread-safe; using them is.
_session_lock = threading.Lock()
_session: boto3.session.Session | None = None


@cache
def client(service: str) -> Any:
    """A cached client; boto3 itself reads AWS_ENDPOINT_URL and the region from the environment."""
    return _make(service, config=_config())


@cache
def client_with(service: str, **settings: Any) -> Any:
    """A cached client with these ``session.client`` arguments (an endpoint, a region, keys)
    instead of the environment's; from the same session, so botocore's models load once."""
    config = settings.pop("config", None) or _config()
    return _make(service, config=config, **settings)


def _make(service: str, **kwargs: Any) -> Any:
    global _session
    with _session_lock:
        if _session is None:
            _session = boto3.session.Session()
        return _session.client(service, **kwargs)  # type: ignore[call-overload]


def preload(*services: str) -> None:
    """Create these clients now. A handler module calls it at import, so a sandbox's init phase
    pays for botocore's service models (~0.05-0.1 CPU-s a service) rather than its first event,
    as AWS advises for SDK clients. Where the environment cannot make a client yet (no region: a
    test importing the module), the client is made on first use instead."""
    for service in services:
        try:
            client(service)
        except BotoCoreError:
            return


def reset_clients() -> None:
    """Forget cached clients and their session (tests and the local stack change the environment)."""
    global _session
    with _session_lock:
        _session = None
    client.cache_clear()
    client_with.cache_clear()
