"""Request classification: which S3 and DynamoDB requests mutate what, read off the WSGI environ.

Nothing here touches the disk; moto is asked only how it names accounts, partitions and buckets,
so that the mirror reads back exactly what moto wrote.
"""

from __future__ import annotations

import io
import os
import xml.etree.ElementTree as ET
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

#: Requests carrying this header are not mirrored: ``restore`` sets it on its own writes, which
#: would otherwise rewrite every file it has just read.
RESTORE_HEADER = "x-batchgate-restore"
RESTORE_ENVIRON_KEY = "HTTP_X_BATCHGATE_RESTORE"

DYNAMODB_MUTATIONS = frozenset(
    {"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems", "DeleteTable"}
)
DYNAMODB_PARTIQL = frozenset({"ExecuteStatement", "BatchExecuteStatement", "ExecuteTransaction"})
# Query parameters that do not make an S3 request a sub-resource call (?tagging, ?acl, ...).
_S3_PLAIN_PARAMS = frozenset({"x-id", "versionid", "awsaccesskeyid", "signature", "expires"})


def sigv4_credential(
    environ: Mapping[str, Any], query: Mapping[str, list[str]]
) -> tuple[str, str, str] | None:
    """(access key, region, service) from a SigV4 ``Authorization`` header or presigned query."""
    scope = None
    auth = environ.get("HTTP_AUTHORIZATION", "")
    if auth.startswith("AWS4-"):
        for part in auth.split(" ", 1)[-1].split(","):
            name, _, value = part.strip().partition("=")
            if name == "Credential":
                scope = value
                break
    elif "X-Amz-Credential" in query:
        scope = query["X-Amz-Credential"][0]
    if scope is None:
        return None
    parts = scope.split("/")
    if len(parts) != 5:
        return None
    return parts[0], parts[2], parts[3].lower()


def _account_id(environ: Mapping[str, Any], access_key: str | None) -> str:
    """The account moto files this request under (same precedence as moto's BaseResponse)."""
    if "MOTO_ACCOUNT_ID" in os.environ:
        return os.environ["MOTO_ACCOUNT_ID"]
    if header := environ.get("HTTP_X_MOTO_ACCOUNT_ID"):
        return str(header)
    from moto.iam.models import get_account_id_from

    return get_account_id_from(access_key or "AKIAEXAMPLE")


def partition(region: str) -> str:
    from moto.utilities.utils import get_partition

    return get_partition(region)


def read_body(environ: dict[str, Any]) -> bytes:
    """Read the whole request body and put it back for moto. Only for small control-plane bodies."""
    length = environ.get("CONTENT_LENGTH") or ""
    stream = environ["wsgi.input"]
    body: bytes = stream.read(int(length)) if length.isdigit() else stream.read()
    environ["wsgi.input"] = io.BytesIO(body)
    environ["CONTENT_LENGTH"] = str(len(body))
    environ.pop("HTTP_TRANSFER_ENCODING", None)
    return body


# -- S3 ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class S3Write:
    """What one mutating S3 request touched: some keys of a bucket, or the bucket itself."""

    account: str
    region: str
    bucket: str
    keys: tuple[str, ...] = ()
    bucket_created: bool = False
    bucket_deleted: bool = False


def _s3_request(environ: dict[str, Any]) -> tuple[str, str]:
    """(bucket, key) of an S3 request, parsed the way moto parses it (path or virtual-host style)."""
    from moto.core.request import Request
    from moto.s3.responses import S3Response
    from moto.s3.utils import bucket_name_from_url

    request = Request(environ, populate_request=False, shallow=True)
    path = unquote(request.raw_path)
    if S3Response.subdomain_based_buckets(request):
        return bucket_name_from_url(request.url) or "", path[1:]
    parts = path.split("/")
    return (parts[1] if len(parts) > 1 else ""), "/".join(parts[2:])


def _deleted_keys(body: bytes) -> tuple[str, ...]:
    """Keys named in a DeleteObjects body (``<Delete><Object><Key>``), namespace or not."""
    root = ET.fromstring(body)  # a local client's request, which moto parses too
    keys = []
    for element in root.iter():
        if element.tag.rsplit("}", 1)[-1] == "Key":
            keys.append(element.text or "")
    return tuple(keys)


def s3_write(
    environ: dict[str, Any], query: dict[str, list[str]], region: str, access_key: str | None
) -> S3Write | None:
    """What this S3 request changes if moto accepts it, or None. May read a DeleteObjects body."""
    method = environ["REQUEST_METHOD"]
    bucket, key = _s3_request(environ)
    if not bucket:
        return None
    params = {name.lower() for name in query if not name.lower().startswith("x-amz-")}
    subresources = params - _S3_PLAIN_PARAMS
    account = _account_id(environ, access_key)
    if not key:
        if method == "PUT" and not subresources:
            return S3Write(account, region, bucket, bucket_created=True)
        if method == "DELETE" and not subresources:
            return S3Write(account, region, bucket, bucket_deleted=True)
        if method == "POST" and "delete" in subresources:
            try:
                keys = _deleted_keys(read_body(environ))
            except ET.ParseError:
                return None  # moto answers MalformedXML; nothing to mirror
            return S3Write(account, region, bucket, keys=keys)
        return None
    if method == "POST":
        # CompleteMultipartUpload; ?uploads (initiate), ?restore, ?select change no bytes.
        return S3Write(account, region, bucket, keys=(key,)) if subresources == {"uploadid"} else None
    if method in ("PUT", "DELETE"):
        # PutObject / CopyObject / DeleteObject; parts, aborts, ?tagging, ?acl... are skipped.
        return S3Write(account, region, bucket, keys=(key,)) if not subresources else None
    return None


# -- DynamoDB ------------------------------------------------------------------------------------


def touched_items(
    operation: str,
    body: Mapping[str, Any],
    key_of: Callable[[str, Mapping[str, Any]], dict[str, Any]],
) -> list[tuple[str, dict[str, Any]]]:
    """(table, key) of every item a DynamoDB write names, in request order (not DeleteTable).

    A put names an item, not a key: ``key_of(table, item)`` cuts the key out of it.
    """
    touched: list[tuple[str, dict[str, Any]]] = []  # (table, key)
    if operation == "PutItem":
        touched.append((body["TableName"], key_of(body["TableName"], body["Item"])))
    elif operation in ("UpdateItem", "DeleteItem"):
        touched.append((body["TableName"], body["Key"]))
    elif operation == "BatchWriteItem":
        for table, requests in body.get("RequestItems", {}).items():
            for request in requests:
                if "PutRequest" in request:
                    touched.append((table, key_of(table, request["PutRequest"]["Item"])))
                elif "DeleteRequest" in request:
                    touched.append((table, request["DeleteRequest"]["Key"]))
    elif operation == "TransactWriteItems":
        for entry in body.get("TransactItems", []):
            if "Put" in entry:
                put = entry["Put"]
                touched.append((put["TableName"], key_of(put["TableName"], put["Item"])))
            for kind in ("Update", "Delete"):
                if kind in entry:
                    touched.append((entry[kind]["TableName"], entry[kind]["Key"]))
    return touched
