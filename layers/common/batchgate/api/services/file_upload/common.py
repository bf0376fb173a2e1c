"""What every kind of upload checks first: the name, the batch (still ``loading``), the body's
media type and size."""

from __future__ import annotations

from batchgate.aws.objects import Objects
from batchgate.aws.store import Store
from batchgate.core.errors import BatchgateError, Conflict, NotFound, PayloadTooLarge
from batchgate.core.file_names import check_file_name
from batchgate.core.keys import upload_key
from batchgate.core.models import Batch, BatchFile
from batchgate.core.principal import Principal
from batchgate.core.status import ACCEPTS_UPLOADS
from batchgate.settings import Settings

MIB = 1024 * 1024
OCTET_STREAM = "application/octet-stream"
CHUNKED = "chunked"  # BatchFile.upload_id of an AEP chunked upload (S3 upload ids never equal it)


class UnsupportedMediaType(BatchgateError):
    code = "BG-415-CONTENT-TYPE"
    status = 415


def check_media_type(content_type: str | None) -> None:
    # API Gateway carries binary bodies intact only for binary media types; refusing other
    # types catches `curl --data` (form-encoded, mangles bytes) before it corrupts a file.
    if (content_type or "").split(";")[0].strip().lower() != OCTET_STREAM:
        raise UnsupportedMediaType(
            f"file bodies must be sent as 'Content-Type: {OCTET_STREAM}' (got {content_type or 'none'!r}); "
            "with curl use --data-binary @file -H 'Content-Type: application/octet-stream'"
        )


def content_type_for(name: str) -> str:
    # No Content-Encoding: gzip on purpose: HTTP clients would inflate it on download, while the
    # validators read the '.gz' name and inflate it themselves.
    return "application/gzip" if name.lower().endswith(".gz") else OCTET_STREAM


class UploadRules:
    """The checks and lookups every upload kind shares."""

    def __init__(self, store: Store, cfg: Settings) -> None:
        self.store = store
        self.cfg = cfg
        self.objects = Objects(cfg.bucket)

    def open(self, p: Principal, batch_id: str, dataset_id: str, name: str) -> Batch:
        check_file_name(name)
        b = self.store.get_batch(p.org, p.sandbox, batch_id)
        if b.dataset_id != dataset_id:
            raise NotFound(f"batch {batch_id} has no dataset {dataset_id!r}", code="BG-404-DATASET")
        self.check_loading(b)
        return b

    @staticmethod
    def check_loading(b: Batch) -> None:
        if b.status not in ACCEPTS_UPLOADS:
            raise Conflict(
                f"batch {b.id} is '{b.status}' and takes no more files; uploads are accepted while "
                "it is 'loading' (create a new batch)",
                code="BG-409-BATCH-NOT-LOADING",
            )

    def recheck(self, p: Principal, b: Batch) -> None:
        """After the file item is written: a COMPLETE that slipped in between must win."""
        self.check_loading(self.store.get_batch(p.org, p.sandbox, b.id))

    @staticmethod
    def key(b: Batch, name: str) -> str:
        return upload_key(b.input_format.format, b.org, b.sandbox, b.dataset_id, b.id, name)

    def file(self, p: Principal, b: Batch, name: str) -> BatchFile:
        f = self.store.get_file(p.org, p.sandbox, b.id, name)
        if f is None:
            raise NotFound(f"file {name!r} not found in batch {b.id}", code="BG-404-FILE")
        return f

    def check_size(self, size: int, what: str) -> None:
        limit = self.cfg.single_put_max_bytes
        if size > limit:
            raise PayloadTooLarge(
                f"{what} of {size} bytes is above the API's {limit}-byte limit for request bodies; "
                "upload large files with presigned URLs: POST …/files/{name}?action=PRESIGN "
                '{"size": N} (see docs/api.md), or in chunks of at most this size via PATCH',
            )
