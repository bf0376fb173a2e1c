"""Recording what validation found about one file, exactly once per object version.

The result is written conditionally on S3's ``sequencer``: an older version can never overwrite
the result of a newer one, and a duplicate of the same version finds it done. Nothing of a file
is visible to its batch until the file item says ``validated`` (or ``failed``).
"""

from __future__ import annotations

from batchgate.aws.executions import Executions
from batchgate.aws.objects import Objects
from batchgate.aws.store import Store
from batchgate.core.ids import now_ms
from batchgate.core.models import Batch, BatchFile
from batchgate.core.status import PENDING_FILES
from batchgate.ingest.messages import ObjectEvent
from batchgate.observability import logger
from batchgate.validation import FileResult


def record_result(store: Store, ev: ObjectEvent, batch: Batch, name: str, result: FileResult) -> str:
    """Write a file's validation result, unless a newer version of the object got there first;
    returns the file's status, ``duplicate`` or ``batch-closed``."""
    bucket_prefix = f"{ev.bucket}/"
    failed_paths = result.failed_paths or ([result.failed_path] if result.failed_path else [])
    f = BatchFile(
        batch_id=batch.id,
        name=name,
        key=ev.source_key,
        status="failed" if result.file_error is not None else "validated",
        size=ev.size,
        etag=ev.etag,
        version_id=ev.version_id,
        sequencer=ev.sequencer,
        input_record_count=result.input_record_count,
        output_record_count=result.output_record_count,
        failed_record_count=result.failed_record_count,
        staged_keys=[p.removeprefix(bucket_prefix) for p in result.staged_paths],
        failed_key=failed_paths[0].removeprefix(bucket_prefix) if failed_paths else None,
        failed_keys=[p.removeprefix(bucket_prefix) for p in failed_paths],
        errors=result.errors,
        file_error=result.file_error,
        present_columns=result.present_columns,
        extra_columns=result.extra_columns,
        added_columns=result.added_columns,
        validated_at=now_ms(),
        duration_ms=result.duration_ms,
        received_at=ev.received_at,
    )
    if not store.record_file_result(batch.org, batch.sandbox, f):
        return "duplicate"
    if store.get_batch(batch.org, batch.sandbox, batch.id).status == "aborted":
        # ABORT landed while this file was validated, maybe after the abort machine cleaned up:
        # the status was written first, so whichever runs last sees and removes these.
        Objects(ev.bucket).delete_keys(
            [p.removeprefix(bucket_prefix) for p in [*result.staged_paths, *failed_paths]]
        )
        return "batch-closed"
    wake_completion(store, batch)
    logger.info(
        "file validated",
        extra={
            "batch_id": batch.id,
            "file": name,
            "input": f.input_record_count,
            "output": f.output_record_count,
            "failed": f.failed_record_count,
            "file_error": f.file_error.code if f.file_error else None,
        },
    )
    return f.status


def wake_completion(store: Store, batch: Batch) -> None:
    """Answer the completion waiting for this batch's files (``await_files``) once none is
    pending: its commit starts now instead of at its next poll. Read after this file's result was
    written (see ``await_files`` for why nothing is missed); the one that takes the parked token
    answers it, and a token whose state already timed out is dropped by ``task_succeeded``."""
    token = store.waiter(batch.org, batch.sandbox, batch.id)
    if token is None:
        return
    if any(f.status in PENDING_FILES for f in store.list_files(batch.org, batch.sandbox, batch.id)):
        return
    if store.take_waiter(batch.org, batch.sandbox, batch.id, token):
        Executions().task_succeeded(token, {"woken": "by the last file"})
