"""Validating one uploaded file: in this function, or in parts by the validate-large state machine.

Staged output names are deterministic per file, so a retry after a crash overwrites instead of
duplicating; the result is recorded by :func:`batchgate.ingest.results.record_result`.
"""

from __future__ import annotations

import hashlib

from batchgate.aws.executions import Executions
from batchgate.aws.s3fs import s3_filesystem
from batchgate.aws.store import Store
from batchgate.core import keys
from batchgate.core.file_names import format_for_name
from batchgate.core.models import Batch, BatchFile, Dataset
from batchgate.core.upsert_rules import required_at_commit
from batchgate.ingest.messages import ObjectEvent
from batchgate.ingest.results import record_result
from batchgate.observability import tracer
from batchgate.settings import Settings
from batchgate.validation import validate_file


class FileValidator:
    def __init__(self, settings: Settings, store: Store, executions: Executions) -> None:
        self.settings = settings
        self.store = store
        self.executions = executions

    @tracer.capture_method
    def validate(self, ev: ObjectEvent, batch: Batch, dataset: Dataset, name: str) -> str:
        """Validate the object ``ev`` names as file ``name`` of ``batch``; what happened."""
        existing = self.store.get_file(batch.org, batch.sandbox, batch.id, name)
        if existing is not None and existing.sequencer is not None and existing.sequencer >= ev.sequencer:
            return "duplicate"
        if ev.size > self.settings.split_bytes and self.settings.validate_large_state_machine_arn:
            return self._validate_in_parts(ev, batch, name)
        _, compression = format_for_name(name)
        result = validate_file(
            fs=s3_filesystem(),
            source_path=keys.fs_path(ev.bucket, ev.source_key),
            dataset=dataset,
            input_format=batch.input_format,
            batch_id=batch.id,
            file_name=name,
            staged_dir=keys.fs_path(ev.bucket, keys.batch_staged_prefix(batch)),
            failed_dir=keys.fs_path(ev.bucket, keys.batch_failed_prefix(batch)),
            compression=compression,
            required_at_commit=required_at_commit(dataset, batch),
        )
        return record_result(self.store, ev, batch, name, result)

    def _validate_in_parts(self, ev: ObjectEvent, batch: Batch, name: str) -> str:
        """Hand a large file to the validate-large state machine (split, parallel parts, merge).
        The file item says ``validating`` meanwhile, so a completing batch waits for it."""
        arn = self.settings.validate_large_state_machine_arn
        assert arn is not None
        pending = BatchFile(
            batch_id=batch.id, name=name, key=ev.source_key, status="validating", size=ev.size, etag=ev.etag
        )
        self.store.mark_file_validating(batch.org, batch.sandbox, pending, ev.sequencer)
        digest = hashlib.sha256(f"{batch.id}\0{name}\0{ev.sequencer}".encode()).hexdigest()[:40]
        file = {
            "org": batch.org, "sandbox": batch.sandbox, "batchId": batch.id, "name": name,
            "bucket": ev.bucket, "key": ev.source_key, "size": ev.size, "etag": ev.etag,
            "versionId": ev.version_id, "sequencer": ev.sequencer, "receivedAt": ev.received_at,
        }  # fmt: skip
        _, started = self.executions.start(arn, f"split-{digest}", {"file": file})
        return "validating-in-parts" if started else "duplicate"
