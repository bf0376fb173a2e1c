"""An ingest-http job's source: a conditional GET streamed to S3, never held whole in memory.

``If-None-Match`` / ``If-Modified-Since`` carry what the last ingested response said (its ETag
and Last-Modified); a 304 means nothing new. The body goes to S3 in parts of ``PART_BYTES`` as it
arrives. Standard library only: the layer has no HTTP client of its own to spare.
"""

from __future__ import annotations

import urllib.error
import urllib.request
from dataclasses import dataclass

from batchgate.aws.objects import Objects
from batchgate.core.errors import InvalidRequest, Transient

PART_BYTES = 8 * 1024 * 1024  # S3 parts are at least 5 MiB (the last aside)
TIMEOUT_SECONDS = 60


@dataclass(frozen=True)
class Fetched:
    size: int
    etag: str  # the S3 object's
    validators: dict[str, str]  # the HTTP response's ETag / Last-Modified, for the next GET


def fetch_to_s3(url: str, objects: Objects, key: str, validators: dict[str, str]) -> Fetched | None:
    """GET ``url`` into ``key``; None when the server says it did not change (304)."""
    headers = {"User-Agent": "batchgate-ingest-http"}
    if validators.get("etag"):
        headers["If-None-Match"] = validators["etag"]
    if validators.get("lastModified"):
        headers["If-Modified-Since"] = validators["lastModified"]
    request = urllib.request.Request(url, headers=headers)
    try:
        response = urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS)
    except urllib.error.HTTPError as exc:
        if exc.code == 304:
            return None
        if exc.code == 429 or exc.code >= 500:
            raise Transient(f"GET {url} answered {exc.code}; the step is retried") from exc
        raise InvalidRequest(f"GET {url} answered {exc.code} {exc.reason}", code="BG-400-JOB-SOURCE") from exc
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        raise Transient(f"GET {url} failed: {exc}") from exc
    with response:
        got = {
            name: value
            for name, value in (
                ("etag", response.headers.get("ETag")),
                ("lastModified", response.headers.get("Last-Modified")),
            )
            if value
        }
        size = _stream(response, objects, key)
    head = objects.head(key)
    assert head is not None, f"{key} was just written"
    return Fetched(size=size, etag=str(head["ETag"]).strip('"'), validators=got)


def _stream(response: object, objects: Objects, key: str) -> int:
    read = response.read  # type: ignore[attr-defined]
    first = _read_part(read)
    if len(first) < PART_BYTES:
        objects.put_bytes(key, first)
        return len(first)
    upload_id = objects.start_multipart(key, content_type="application/octet-stream")
    parts, size, number, chunk = [], 0, 1, first
    try:
        while chunk:
            parts.append((number, objects.upload_part(key, upload_id, number, chunk)))
            size += len(chunk)
            number += 1
            chunk = _read_part(read)
        objects.complete_multipart(key, upload_id, parts)
    except BaseException:
        objects.abort_multipart_quietly(key, upload_id)
        raise
    return size


def _read_part(read: object) -> bytes:
    """Up to PART_BYTES, however the body arrives (a read may return less than asked)."""
    out = bytearray()
    while len(out) < PART_BYTES:
        block = read(PART_BYTES - len(out))  # type: ignore[operator]
        if not block:
            break
        out += block
    return bytes(out)
