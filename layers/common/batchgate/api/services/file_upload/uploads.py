"""The upload operations the routes call, each handed to the module of its kind."""

from __future__ import annotations

from typing import Any

from batchgate.api.bodies import FileActionBody
from batchgate.api.services.file_upload import chunks, presigned, single_put
from batchgate.api.services.file_upload.common import CHUNKED, UploadRules, check_media_type
from batchgate.aws.store import Store
from batchgate.core.errors import Conflict
from batchgate.core.models import BatchFile
from batchgate.core.principal import Principal
from batchgate.settings import Settings


class FileUploads:
    def __init__(self, store: Store, cfg: Settings) -> None:
        self.rules = UploadRules(store, cfg)

    check_media_type = staticmethod(check_media_type)

    def put(self, p: Principal, batch_id: str, dataset_id: str, name: str, body: bytes) -> BatchFile:
        return single_put.put(self.rules, p, batch_id, dataset_id, name, body)

    def initialize(self, p: Principal, batch_id: str, dataset_id: str, name: str) -> BatchFile:
        return chunks.initialize(self.rules, p, batch_id, dataset_id, name)

    def patch(
        self, p: Principal, batch_id: str, dataset_id: str, name: str, content_range: str | None, body: bytes
    ) -> chunks.Chunk:
        return chunks.patch(self.rules, p, batch_id, dataset_id, name, content_range, body)

    def presign(
        self, p: Principal, batch_id: str, dataset_id: str, name: str, body: FileActionBody | None
    ) -> dict[str, Any]:
        return presigned.presign(self.rules, p, batch_id, dataset_id, name, body)

    def complete(
        self, p: Principal, batch_id: str, dataset_id: str, name: str, body: FileActionBody | None
    ) -> BatchFile:
        """``?action=COMPLETE`` of a chunked file or of a presigned multipart upload."""
        b = self.rules.open(p, batch_id, dataset_id, name)
        f = self.rules.file(p, b, name)
        if f.upload_id == CHUNKED:
            return chunks.complete(self.rules, p, b, f)
        if f.upload_id:
            return presigned.complete(self.rules, p, b, f, body)
        if self.rules.objects.exists(f.key):
            return f  # a single PUT (presigned or not) needs no COMPLETE; accept it anyway
        raise Conflict(
            f"file {name!r} has no data yet: PUT it to the presigned URL first", code="BG-409-FILE-INCOMPLETE"
        )
