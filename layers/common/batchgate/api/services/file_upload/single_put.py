"""``PUT …/files/{name}``: a whole file in one request body."""

from __future__ import annotations

import base64
import hashlib

from batchgate.api.services.file_upload.common import UploadRules, content_type_for
from batchgate.core.errors import Conflict
from batchgate.core.file_names import check_file_name
from batchgate.core.models import BatchFile
from batchgate.core.principal import Principal


def put(
    rules: UploadRules, p: Principal, batch_id: str, dataset_id: str, name: str, body: bytes
) -> BatchFile:
    check_file_name(name)
    rules.check_size(len(body), "the body")
    b = rules.open(p, batch_id, dataset_id, name)
    key = rules.key(b, name)
    md5 = hashlib.md5(body, usedforsecurity=False)
    f = BatchFile(batch_id=b.id, name=name, key=key, status="uploading", size=len(body), etag=md5.hexdigest())
    try:
        rules.store.put_file(p.org, p.sandbox, f, only_if_new=True)
    except Conflict:
        existing = rules.file(p, b, name)
        if existing.etag != f.etag or existing.size != f.size:
            raise Conflict(
                f"a different file named {name!r} is already in batch {b.id}; file names are "
                "unique within a batch",
                code="BG-409-FILE-EXISTS",
            ) from None
        # A retry of the same bytes. Re-put only if the first attempt never reached S3 (the
        # item is untouched by validators); once the object existed it belongs to them.
        if existing.status != "uploading" or rules.objects.exists(key):
            return existing
        f = existing
    rules.recheck(p, b)
    rules.objects.put_bytes(
        key, body, content_md5=base64.b64encode(md5.digest()).decode(), content_type=content_type_for(name)
    )
    return f
