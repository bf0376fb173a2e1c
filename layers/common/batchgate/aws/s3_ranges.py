"""Ranged reads of an S3 object through boto3, for the byte sources of CSV and JSON files.

The validators read every byte of a CSV or JSON file in large ranges. pyarrow's S3 filesystem
(the AWS SDK for C++ over curl) spent 1.26-1.46 CPU-s of the reading process on 1 GiB in 16 MiB
ranges from the local stack, boto3 0.55-0.56, with two ranges in flight both ways and the server's
share about the same (decision 61 in ``docs/architecture.md``). So those reads go
through boto3; Parquet (a footer, then row groups: random access) and every write stay with
pyarrow.

:func:`ranged_reader` gives ``read_at(nbytes, offset)`` for a path of a ``pyarrow.fs.S3FileSystem``
with a client configured like it (endpoint, region, keys), or ``None`` for any other filesystem
and for the settings a plain client does not mirror (anonymous access, an assumed role, a proxy,
a CA file, virtual addressing): those keep pyarrow's reads. Errors keep the filesystem's
contract: a missing object is ``FileNotFoundError``, any other failure ``OSError``, a range past
the end of the object (it got shorter) reads as no bytes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pyarrow.fs as pafs
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from batchgate.aws.clients import client_with

# Retries as the other clients; path-style for an endpoint of its own (moto serves no bucket
# subdomains), the SDK's choice for AWS.
_CONFIG = Config(retries={"mode": "standard", "max_attempts": 5})
_ENDPOINT_CONFIG = _CONFIG.merge(Config(s3={"addressing_style": "path"}))
_MISSING = {"NoSuchKey", "NoSuchBucket", "404"}


@dataclass(frozen=True)
class RangedReader:
    """``read_at`` over one S3 object; thread-safe (boto3 clients are)."""

    client: Any
    bucket: str
    key: str

    def read_at(self, nbytes: int, offset: int) -> bytes:
        if nbytes <= 0:
            return b""
        where = f"s3://{self.bucket}/{self.key} bytes {offset}-{offset + nbytes - 1}"
        try:
            response = self.client.get_object(
                Bucket=self.bucket, Key=self.key, Range=f"bytes={offset}-{offset + nbytes - 1}"
            )
            data: bytes = response["Body"].read()
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            if code == "InvalidRange":
                return b""
            if code in _MISSING:
                raise FileNotFoundError(f"s3://{self.bucket}/{self.key}") from exc
            raise OSError(f"reading {where}: {exc}") from exc
        except BotoCoreError as exc:
            raise OSError(f"reading {where}: {exc}") from exc
        return data


def ranged_reader(fs: pafs.FileSystem, path: str) -> RangedReader | None:
    """A boto3 reader of ``path`` (``bucket/key``) when ``fs`` is an S3 filesystem it can mirror."""
    if not isinstance(fs, pafs.S3FileSystem):
        return None
    options: dict[str, Any] = fs.__reduce__()[1][0]
    if (
        options.get("anonymous")
        or options.get("role_arn")
        or (options.get("proxy_options") or {}).get("host")
        or options.get("tls_ca_file_path")
        or options.get("force_virtual_addressing")
    ):
        return None
    bucket, _, key = path.lstrip("/").partition("/")
    if not bucket or not key:
        return None
    endpoint = options.get("endpoint_override") or ""
    settings: dict[str, Any] = {"region_name": options.get("region") or None, "config": _CONFIG}
    if endpoint:
        scheme = options.get("scheme") or "https"
        settings["endpoint_url"] = endpoint if "://" in endpoint else f"{scheme}://{endpoint}"
        settings["config"] = _ENDPOINT_CONFIG
    if options.get("access_key"):
        settings["aws_access_key_id"] = options["access_key"]
        settings["aws_secret_access_key"] = options.get("secret_key") or ""
        if options.get("session_token"):
            settings["aws_session_token"] = options["session_token"]
    return RangedReader(client_with("s3", **settings), bucket, key)
