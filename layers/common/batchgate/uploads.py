"""Getting a batch's files into S3: single PUT, AEP chunks (INITIALIZE / PATCH / COMPLETE) and
presigned URLs (single PUT or S3 multipart).

The order of writes is the contract with the validators: the file item is written first (with
``only_if_new``), then the batch is re-read to be sure it is still ``loading``, and only then do the
bytes land under ``uploads/{format}/…``. Once the object exists the validators own the item and
nothing here writes it again. A COMPLETE that races an upload therefore either sees the file item
(and waits for its validation) or the upload sees the batch sealed and gives up with a 409.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from batchgate.api.auth import Principal
from batchgate.api.bodies import FileActionBody
from batchgate.aws import objects
from batchgate.aws.clients import client
from batchgate.aws.store import Store
from batchgate.core.errors import BatchgateError, Conflict, InvalidRequest, NotFound, PayloadTooLarge
from batchgate.core.keys import check_file_name, upload_key
from batchgate.core.models import Batch, BatchFile
from batchgate.core.status import ACCEPTS_UPLOADS
from batchgate.settings import Settings

MIB = 1024 * 1024
S3_MIN_PART = 5 * MIB  # every multipart part but the last must be at least this big
S3_MAX_PARTS = 10_000
ASSEMBLY_PART = 8 * MIB  # parts built from small chunks: bounded memory, few requests
DEFAULT_PRESIGN_PART = 64 * MIB
CHUNKED = "chunked"  # BatchFile.upload_id of an AEP chunked upload (S3 upload ids never equal it)
OCTET_STREAM = "application/octet-stream"
_RANGE = re.compile(r"^\s*bytes\s+(\d+)-(\d+)/(\d+|\*)\s*$")
# {first}-{last}-t{total|x}: the listing alone describes every chunk (no HEAD per chunk).
_CHUNK_NAME = re.compile(r"^(\d{20})-(\d{20})-t(\d+|x)$")


class UnsupportedMediaType(BatchgateError):
    code = "BG-415-CONTENT-TYPE"
    status = 415


@dataclass(frozen=True)
class Chunk:
    start: int
    end: int  # inclusive, as in Content-Range
    total: int | None
    key: str

    @property
    def size(self) -> int:
        return self.end - self.start + 1


def chunk_prefix(org: str, sandbox: str, batch_id: str, name: str) -> str:
    """Chunks live outside uploads/, so no S3 notification routes them to a validator."""
    return f"chunks/{org}/{sandbox}/{batch_id}/{name}/"


def parse_content_range(header: str | None, body_len: int) -> tuple[int, int, int | None]:
    m = _RANGE.match(header or "")
    if not m:
        raise InvalidRequest(
            "PATCH needs 'Content-Range: bytes <first>-<last>/<total or *>' (inclusive offsets)",
            code="BG-400-CONTENT-RANGE",
        )
    start, end = int(m.group(1)), int(m.group(2))
    total = None if m.group(3) == "*" else int(m.group(3))
    if end < start:
        raise InvalidRequest(f"Content-Range {header!r} ends before it starts", code="BG-400-CONTENT-RANGE")
    if end - start + 1 != body_len:
        raise InvalidRequest(
            f"Content-Range {header!r} announces {end - start + 1} bytes but the body has {body_len}",
            code="BG-400-CONTENT-RANGE",
        )
    if total is not None and end >= total:
        raise InvalidRequest(f"Content-Range {header!r} goes past the total", code="BG-400-CONTENT-RANGE")
    return start, end, total


def check_coverage(chunks: list[Chunk]) -> int:
    """The file's size if the chunks cover 0..total-1 exactly once; else InvalidRequest naming
    every gap, overlap and total disagreement."""
    if not chunks:
        raise InvalidRequest("no chunks were uploaded for this file; PATCH them first", code="BG-400-CHUNKS")
    chunks = sorted(chunks, key=lambda c: (c.start, c.end))
    problems: list[str] = []
    expected = 0
    prev: Chunk | None = None
    for c in chunks:
        if c.start > expected:
            problems.append(f"gap: bytes {expected}-{c.start - 1} are missing")
        elif c.start < expected and prev is not None:
            problems.append(
                f"overlap: bytes {c.start}-{min(c.end, expected - 1)} were sent twice "
                f"(chunks {prev.start}-{prev.end} and {c.start}-{c.end})"
            )
        if prev is None or c.end > prev.end:
            prev = c
        expected = max(expected, c.end + 1)
    size = expected
    totals = {c.total for c in chunks if c.total is not None}
    if len(totals) > 1:
        problems.append(f"wrong total: chunks announce different totals {sorted(totals)}")
    elif totals and (total := totals.pop()) != size:
        if total > size:
            problems.append(f"gap: bytes {size}-{total - 1} are missing (total is {total})")
        else:
            problems.append(f"wrong total: chunks cover 0-{size - 1} but announce a total of {total}")
    if problems:
        raise InvalidRequest("chunks do not form the file: " + "; ".join(problems), code="BG-400-CHUNKS")
    return size


def plan_parts(
    chunks: list[Chunk], min_part: int = S3_MIN_PART, target: int = ASSEMBLY_PART
) -> list[list[tuple[Chunk, int, int]]]:
    """Group (chunk, first, last) byte slices into multipart parts: every part but the last is at
    least ``min_part``. A slice ≥ ``min_part`` that starts a part becomes an UploadPartCopy on its
    own; small slices are concatenated (streamed) into parts of about ``target`` bytes."""
    parts: list[list[tuple[Chunk, int, int]]] = []
    current: list[tuple[Chunk, int, int]] = []
    filled = 0
    for c in sorted(chunks, key=lambda c: c.start):
        offset = 0
        if current and filled < min_part:
            take = min(c.size, target - filled)
            current.append((c, 0, take - 1))
            filled += take
            offset = take
        if current and filled >= min_part:
            parts.append(current)
            current, filled = [], 0
        rest = c.size - offset
        if rest <= 0:
            continue
        if not current and rest >= min_part:
            parts.append([(c, offset, c.size - 1)])
        else:
            current.append((c, offset, c.size - 1))
            filled += rest
            if filled >= target:
                parts.append(current)
                current, filled = [], 0
    if current:
        parts.append(current)
    return parts


class Uploads:
    def __init__(self, store: Store, cfg: Settings) -> None:
        self.store = store
        self.cfg = cfg

    @property
    def s3(self) -> Any:
        return client("s3")

    # -- shared ---------------------------------------------------------------------------
    def _open(self, p: Principal, batch_id: str, dataset_id: str, name: str) -> Batch:
        check_file_name(name)
        b = self.store.get_batch(p.org, p.sandbox, batch_id)
        if b.dataset_id != dataset_id:
            raise NotFound(f"batch {batch_id} has no dataset {dataset_id!r}", code="BG-404-DATASET")
        self._check_loading(b)
        return b

    @staticmethod
    def _check_loading(b: Batch) -> None:
        if b.status not in ACCEPTS_UPLOADS:
            raise Conflict(
                f"batch {b.id} is '{b.status}' and takes no more files; uploads are accepted while "
                "it is 'loading' (create a new batch)",
                code="BG-409-BATCH-NOT-LOADING",
            )

    def _recheck(self, p: Principal, b: Batch) -> None:
        """After the file item is written: a COMPLETE that slipped in between must win."""
        self._check_loading(self.store.get_batch(p.org, p.sandbox, b.id))

    def _key(self, b: Batch, name: str) -> str:
        return upload_key(b.input_format.format, b.org, b.sandbox, b.dataset_id, b.id, name)

    def _exists(self, key: str) -> bool:
        return objects.exists(self.cfg.bucket, key)

    def _file(self, p: Principal, b: Batch, name: str) -> BatchFile:
        f = self.store.get_file(p.org, p.sandbox, b.id, name)
        if f is None:
            raise NotFound(f"file {name!r} not found in batch {b.id}", code="BG-404-FILE")
        return f

    @staticmethod
    def _content_type(name: str) -> str:
        # No Content-Encoding: gzip on purpose: HTTP clients would inflate it on download, while the
        # validators read the '.gz' name and inflate it themselves.
        return "application/gzip" if name.lower().endswith(".gz") else OCTET_STREAM

    @staticmethod
    def check_media_type(content_type: str | None) -> None:
        # API Gateway carries binary bodies intact only for binary media types; refusing other
        # types catches `curl --data` (form-encoded, mangles bytes) before it corrupts a file.
        if (content_type or "").split(";")[0].strip().lower() != OCTET_STREAM:
            raise UnsupportedMediaType(
                f"file bodies must be sent as 'Content-Type: {OCTET_STREAM}' (got {content_type or 'none'!r}); "
                "with curl use --data-binary @file -H 'Content-Type: application/octet-stream'"
            )

    def _check_size(self, size: int, what: str) -> None:
        limit = self.cfg.single_put_max_bytes
        if size > limit:
            raise PayloadTooLarge(
                f"{what} of {size} bytes is above the API's {limit}-byte limit for request bodies; "
                "upload large files with presigned URLs: POST …/files/{name}?action=PRESIGN "
                '{"size": N} (see docs/api.md), or in chunks of at most this size via PATCH',
            )

    # -- single PUT -----------------------------------------------------------------------
    def put(self, p: Principal, batch_id: str, dataset_id: str, name: str, body: bytes) -> BatchFile:
        check_file_name(name)
        self._check_size(len(body), "the body")
        b = self._open(p, batch_id, dataset_id, name)
        key = self._key(b, name)
        md5 = hashlib.md5(body, usedforsecurity=False)
        f = BatchFile(
            batch_id=b.id, name=name, key=key, status="uploading", size=len(body), etag=md5.hexdigest()
        )
        try:
            self.store.put_file(p.org, p.sandbox, f, only_if_new=True)
        except Conflict:
            existing = self._file(p, b, name)
            if existing.etag != f.etag or existing.size != f.size:
                raise Conflict(
                    f"a different file named {name!r} is already in batch {b.id}; file names are "
                    "unique within a batch",
                    code="BG-409-FILE-EXISTS",
                ) from None
            # A retry of the same bytes. Re-put only if the first attempt never reached S3 (the
            # item is untouched by validators); once the object existed it belongs to them.
            if existing.status != "uploading" or self._exists(key):
                return existing
            f = existing
        self._recheck(p, b)
        self.s3.put_object(
            Bucket=self.cfg.bucket,
            Key=key,
            Body=body,
            ContentMD5=base64.b64encode(md5.digest()).decode(),
            ContentType=self._content_type(name),
        )
        return f

    # -- AEP chunks -----------------------------------------------------------------------
    def initialize(self, p: Principal, batch_id: str, dataset_id: str, name: str) -> BatchFile:
        b = self._open(p, batch_id, dataset_id, name)
        f = BatchFile(batch_id=b.id, name=name, key=self._key(b, name), status="uploading", upload_id=CHUNKED)
        try:
            self.store.put_file(p.org, p.sandbox, f, only_if_new=True)
        except Conflict:
            existing = self._file(p, b, name)
            if (
                existing.upload_id == CHUNKED
                and existing.status == "uploading"
                and not self._exists(existing.key)
            ):
                return existing  # INITIALIZE repeated: same state, same answer
            raise Conflict(
                f"a file named {name!r} is already in batch {b.id}", code="BG-409-FILE-EXISTS"
            ) from None
        return f

    def _chunked(self, p: Principal, batch_id: str, dataset_id: str, name: str) -> tuple[Batch, BatchFile]:
        b = self._open(p, batch_id, dataset_id, name)
        f = self._file(p, b, name)
        if f.upload_id != CHUNKED:
            raise Conflict(
                f"file {name!r} was not started with ?action=INITIALIZE; chunks apply to it only then",
                code="BG-409-NOT-CHUNKED",
            )
        return b, f

    def patch(
        self, p: Principal, batch_id: str, dataset_id: str, name: str, content_range: str | None, body: bytes
    ) -> Chunk:
        check_file_name(name)
        self._check_size(len(body), "a chunk")
        start, end, total = parse_content_range(content_range, len(body))
        b, f = self._chunked(p, batch_id, dataset_id, name)
        if f.status != "uploading" or self._exists(f.key):
            raise Conflict(f"file {name!r} is already complete", code="BG-409-FILE-COMPLETE")
        key = f"{chunk_prefix(b.org, b.sandbox, b.id, name)}{start:020d}-{end:020d}-t{'x' if total is None else total}"
        # The same range sent again overwrites its chunk (a retry); a different range that
        # overlaps is caught at COMPLETE, where all chunks are known.
        self.s3.put_object(
            Bucket=self.cfg.bucket,
            Key=key,
            Body=body,
            ContentMD5=base64.b64encode(hashlib.md5(body, usedforsecurity=False).digest()).decode(),
        )
        return Chunk(start, end, total, key)

    def _chunks(self, b: Batch, name: str) -> Iterator[Chunk]:
        prefix = chunk_prefix(b.org, b.sandbox, b.id, name)
        for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.cfg.bucket, Prefix=prefix):
            for obj in page.get("Contents", []):
                m = _CHUNK_NAME.match(obj["Key"][len(prefix) :])
                if not m:
                    continue  # a chunk of another file whose name extends this one ("a" vs "a/b")
                total = None if m.group(3) == "x" else int(m.group(3))
                yield Chunk(int(m.group(1)), int(m.group(2)), total, obj["Key"])

    def complete(
        self, p: Principal, batch_id: str, dataset_id: str, name: str, body: FileActionBody | None
    ) -> BatchFile:
        """``?action=COMPLETE`` of a chunked file or of a presigned multipart upload."""
        b = self._open(p, batch_id, dataset_id, name)
        f = self._file(p, b, name)
        if f.upload_id == CHUNKED:
            return self._complete_chunked(p, b, f)
        if f.upload_id:
            return self._complete_multipart(p, b, f, body)
        if self._exists(f.key):
            return f  # a single PUT (presigned or not) needs no COMPLETE; accept it anyway
        raise Conflict(
            f"file {name!r} has no data yet: PUT it to the presigned URL first", code="BG-409-FILE-INCOMPLETE"
        )

    def _complete_chunked(self, p: Principal, b: Batch, f: BatchFile) -> BatchFile:
        chunks = list(self._chunks(b, f.name))
        if f.status != "uploading" or self._exists(f.key):
            self._delete_chunks(chunks)  # a repeated COMPLETE after a crash: finish the cleanup
            return f
        size = check_coverage(chunks)
        # The item learns its size before the object exists; afterwards it is the validators'.
        sized = f.model_copy(update={"size": size})
        # Condition: the item is still an un-landed upload (only single PUTs set an etag, and
        # nothing but this request writes it before the object exists).
        if not self.store.put_file_if(
            p.org, p.sandbox, sized, condition="attribute_exists(pk) AND etag = :e", values={":e": {"S": ""}}
        ):
            raise Conflict(f"file {f.name!r} changed while completing; retry", code="BG-409-FILE-CHANGED")
        self._recheck(p, b)
        self._assemble(f.key, chunks, self._content_type(f.name))
        self._delete_chunks(chunks)
        return sized

    def _assemble(self, key: str, chunks: list[Chunk], content_type: str) -> None:
        """Join the chunks into ``key`` with S3 multipart: big slices are copied server-side,
        small ones are streamed through a buffer of at most one part (never the whole file)."""
        bucket = self.cfg.bucket
        parts = plan_parts(chunks)
        if len(parts) > S3_MAX_PARTS:
            raise InvalidRequest("too many parts; use larger chunks", code="BG-400-CHUNKS")
        upload_id = self.s3.create_multipart_upload(Bucket=bucket, Key=key, ContentType=content_type)[
            "UploadId"
        ]
        try:
            done = []
            for number, slices in enumerate(parts, start=1):
                if len(slices) == 1 and slices[0][2] - slices[0][1] + 1 >= S3_MIN_PART:
                    c, first, last = slices[0]
                    resp = self.s3.upload_part_copy(
                        Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=number,
                        CopySource={"Bucket": bucket, "Key": c.key}, CopySourceRange=f"bytes={first}-{last}",
                    )  # fmt: skip
                    etag = resp["CopyPartResult"]["ETag"]
                else:
                    buf = bytearray()
                    for c, first, last in slices:
                        obj = self.s3.get_object(Bucket=bucket, Key=c.key, Range=f"bytes={first}-{last}")
                        for block in obj["Body"].iter_chunks(1 * MIB):
                            buf += block
                    etag = self.s3.upload_part(
                        Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=bytes(buf)
                    )["ETag"]
                done.append({"PartNumber": number, "ETag": etag})
            self.s3.complete_multipart_upload(
                Bucket=bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": done}
            )
        except BaseException:
            with contextlib.suppress(ClientError):  # the original failure is the one to report
                self.s3.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id)
            raise

    def _delete_chunks(self, chunks: list[Chunk]) -> None:
        keys = [c.key for c in chunks]
        for i in range(0, len(keys), 1000):
            self.s3.delete_objects(
                Bucket=self.cfg.bucket,
                Delete={"Objects": [{"Key": k} for k in keys[i : i + 1000]], "Quiet": True},
            )

    # -- presigned ------------------------------------------------------------------------
    def presign(
        self, p: Principal, batch_id: str, dataset_id: str, name: str, body: FileActionBody | None
    ) -> dict[str, Any]:
        if body is None or body.size is None:
            raise InvalidRequest('PRESIGN needs a JSON body {"size": <bytes>}', code="BG-400-PRESIGN")
        size, expires = body.size, body.expires_in
        b = self._open(p, batch_id, dataset_id, name)
        part_size = body.part_size or max(DEFAULT_PRESIGN_PART, math.ceil(size / S3_MAX_PARTS))
        if math.ceil(size / part_size) > S3_MAX_PARTS:
            raise InvalidRequest(
                f"partSize {part_size} makes more than {S3_MAX_PARTS} parts", code="BG-400-PRESIGN"
            )
        key = self._key(b, name)
        multipart = size > part_size
        f = BatchFile(batch_id=b.id, name=name, key=key, status="uploading", size=size)
        try:
            self.store.put_file(p.org, p.sandbox, f, only_if_new=True)
        except Conflict:
            # Asking again for the same file (expired URLs, a restarted client) re-issues URLs for
            # the same upload as long as nothing has landed yet.
            existing = self._file(p, b, name)
            same = (
                existing.size == size
                and existing.upload_id != CHUNKED
                and bool(existing.upload_id) == multipart
            )
            if not same or existing.status != "uploading" or self._exists(key):
                raise Conflict(
                    f"a file named {name!r} is already in batch {b.id}", code="BG-409-FILE-EXISTS"
                ) from None
            f = existing
        self._recheck(p, b)
        if not multipart:
            url = self.s3.generate_presigned_url(
                "put_object", Params={"Bucket": self.cfg.bucket, "Key": key}, ExpiresIn=expires
            )
            return {"method": "PUT", "url": url, "size": size, "expiresIn": expires}
        if f.upload_id is None:
            f = f.model_copy(update={"upload_id": self.s3.create_multipart_upload(
                Bucket=self.cfg.bucket, Key=key, ContentType=self._content_type(name)
            )["UploadId"]})  # fmt: skip
            self.store.put_file(p.org, p.sandbox, f)  # still 'uploading': no object exists yet
        count = math.ceil(size / part_size)
        parts = []
        for n in range(1, count + 1):
            url = self.s3.generate_presigned_url(
                "upload_part",
                Params={"Bucket": self.cfg.bucket, "Key": key, "UploadId": f.upload_id, "PartNumber": n},
                ExpiresIn=expires,
            )
            first = (n - 1) * part_size
            parts.append(
                {"partNumber": n, "url": url, "first": first, "last": min(first + part_size, size) - 1}
            )
        path = f"/data/foundation/import/batches/{b.id}/datasets/{b.dataset_id}/files/{name}?action=COMPLETE"
        return {
            "method": "PUT",
            "uploadId": f.upload_id,
            "size": size,
            "partSize": part_size,
            "expiresIn": expires,
            "parts": parts,
            "completeWith": f"POST {path}",
        }

    def _complete_multipart(
        self, p: Principal, b: Batch, f: BatchFile, body: FileActionBody | None
    ) -> BatchFile:
        if self._exists(f.key):
            return f  # completed before: a retry
        if body is None or body.upload_id is None or not body.parts:
            raise InvalidRequest(
                'COMPLETE of a presigned multipart upload needs {"uploadId", "parts": [{"partNumber", "etag"}]}',
                code="BG-400-PRESIGN",
            )
        if body.upload_id != f.upload_id:
            raise InvalidRequest(f"uploadId does not match file {f.name!r}'s upload", code="BG-400-PRESIGN")
        numbers = [pt.part_number for pt in body.parts]
        if len(set(numbers)) != len(numbers):
            raise InvalidRequest("parts lists a partNumber twice", code="BG-400-PRESIGN")
        stored = self._uploaded_parts(f)
        missing = sorted(set(numbers) - set(stored))
        if missing:
            raise InvalidRequest(f"parts {missing[:20]} were not uploaded", code="BG-400-PRESIGN")
        total = sum(stored[n] for n in numbers)
        if total != f.size:
            raise InvalidRequest(
                f"the listed parts hold {total} bytes but PRESIGN announced {f.size}", code="BG-400-PRESIGN"
            )
        self._recheck(p, b)
        parts = [
            {"PartNumber": pt.part_number, "ETag": pt.etag}
            for pt in sorted(body.parts, key=lambda x: x.part_number)
        ]
        try:
            self.s3.complete_multipart_upload(
                Bucket=self.cfg.bucket, Key=f.key, UploadId=f.upload_id, MultipartUpload={"Parts": parts}
            )
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code in ("InvalidPart", "InvalidPartOrder", "EntityTooSmall"):
                raise InvalidRequest(
                    f"S3 refused the parts ({code}): {exc.response['Error'].get('Message', '')}",
                    code="BG-400-PRESIGN",
                ) from exc
            raise
        return f

    def _uploaded_parts(self, f: BatchFile) -> dict[int, int]:
        sizes: dict[int, int] = {}
        for page in self.s3.get_paginator("list_parts").paginate(
            Bucket=self.cfg.bucket, Key=f.key, UploadId=f.upload_id
        ):
            for part in page.get("Parts", []):
                sizes[int(part["PartNumber"])] = int(part["Size"])
        return sizes
