"""Where things live: S3 keys and DynamoDB keys, in one place so every part agrees.

S3 (one upload bucket):
  uploads/{format}/{org}/{sandbox}/{datasetId}/{batchId}/{name}
                                                        files uploaded through the API; the
                                                        batch's format leads the key so S3 prefix
                                                        filters route it to its validator whatever
                                                        the file's name
  inbox/{org}/{sandbox}/{datasetId}/{name}              bucket drop (auto-ingest)
  staged/{org}/{sandbox}/{datasetId}/{batchId}/...      validated rows as Parquet
  failed/{org}/{sandbox}/{datasetId}/{batchId}/...      failed-records reports (JSON Lines)
  warehouse/...                                         Iceberg tables
DynamoDB (one table, pk/sk, tenant-prefixed):
  {org}#{sandbox}#BATCH#{id}   / BATCH          the batch
  {org}#{sandbox}#BATCH#{id}   / FILE#{name}    one item per file (no hot counter on the batch)
  {org}#{sandbox}#DATASET#{id} / DATASET        the dataset
  APIKEY#{keyId}               / APIKEY         an API key (secret hashed)
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import cast

from batchgate.core.errors import InvalidRequest
from batchgate.core.models import Format

MAX_FILE_NAME = 255
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
SUFFIX_FORMATS: dict[str, Format] = {
    ".json": "json",
    ".jsonl": "json",
    ".ndjson": "json",
    ".csv": "csv",
    ".parquet": "parquet",
}


def tenant(org: str, sandbox: str) -> str:
    return f"{org}#{sandbox}"


def check_file_name(name: str) -> str:
    """Refuse names that could escape their prefix or confuse a reader: the name is a key part."""
    if not name or len(name) > MAX_FILE_NAME:
        raise InvalidRequest(f"file name must be 1..{MAX_FILE_NAME} characters", code="BG-400-FILE-NAME")
    if _CONTROL.search(name):
        raise InvalidRequest("file name contains control characters", code="BG-400-FILE-NAME")
    if name.startswith("/") or "\\" in name:
        raise InvalidRequest("file name must be relative and use '/' only", code="BG-400-FILE-NAME")
    parts = name.split("/")
    if any(p in ("", ".", "..") for p in parts):
        raise InvalidRequest(
            "file name must not contain '.', '..' or empty path segments", code="BG-400-FILE-NAME"
        )
    if unicodedata.normalize("NFC", name) != name:
        raise InvalidRequest("file name must be NFC-normalised Unicode", code="BG-400-FILE-NAME")
    return name


def format_for_name(name: str) -> tuple[Format | None, str | None]:
    """(format, compression) from a file name's suffix: ``x.csv.gz`` → (csv, gzip)."""
    lower = name.lower()
    compression = None
    if lower.endswith(".gz"):
        compression = "gzip"
        lower = lower[:-3]
    for suffix, fmt in SUFFIX_FORMATS.items():
        if lower.endswith(suffix):
            return fmt, compression
    return None, compression


def upload_key(fmt: str, org: str, sandbox: str, dataset_id: str, batch_id: str, name: str) -> str:
    return f"uploads/{fmt}/{org}/{sandbox}/{dataset_id}/{batch_id}/{name}"


def staged_prefix(org: str, sandbox: str, dataset_id: str, batch_id: str) -> str:
    return f"staged/{org}/{sandbox}/{dataset_id}/{batch_id}/"


def failed_prefix(org: str, sandbox: str, dataset_id: str, batch_id: str) -> str:
    return f"failed/{org}/{sandbox}/{dataset_id}/{batch_id}/"


@dataclass(frozen=True)
class ObjectRef:
    """What an object key under uploads/ or inbox/ says about its tenant, dataset and batch."""

    kind: str  # "uploads" | "inbox"
    fmt: Format | None  # from the key for uploads/, from the suffix for inbox/ (None: unknown)
    org: str
    sandbox: str
    dataset_id: str
    batch_id: str | None
    name: str


def parse_object_key(key: str) -> ObjectRef:
    parts = key.split("/")
    if parts[0] == "uploads" and len(parts) >= 7 and parts[1] in ("json", "csv", "parquet"):
        fmt = cast(Format, parts[1])
        return ObjectRef("uploads", fmt, parts[2], parts[3], parts[4], parts[5], "/".join(parts[6:]))
    if parts[0] == "inbox" and len(parts) >= 5:
        name = "/".join(parts[4:])
        return ObjectRef("inbox", format_for_name(name)[0], parts[1], parts[2], parts[3], None, name)
    raise InvalidRequest(f"object key {key!r} is not under uploads/ or inbox/ in the expected shape")
