"""``?action=PRESIGN`` (a batchgate extension): the client uploads straight to S3 with a presigned
PUT, or with S3 multipart and one presigned URL per part, then ``?action=COMPLETE`` with the
parts' ETags. For files above the API's request-body limit."""

from __future__ import annotations

import math
from typing import Any

from batchgate.api.bodies import FileActionBody
from batchgate.api.services.file_upload.chunks import S3_MAX_PARTS
from batchgate.api.services.file_upload.common import CHUNKED, MIB, UploadRules, content_type_for
from batchgate.core.errors import Conflict, InvalidRequest
from batchgate.core.models import Batch, BatchFile
from batchgate.core.principal import Principal

DEFAULT_PRESIGN_PART = 64 * MIB


def presign(
    rules: UploadRules, p: Principal, batch_id: str, dataset_id: str, name: str, body: FileActionBody | None
) -> dict[str, Any]:
    if body is None or body.size is None:
        raise InvalidRequest('PRESIGN needs a JSON body {"size": <bytes>}', code="BG-400-PRESIGN")
    size, expires = body.size, body.expires_in
    b = rules.open(p, batch_id, dataset_id, name)
    part_size = body.part_size or max(DEFAULT_PRESIGN_PART, math.ceil(size / S3_MAX_PARTS))
    if math.ceil(size / part_size) > S3_MAX_PARTS:
        raise InvalidRequest(
            f"partSize {part_size} makes more than {S3_MAX_PARTS} parts", code="BG-400-PRESIGN"
        )
    key = rules.key(b, name)
    multipart = size > part_size
    f = BatchFile(batch_id=b.id, name=name, key=key, status="uploading", size=size)
    try:
        rules.store.put_file(p.org, p.sandbox, f, only_if_new=True)
    except Conflict:
        # Asking again for the same file (expired URLs, a restarted client) re-issues URLs for
        # the same upload as long as nothing has landed yet.
        existing = rules.file(p, b, name)
        same = (
            existing.size == size and existing.upload_id != CHUNKED and bool(existing.upload_id) == multipart
        )
        if not same or existing.status != "uploading" or rules.objects.exists(key):
            raise Conflict(
                f"a file named {name!r} is already in batch {b.id}", code="BG-409-FILE-EXISTS"
            ) from None
        f = existing
    rules.recheck(p, b)
    if not multipart:
        url = rules.objects.presign_put(key, expires)
        return {"method": "PUT", "url": url, "size": size, "expiresIn": expires}
    if f.upload_id is None:
        f = f.model_copy(
            update={"upload_id": rules.objects.start_multipart(key, content_type=content_type_for(name))}
        )
        rules.store.put_file(p.org, p.sandbox, f)  # still 'uploading': no object exists yet
    assert f.upload_id is not None
    count = math.ceil(size / part_size)
    parts = []
    for n in range(1, count + 1):
        url = rules.objects.presign_part(key, f.upload_id, n, expires)
        first = (n - 1) * part_size
        parts.append({"partNumber": n, "url": url, "first": first, "last": min(first + part_size, size) - 1})
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


def complete(
    rules: UploadRules, p: Principal, b: Batch, f: BatchFile, body: FileActionBody | None
) -> BatchFile:
    """``?action=COMPLETE`` of a presigned multipart upload, with the parts' ETags."""
    if rules.objects.exists(f.key):
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
    assert f.upload_id is not None
    stored = rules.objects.uploaded_parts(f.key, f.upload_id)
    missing = sorted(set(numbers) - set(stored))
    if missing:
        raise InvalidRequest(f"parts {missing[:20]} were not uploaded", code="BG-400-PRESIGN")
    total = sum(stored[n] for n in numbers)
    if total != f.size:
        raise InvalidRequest(
            f"the listed parts hold {total} bytes but PRESIGN announced {f.size}", code="BG-400-PRESIGN"
        )
    rules.recheck(p, b)
    parts = [(pt.part_number, pt.etag) for pt in sorted(body.parts, key=lambda x: x.part_number)]
    rules.objects.complete_multipart(f.key, f.upload_id, parts)
    return f
