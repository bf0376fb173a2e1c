"""Bundles through the API: start an export or an import, presign an upload of a large bundle,
read and list exports and imports (docs/bundles.md)."""

from __future__ import annotations

from typing import Any

from batchgate.api.bodies import BundleExportBody, BundleImportBody
from batchgate.aws.bundle_store import BundleStore
from batchgate.aws.objects import Objects
from batchgate.bundles.records import BundleRecord, ExportRequest, ObjectRef
from batchgate.bundles.start import start
from batchgate.core import keys
from batchgate.core.errors import InvalidRequest, NotFound
from batchgate.core.ids import new_id, now_ms
from batchgate.core.principal import Principal
from batchgate.settings import Settings

# A presigned download or upload is good for an hour: long enough for a few GB on a slow link.
URL_SECONDS = 3600


class BundleAdmin:
    def __init__(self, store: BundleStore, cfg: Settings) -> None:
        self.store = store
        self.cfg = cfg
        self.objects = Objects(cfg.bucket)

    def export(self, p: Principal, body: BundleExportBody) -> BundleRecord:
        if len(set(body.dataset_ids)) != len(body.dataset_ids):
            raise InvalidRequest("datasetIds names a dataset twice", code="BG-400-BUNDLE-DATASET")
        for dataset_id in body.dataset_ids:
            try:
                self.store.get_dataset(p.org, p.sandbox, dataset_id)
            except NotFound as exc:
                raise InvalidRequest(
                    f"dataset {dataset_id!r} not found in this sandbox", code="BG-400-BUNDLE-DATASET"
                ) from exc
        if body.as_of_batch is not None:
            try:
                owner = self.store.get_batch(p.org, p.sandbox, body.as_of_batch).dataset_id
            except NotFound as exc:
                raise InvalidRequest(
                    f"batch {body.as_of_batch!r} not found", code="BG-400-AS-OF-BATCH"
                ) from exc
            if owner not in body.dataset_ids:
                raise InvalidRequest(
                    f"batch {body.as_of_batch!r} belongs to dataset {owner}, which the export does not include",
                    code="BG-400-AS-OF-BATCH",
                )
        record = BundleRecord(
            id=new_id(), org=p.org, sandbox=p.sandbox, kind="export", created=now_ms(), created_user=p.user,
            export=ExportRequest(
                dataset_ids=body.dataset_ids, include_data=body.include_data, as_of_batch=body.as_of_batch
            ),
        )  # fmt: skip
        return start(self.store, self.cfg.bundle_export_state_machine_arn, record)

    def import_bytes(self, p: Principal, data: bytes) -> BundleRecord:
        """An import of a bundle sent as the request's body (small ones: API Gateway carries ~6 MB)."""
        if not data:
            raise InvalidRequest(
                "the body is empty: send the .bgbundle's bytes", code="BG-400-BUNDLE-CORRUPT"
            )
        record_id = new_id()
        key = keys.bundle_prefix(p.org, p.sandbox, record_id) + "bundle.bgbundle"
        self.objects.put_bytes(key, data, content_type="application/zip")
        return self._import(p, record_id, key)

    def import_upload(self, p: Principal, body: BundleImportBody) -> BundleRecord:
        """An import of a bundle put through a presigned upload (``?action=PRESIGN``)."""
        key = keys.bundle_upload_key(p.org, p.sandbox, body.upload_id)
        if not self.objects.exists(key):
            raise InvalidRequest(
                f"upload {body.upload_id!r} holds no bundle: PUT the file to the URL ?action=PRESIGN gave first",
                code="BG-400-BUNDLE-UPLOAD",
            )
        return self._import(p, new_id(), key)

    def _import(self, p: Principal, record_id: str, key: str) -> BundleRecord:
        record = BundleRecord(
            id=record_id, org=p.org, sandbox=p.sandbox, kind="import", created=now_ms(), created_user=p.user,
            bundle=ObjectRef(bucket=self.cfg.bucket, key=key),
        )  # fmt: skip
        return start(self.store, self.cfg.bundle_import_state_machine_arn, record)

    def presign(self, p: Principal) -> dict[str, Any]:
        """Where to PUT a large bundle (up to 5 GB, S3's single PUT), then IMPORT ``{"uploadId"}``."""
        upload_id = new_id()
        key = keys.bundle_upload_key(p.org, p.sandbox, upload_id)
        return {
            "uploadId": upload_id,
            "url": self.objects.presign_put(key, URL_SECONDS),
            "method": "PUT",
            "expiresAt": now_ms() + URL_SECONDS * 1000,
        }

    def get(self, p: Principal, record_id: str) -> BundleRecord:
        return self.store.get_record(p.org, p.sandbox, record_id)

    def find(self, p: Principal, kind: str | None) -> list[BundleRecord]:
        return [r for r in self.store.list_records(p.org, p.sandbox) if kind is None or r.kind == kind]

    def show(self, record: BundleRecord) -> dict[str, Any]:
        download = None
        if record.kind == "export" and record.status == "ready" and record.bundle is not None:
            download = self.objects.presign_get(record.bundle.key, URL_SECONDS)
        return record.show(download)
