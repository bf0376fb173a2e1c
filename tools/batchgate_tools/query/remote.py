"""Datasets through the API, tables straight from storage: how ``batchgate query`` reaches a
deployment, the way every other command does (``--url`` / ``BATCHGATE_URL`` and a key).

The API says which datasets the key's tenant has, where each one's Iceberg metadata is (the
dataset's GET, ``iceberg.metadataLocation``) and which batches are aborted; the table's files
are then read directly from S3 with pyiceberg (``StaticTable``), never through the API.

S3 access: against a running ``batchgate up`` (found by its API URL in the state files it
writes) its embedded S3 endpoint, and its key when none is given; anywhere else the ambient
AWS configuration (``AWS_PROFILE``, ``AWS_REGION``, ``AWS_ENDPOINT_URL``, keys), which needs
read access to the bucket.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from pyiceberg.table import StaticTable, Table

from batchgate.core.models import Dataset
from batchgate.lake.catalog import LakeSettings
from batchgate_tools.client import Client, ClientError
from batchgate_tools.local.state import state_files
from batchgate_tools.query.datasets import DatasetEntry
from batchgate_tools.query.errors import QueryError

_LOOPBACK = frozenset({"localhost", "127.0.0.1", "::1", "0.0.0.0"})


@dataclass(frozen=True)
class Connection:
    client: Client
    io_properties: dict[str, str]  # pyiceberg FileIO properties for the tables' files
    local_stack: bool


def connect(
    url: str,
    api_key: str | None,
    token: str | None,
    org: str,
    sandbox: str,
    env: Mapping[str, str] | None = None,
) -> Connection:
    env = os.environ if env is None else env
    stack = local_stack_at(url)
    if stack is not None:
        api_key = api_key or stack.get("keyId")
        token = token or stack.get("token")
    if not api_key or not token:
        raise QueryError(
            f"no API key for {url}: set --api-key/--token or BATCHGATE_API_KEY/BATCHGATE_TOKEN "
            "(batchgate keys create), or point BATCHGATE_URL at a running `batchgate up`"
        )
    if stack is not None:
        settings = LakeSettings(
            catalog_type="sql",
            warehouse="",
            s3_endpoint=str(stack["endpoint"]),
            access_key="testing",
            secret_key="testing",
        )
    else:
        settings = LakeSettings(
            catalog_type="glue",
            warehouse="",
            s3_endpoint=env.get("AWS_ENDPOINT_URL") or None,
            region=env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or "us-east-1",
            access_key=env.get("AWS_ACCESS_KEY_ID") or None,
            secret_key=env.get("AWS_SECRET_ACCESS_KEY") or None,
            session_token=env.get("AWS_SESSION_TOKEN") or None,
        )
    return Connection(Client(url, api_key, token, org, sandbox), settings.io_properties(), stack is not None)


def local_stack_at(url: str) -> dict[str, Any] | None:
    """The state of the running ``batchgate up`` whose API answers at ``url``, if any."""
    wanted = _endpoint(url)
    for path in state_files():
        try:
            info: dict[str, Any] = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if _endpoint(str(info.get("api", ""))) == wanted and _alive(info.get("pid")):
            return info
    return None


def _endpoint(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url if "://" in url else f"http://{url}")
    host = (parts.hostname or "").lower()
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return parts.scheme, "loopback" if host in _LOOPBACK else host, port


def _alive(pid: Any) -> bool:
    try:
        os.kill(int(pid), 0)
    except (OSError, TypeError, ValueError):
        return False
    return True


class ApiDirectory:
    """The tenant's datasets as the API lists them; tables opened from their metadata location."""

    def __init__(self, connection: Connection) -> None:
        self.client = connection.client
        self.io_properties = connection.io_properties
        self._entries: list[DatasetEntry] | None = None

    def entries(self) -> Sequence[DatasetEntry]:
        if self._entries is None:
            self._entries = [DatasetEntry.of(_dataset(doc)) for doc in self.client.all_datasets()]
        return self._entries

    def open(self, entry: DatasetEntry) -> Table | None:
        iceberg = self.client.get_dataset(entry.id).get("iceberg") or {}
        location = iceberg.get("metadataLocation")
        if not location:
            return None  # no batch has landed yet
        return StaticTable.from_metadata(str(location), properties=self.io_properties)

    def is_aborted(self, batch_id: str) -> bool:
        try:
            return self.client.get_batch(batch_id).get("status") == "aborted"
        except ClientError as exc:
            if exc.status == 404:
                return False
            raise


def _dataset(doc: dict[str, Any]) -> Dataset:
    """The API's dataset body (AEP's field names) as the model."""
    return Dataset.model_validate(
        {**doc, "org": doc.get("imsOrg", ""), "sandbox": doc.get("sandboxName", "")}
    )
