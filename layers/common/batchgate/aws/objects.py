"""S3 objects of one bucket, behind methods named for what the callers need.

AWS's "not found" becomes ``None`` (or ``False``) here; S3 refusing a client's multipart parts
becomes ``InvalidRequest``; every other AWS error propagates for the caller's retry policy.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from batchgate.aws.clients import client
from batchgate.core.errors import InvalidRequest

_MISSING = ("404", "NoSuchKey", "NotFound")
_DELETE_BATCH = 1000  # DeleteObjects takes at most this many keys per call
_COPY_MAX = 5 * 1024**3  # CopyObject's limit; larger objects are copied in parts
_COPY_PART = 512 * 1024**2
# S3 codes for parts a client listed wrongly when completing a presigned multipart upload.
_REFUSED_PARTS = ("InvalidPart", "InvalidPartOrder", "EntityTooSmall")


@dataclass(frozen=True)
class ObjectInfo:
    key: str
    size: int
    etag: str
    modified_s: float  # LastModified as epoch seconds
    version_id: str | None = None  # set by current_versions_under, in a versioned bucket


@dataclass(frozen=True)
class Version:
    """What S3 says the current version of a key is."""

    etag: str
    version_id: str | None


class Objects:
    def __init__(self, bucket: str) -> None:
        self.bucket = bucket

    @property
    def s3(self) -> Any:
        return client("s3")

    # -- questions --------------------------------------------------------------------------
    def head(self, key: str) -> dict[str, Any] | None:
        """The object's HEAD response, or None when there is no such object."""
        try:
            resp: dict[str, Any] = self.s3.head_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in _MISSING:
                return None
            raise
        return resp

    def exists(self, key: str) -> bool:
        return self.head(key) is not None

    def current_etag(self, key: str) -> str | None:
        resp = self.head(key)
        return None if resp is None else str(resp["ETag"]).strip('"')

    def current_version(self, key: str) -> Version | None:
        resp = self.head(key)
        if resp is None:
            return None
        version = resp.get("VersionId")
        return Version(str(resp["ETag"]).strip('"'), None if version in (None, "null") else str(version))

    def current_versions_under(self, prefix: str) -> Iterator[ObjectInfo]:
        """The current version of every object under ``prefix``, with its version id (none in a
        bucket that never had versioning: S3 answers "null")."""
        pages = self.s3.get_paginator("list_object_versions").paginate(Bucket=self.bucket, Prefix=prefix)
        for page in pages:
            for v in page.get("Versions", []):
                if not v.get("IsLatest"):
                    continue
                version = v.get("VersionId")
                yield ObjectInfo(
                    v["Key"], int(v["Size"]), str(v["ETag"]).strip('"'), v["LastModified"].timestamp(),
                    None if version in (None, "null") else str(version),
                )  # fmt: skip

    def copy_version(self, key: str, version_id: str, target: str) -> bool:
        """Copy one version of ``key`` to ``target`` (server-side); False if that version is gone."""
        try:
            self.s3.copy_object(
                Bucket=self.bucket,
                Key=target,
                CopySource={"Bucket": self.bucket, "Key": key, "VersionId": version_id},
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in (*_MISSING, "NoSuchVersion", "InvalidArgument"):
                return False
            raise
        return True

    def bucket_problem(self) -> str | None:
        """Why this bucket cannot be read (no such bucket, access denied), or None."""
        try:
            self.s3.head_bucket(Bucket=self.bucket)
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            if code in ("404", "NoSuchBucket", "NotFound"):
                return f"bucket {self.bucket!r} does not exist"
            if code in ("403", "AccessDenied", "Forbidden"):
                return f"bucket {self.bucket!r} cannot be read with this deployment's rights (access denied)"
            raise
        return None

    def copy_in(self, source_bucket: str, source_key: str, target: str, *, size: int, etag: str) -> bool:
        """Copy another bucket's object here, server-side (multipart above 5 GiB), only if it still
        has ``etag``; False when it is gone or changed since it was listed."""
        source = {"Bucket": source_bucket, "Key": source_key}
        try:
            # moto (so the local stack) ignores CopySourceIfMatch and would copy a newer version
            # under the old ETag's claim, which a later run then takes again: the ETag is checked
            # here first. In AWS the condition on the copy itself is what holds, race included.
            current = self.s3.head_object(Bucket=source_bucket, Key=source_key)
            if str(current["ETag"]).strip('"') != etag.strip('"'):
                return False
            if size <= _COPY_MAX:
                self.s3.copy_object(Bucket=self.bucket, Key=target, CopySource=source, CopySourceIfMatch=etag)
                return True
            upload_id = self.start_multipart(target, content_type="application/octet-stream")
            parts = []
            for number, first in enumerate(range(0, size, _COPY_PART), start=1):
                last = min(first + _COPY_PART, size) - 1
                part = self.s3.upload_part_copy(
                    Bucket=self.bucket, Key=target, UploadId=upload_id, PartNumber=number,
                    CopySource=source, CopySourceRange=f"bytes={first}-{last}", CopySourceIfMatch=etag,
                )  # fmt: skip
                parts.append((number, str(part["CopyPartResult"]["ETag"])))
            self.complete_multipart(target, upload_id, parts)
            return True
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in (*_MISSING, "PreconditionFailed", "412"):
                return False
            raise

    def copy_range(self, source: str, first: int, last: int, target: str) -> None:
        """Bytes ``first``..``last`` of ``source`` (this bucket) as the object ``target``, copied
        server-side part by part: nothing passes through the caller."""
        upload_id = self.start_multipart(target, content_type="application/octet-stream")
        try:
            parts = []
            for number, start in enumerate(range(first, last + 1, _COPY_PART), start=1):
                end = min(start + _COPY_PART - 1, last)
                parts.append((number, self.copy_part(target, upload_id, number, source, start, end)))
            self.complete_multipart(target, upload_id, parts)
        except BaseException:
            self.abort_multipart_quietly(target, upload_id)
            raise

    def objects_under(self, prefix: str) -> Iterator[ObjectInfo]:
        pages = self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix)
        for page in pages:
            for o in page.get("Contents", []):
                yield ObjectInfo(
                    o["Key"], int(o["Size"]), str(o["ETag"]).strip('"'), o["LastModified"].timestamp()
                )

    def keys_under(self, prefix: str) -> list[str]:
        """The data objects under ``prefix``, not the empty "dir/" markers pyarrow's S3 filesystem
        leaves behind."""
        return [o.key for o in self.objects_under(prefix) if not o.key.endswith("/")]

    # -- reading and writing ----------------------------------------------------------------
    def get_bytes(self, key: str, *, first: int | None = None, last: int | None = None) -> bytes:
        """The object, or the inclusive byte range ``first``..``last`` of it."""
        kwargs: dict[str, Any] = {}
        if first is not None and last is not None:
            kwargs["Range"] = f"bytes={first}-{last}"
        body: bytes = self.s3.get_object(Bucket=self.bucket, Key=key, **kwargs)["Body"].read()
        return body

    def iter_range(self, key: str, first: int, last: int, block: int) -> Iterator[bytes]:
        """The inclusive byte range ``first``..``last`` in blocks of ``block`` bytes (streamed)."""
        obj = self.s3.get_object(Bucket=self.bucket, Key=key, Range=f"bytes={first}-{last}")
        yield from obj["Body"].iter_chunks(block)

    def put_bytes(
        self, key: str, body: bytes, *, content_md5: str | None = None, content_type: str | None = None
    ) -> None:
        kwargs: dict[str, Any] = {}
        if content_md5 is not None:
            kwargs["ContentMD5"] = content_md5
        if content_type is not None:
            kwargs["ContentType"] = content_type
        self.s3.put_object(Bucket=self.bucket, Key=key, Body=body, **kwargs)

    def put_refused(self, key: str, body: bytes, *, content_type: str) -> str | None:
        """Put into a bucket that is not ours (a feed's destination): None when written, else
        S3's error code (NoSuchBucket, AccessDenied, ...), which the caller records."""
        try:
            self.put_bytes(key, body, content_type=content_type)
        except ClientError as exc:
            return str(exc.response.get("Error", {}).get("Code", "error"))
        return None

    def put_json(self, key: str, value: Any) -> None:
        self.put_bytes(key, json.dumps(value).encode())

    def get_json(self, key: str) -> Any:
        return json.loads(self.get_bytes(key))

    # -- deleting ---------------------------------------------------------------------------
    def delete_keys(self, keys: list[str]) -> None:
        for i in range(0, len(keys), _DELETE_BATCH):
            batch = [{"Key": k} for k in keys[i : i + _DELETE_BATCH]]
            self.s3.delete_objects(Bucket=self.bucket, Delete={"Objects": batch, "Quiet": True})

    def delete_prefix(self, prefix: str) -> int:
        """Delete every object under ``prefix`` (directory markers included); how many."""
        keys = [o.key for o in self.objects_under(prefix)]
        self.delete_keys(keys)
        return len(keys)

    # -- multipart uploads ------------------------------------------------------------------
    def start_multipart(self, key: str, *, content_type: str) -> str:
        upload_id: str = self.s3.create_multipart_upload(
            Bucket=self.bucket, Key=key, ContentType=content_type
        )["UploadId"]
        return upload_id

    def upload_part(self, key: str, upload_id: str, number: int, body: bytes) -> str:
        etag: str = self.s3.upload_part(
            Bucket=self.bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=body
        )["ETag"]
        return etag

    def copy_part(self, key: str, upload_id: str, number: int, source: str, first: int, last: int) -> str:
        """A part copied server-side from bytes ``first``..``last`` of ``source`` (no download)."""
        resp = self.s3.upload_part_copy(
            Bucket=self.bucket, Key=key, UploadId=upload_id, PartNumber=number,
            CopySource={"Bucket": self.bucket, "Key": source}, CopySourceRange=f"bytes={first}-{last}",
        )  # fmt: skip
        etag: str = resp["CopyPartResult"]["ETag"]
        return etag

    def complete_multipart(self, key: str, upload_id: str, parts: list[tuple[int, str]]) -> None:
        """Complete with (part number, ETag) pairs; ``InvalidRequest`` when S3 refuses the parts."""
        listed = [{"PartNumber": n, "ETag": etag} for n, etag in parts]
        try:
            self.s3.complete_multipart_upload(
                Bucket=self.bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": listed}
            )
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code in _REFUSED_PARTS:
                raise InvalidRequest(
                    f"S3 refused the parts ({code}): {exc.response['Error'].get('Message', '')}",
                    code="BG-400-PRESIGN",
                ) from exc
            raise

    def abort_multipart(self, key: str, upload_id: str) -> bool:
        """Abort an unfinished multipart upload; False when it no longer exists."""
        try:
            self.s3.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload_id)
        except self.s3.exceptions.NoSuchUpload:
            return False
        return True

    def abort_multipart_quietly(self, key: str, upload_id: str) -> None:
        """Abort after a failure: the original failure is the one to report, not this one."""
        with contextlib.suppress(ClientError):
            self.abort_multipart(key, upload_id)

    def uploaded_parts(self, key: str, upload_id: str) -> dict[int, int]:
        """Part number → size of the parts uploaded so far."""
        sizes: dict[int, int] = {}
        pages = self.s3.get_paginator("list_parts").paginate(Bucket=self.bucket, Key=key, UploadId=upload_id)
        for page in pages:
            for part in page.get("Parts", []):
                sizes[int(part["PartNumber"])] = int(part["Size"])
        return sizes

    # -- presigned URLs ---------------------------------------------------------------------
    def presign_put(self, key: str, expires: int) -> str:
        return self._presign("put_object", {"Key": key}, expires)

    def presign_part(self, key: str, upload_id: str, number: int, expires: int) -> str:
        return self._presign(
            "upload_part", {"Key": key, "UploadId": upload_id, "PartNumber": number}, expires
        )

    def presign_get(self, key: str, expires: int) -> str:
        return self._presign("get_object", {"Key": key}, expires)

    def _presign(self, operation: str, params: dict[str, Any], expires: int) -> str:
        url: str = self.s3.generate_presigned_url(
            operation, Params={"Bucket": self.bucket, **params}, ExpiresIn=expires
        )
        return url
