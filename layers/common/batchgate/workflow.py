"""The tasks the state machines in ``statemachines/`` hand out, one function per task name.

Each task is given the execution's state (``input``) and returns what the ASL stores at its
``ResultPath``. A task raises a ``batchgate.core.errors`` exception to fail; the exception's class
name becomes the Step Functions error name, so ``Retry``/``Catch`` route on it. Every status
change is a conditional write on the status just read: ABORT racing a completion wins or loses
cleanly, and when it wins after the Iceberg commit, the commit is compensated (saga).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from batchgate import landing as lake
from batchgate.aws.clients import client
from batchgate.aws.store import Store
from batchgate.core import keys as layout
from batchgate.core.errors import BatchgateError, IllegalTransition, Transient
from batchgate.core.models import Batch, BatchStatus, Dataset, ErrorEntry
from batchgate.core.status import FINAL, decide, next_status
from batchgate.observability import logger
from batchgate.settings import Settings

MAX_PROMOTE_ATTEMPTS = 5
# An inbox object this old with no batch was never routed to a validator (see _sweep_inbox).
INBOX_GRACE_MS = 60_000
PENDING_FILE_STATES = frozenset({"uploading", "uploaded", "validating"})


def _now() -> int:
    return int(time.time() * 1000)


class Workflow:
    def __init__(self, settings: Settings, store: Store | None = None) -> None:
        self.settings = settings
        self.store = store or Store(settings.table_name)
        self.tasks: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
            "check_files": self.check_files,
            "promote": self.promote,
            "replay": self.promote,
            "upsert": self.promote,
            "mark_retrying": self.mark_retrying,
            "mark_stalled": self.mark_stalled,
            "mark_failed": self.mark_failed,
            "abort_cleanup": self.abort_cleanup,
            "revert": self.revert,
            "revert_failed": self.revert_failed,
            "sweep": self.sweep,
            "plan_parts": self._large().plan,
            "validate_part": self._large().validate_part,
            "merge_parts": self._large().merge,
            "split_failed": self._large().failed,
        }

    def _large(self) -> Any:
        from batchgate.largefiles import LargeFiles

        return LargeFiles(self.settings, self.store)

    def run(self, task: str, state: dict[str, Any]) -> dict[str, Any]:
        if task not in self.tasks:
            raise BatchgateError(f"unknown workflow task {task!r}", code="BG-500-UNKNOWN-TASK")
        return self.tasks[task](state)

    # -- helpers --------------------------------------------------------------------------
    def _load(self, state: dict[str, Any]) -> tuple[Batch, Dataset]:
        batch = self.store.get_batch(state["org"], state["sandbox"], state["batchId"])
        dataset = self.store.get_dataset(batch.org, batch.sandbox, batch.dataset_id)
        return batch, dataset

    def _move(self, batch: Batch, target: BatchStatus, **changes: Any) -> Batch:
        updated = batch.model_copy(update={"status": target, "updated": _now(), **changes})
        return self.store.save_batch(updated, expected_status=batch.status, expected_version=batch.version)

    def _mode(self, batch: Batch, dataset: Dataset) -> str:
        if batch.replay is not None:
            return "replay"
        if dataset.tags.is_upsert:
            return "upsert"
        return "append"

    # -- complete -------------------------------------------------------------------------
    def check_files(self, state: dict[str, Any]) -> dict[str, Any]:
        """Are all files validated? ``state``: ready | waiting | aborted | timeout."""
        batch, dataset = self._load(state)
        mode = self._mode(batch, dataset)
        if batch.status == "aborted":
            return {"state": "aborted", "mode": mode}
        files = self.store.list_files(batch.org, batch.sandbox, batch.id)
        pending = [f.name for f in files if f.status in PENDING_FILE_STATES]
        if not pending:
            return {"state": "ready", "mode": mode, "files": len(files)}
        cfg = state.get("cfg") or {}
        if int(cfg.get("polls", 0)) >= int(cfg.get("maxPolls", 0)):
            return {"state": "timeout", "mode": mode, "pending": pending[:20]}
        return {"state": "waiting", "mode": mode, "pending": pending[:20]}

    def promote(self, state: dict[str, Any]) -> dict[str, Any]:
        """Apply the batch rule and land the batch in one Iceberg commit (append/replay/upsert)."""
        batch, dataset = self._load(state)
        if batch.status in FINAL or batch.status == "stalled":
            return {"status": batch.status}  # a repeat after the outcome was recorded
        files = self.store.list_files(batch.org, batch.sandbox, batch.id)
        stuck = [f for f in files if f.status in PENDING_FILE_STATES]
        if stuck:
            names = ", ".join(f.name for f in stuck[:5])
            error = ErrorEntry(
                code="BG-FILE-INCOMPLETE",
                description=f"files never finished uploading or validating: {names}; upload them again in a new batch",
            )
            self._move(batch, "failed", errors=[error])
            self._notify(batch, "failed")
            return {"status": "failed"}
        target = next_status(batch.status, "STAGE")
        assert target is not None
        batch = self._move(batch, target)
        outcome = decide(
            files, batch.partial_ingestion_percentage, diagnostics=batch.enable_error_diagnostics
        )
        if not outcome.succeeded:
            batch = self._move(batch, "failed", metrics=outcome.metrics, errors=outcome.errors)
            self._notify(batch, "failed")
            return {"status": "failed"}
        staged = [
            f"s3://{self.settings.bucket}/{k}"
            for f in files
            if f.status == "validated"
            for k in f.staged_keys
        ]
        mode = self._mode(batch, dataset)
        if mode == "replay":
            assert batch.replay is not None
            commit = lake.replay(dataset, batch.id, staged, batch.replay.predecessors)
        elif mode == "upsert":
            # patch semantics are per file: each staged file carries its source file's columns
            present: dict[str, list[str] | None] = {
                f"s3://{self.settings.bucket}/{k}": f.present_columns
                for f in files
                if f.status == "validated"
                for k in f.staged_keys
            }
            commit = lake.upsert(dataset, batch.id, staged, dataset.tags.identity, present)
        else:
            commit = lake.promote(dataset, batch.id, staged)
        try:
            batch = self._move(
                batch,
                "success",
                metrics=outcome.metrics,
                # transient errors from earlier attempts stay visible: "succeeded after a retry"
                errors=[*batch.errors, *outcome.errors],
                snapshot_id=commit.snapshot_id,
                previous_snapshot_id=commit.previous_snapshot_id,
            )
        except IllegalTransition:
            # ABORT won while the commit ran: undo exactly what this batch committed.
            logger.warning("aborted during promotion; compensating", extra={"batch_id": batch.id})
            lake.revert(
                dataset, batch.id, prior_snapshot=commit.previous_snapshot_id if mode != "append" else None
            )
            return {"status": "aborted"}
        if mode == "replay":
            assert batch.replay is not None
            self._replace_predecessors(batch)
        self._notify(batch, "success")
        return {"status": "success", "snapshotId": str(commit.snapshot_id), "rows": commit.rows_added}

    def _replace_predecessors(self, batch: Batch) -> None:
        assert batch.replay is not None
        for pid in batch.replay.predecessors:
            pred = self.store.get_batch(batch.org, batch.sandbox, pid)
            if pred.status == "success":
                try:
                    self._move(pred, "inactive", successor=batch.id)
                except IllegalTransition:
                    logger.warning("predecessor changed concurrently", extra={"batch_id": pid})

    def mark_retrying(self, state: dict[str, Any]) -> dict[str, Any]:
        batch, _ = self._load(state)
        if batch.status == "aborted":
            return {"state": "aborted"}
        attempts = int((state.get("retry") or {}).get("attempts", 0)) + 1
        errors = self._with_cause(batch, state.get("error"), "BG-503-TRANSIENT")
        if attempts >= MAX_PROMOTE_ATTEMPTS:
            self._move(batch, "stalled", errors=errors)
            self._notify(batch, "stalled")
            return {"state": "stalled", "attempts": attempts}
        if batch.status == "staging":
            self._move(batch, "retrying", errors=errors)
        elif batch.status == "loaded":
            pass  # the failure came before staging; the next attempt stages it
        return {"state": "retrying", "attempts": attempts}

    def mark_stalled(self, state: dict[str, Any]) -> dict[str, Any]:
        batch, _ = self._load(state)
        pending = (state.get("files") or {}).get("pending") or []
        error = ErrorEntry(
            code="BG-BATCH-STALLED",
            description=f"files still not validated after the polling limit: {', '.join(pending) or 'unknown'}",
        )
        if batch.status in ("loaded", "staging", "retrying"):
            self._move(batch, "stalled", errors=[*batch.errors, error])
            self._notify(batch, "stalled")
        return {"status": "stalled"}

    def mark_failed(self, state: dict[str, Any]) -> dict[str, Any]:
        batch, _ = self._load(state)
        if batch.status in ("loaded", "staging", "retrying", "stalled"):
            batch = self._move(
                batch, "failed", errors=self._with_cause(batch, state.get("error"), "BG-500-WORKFLOW")
            )
            self._notify(batch, "failed")
        return {"status": batch.status}

    # -- abort ----------------------------------------------------------------------------
    def abort_cleanup(self, state: dict[str, Any]) -> dict[str, Any]:
        """Remove what an aborted batch left: staged rows, failed-records files, AEP chunks and
        unfinished presigned multipart uploads. Uploaded files stay (they are the user's input)."""
        from batchgate.uploads import chunk_prefix

        batch, _ = self._load(state)
        if batch.status != "aborted":
            raise IllegalTransition(f"batch {batch.id} is '{batch.status}', not aborted; nothing cleaned")
        staged = layout.staged_prefix(batch.org, batch.sandbox, batch.dataset_id, batch.id)
        candidates = [f"s3://{self.settings.bucket}/{k}" for k in self._keys(staged)]
        if candidates:
            # Normally nothing of an aborted batch is in the table; if ABORT won during its commit
            # (compensated by a revert), an older snapshot still reads these files: the lake
            # deletes only what no snapshot needs.
            dataset = self.store.get_dataset(batch.org, batch.sandbox, batch.dataset_id)
            lake.collect_garbage(dataset, older_than_ms=0, candidates=candidates)
        deleted = len(candidates) - len(self._keys(staged))
        deleted += self._delete_prefix(
            layout.failed_prefix(batch.org, batch.sandbox, batch.dataset_id, batch.id)
        )
        aborted_uploads = 0
        s3 = client("s3")
        for f in self.store.list_files(batch.org, batch.sandbox, batch.id):
            deleted += self._delete_prefix(chunk_prefix(batch.org, batch.sandbox, batch.id, f.name))
            if f.upload_id and f.status == "uploading":
                try:
                    s3.abort_multipart_upload(Bucket=self.settings.bucket, Key=f.key, UploadId=f.upload_id)
                    aborted_uploads += 1
                except s3.exceptions.NoSuchUpload:
                    pass
        return {"deleted": deleted, "abortedUploads": aborted_uploads}

    def _keys(self, prefix: str) -> list[str]:
        pages = (
            client("s3").get_paginator("list_objects_v2").paginate(Bucket=self.settings.bucket, Prefix=prefix)
        )
        # not the empty "dir/" markers pyarrow's S3 filesystem leaves behind
        return [o["Key"] for page in pages for o in page.get("Contents", []) if not o["Key"].endswith("/")]

    def _delete_prefix(self, prefix: str) -> int:
        s3 = client("s3")
        deleted = 0
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=self.settings.bucket, Prefix=prefix):
            keys = [{"Key": o["Key"]} for o in page.get("Contents", [])]
            if keys:
                s3.delete_objects(Bucket=self.settings.bucket, Delete={"Objects": keys, "Quiet": True})
                deleted += len(keys)
        return deleted

    # -- revert ---------------------------------------------------------------------------
    def revert(self, state: dict[str, Any]) -> dict[str, Any]:
        batch, dataset = self._load(state)
        if batch.status in ("inactive", "deleted"):
            return {"status": batch.status}
        target = next_status(batch.status, "REVERT")
        assert target is not None
        prior = batch.previous_snapshot_id if dataset.tags.is_upsert else None
        commit = lake.revert(dataset, batch.id, prior_snapshot=prior)
        batch = self._move(batch, target)
        self._notify(batch, "reverted", snapshotId=commit.snapshot_id)
        return {"status": target, "snapshotId": str(commit.snapshot_id)}

    def revert_failed(self, state: dict[str, Any]) -> dict[str, Any]:
        batch, _ = self._load(state)
        if batch.status == "success":
            # Clearing the execution lets a new REVERT start a fresh run (see lifecycle).
            errors = self._with_cause(batch, state.get("error"), "BG-500-REVERT")
            self._move(batch, "success", errors=errors, execution_arn=None)
        return {"status": batch.status}

    def note_failure(self, state: dict[str, Any], exc: BaseException) -> None:
        """Record a failed task's error on its batch, where users look for it. The worker does
        this itself rather than relying on the Cause reaching the ASL's Catch: that hop loses it
        on some engines (moto's SendTaskFailure drops ``cause``)."""
        if "batchId" not in state or "org" not in state:
            return
        code = exc.code if isinstance(exc, BatchgateError) else "BG-500-INTERNAL"
        message = exc.message if isinstance(exc, BatchgateError) else f"{type(exc).__name__}: {exc}"
        entry = ErrorEntry(code=code, description=message[:1000])
        for _ in range(3):
            batch = self.store.get_batch(state["org"], state["sandbox"], state["batchId"])
            if batch.status in FINAL:
                return
            try:
                self.store.save_batch(
                    batch.model_copy(update={"errors": [*batch.errors, entry], "updated": _now()}),
                    expected_status=batch.status,
                    expected_version=batch.version,
                )
                return
            except IllegalTransition:
                continue

    def _with_cause(self, batch: Batch, error: Any, default_code: str) -> list[ErrorEntry]:
        """The batch's errors plus one for ``error`` unless the worker already recorded it."""
        entry = _error_entry(error, default_code)
        if entry is None:
            return batch.errors or [ErrorEntry(code=default_code, description="a workflow step failed")]
        if any(e.code == entry.code and e.description == entry.description for e in batch.errors):
            return batch.errors
        return [*batch.errors, entry]

    # -- garbage collection ---------------------------------------------------------------
    def sweep(self, state: dict[str, Any]) -> dict[str, Any]:
        now = _now()
        abandoned = 0
        for b in self.store.batches_in_status(
            "loading", updated_before=now - self.settings.loading_ttl_seconds * 1000
        ):
            try:
                self._move(b, "abandoned")
                abandoned += 1
            except IllegalTransition:
                continue
        retention_ms = int(state.get("retentionSeconds", 7 * 24 * 3600)) * 1000
        deleted = 0
        expired = 0
        for b in self.store.batches_in_status("inactive", updated_before=now - retention_ms):
            dataset = self.store.get_dataset(b.org, b.sandbox, b.dataset_id)
            staged = layout.staged_prefix(b.org, b.sandbox, b.dataset_id, b.id)
            candidates = [f"s3://{self.settings.bucket}/{k}" for k in self._keys(staged)]
            result = lake.collect_garbage(dataset, older_than_ms=now - retention_ms, candidates=candidates)
            expired += result.expired_snapshots
            if self._keys(staged):
                continue  # a live snapshot still reads some of its files: a later sweep tries again
            self._delete_prefix(staged)  # what is left are directory markers
            self._delete_prefix(layout.failed_prefix(b.org, b.sandbox, b.dataset_id, b.id))
            self._delete_prefix(f"uploads/{b.input_format.format}/{b.org}/{b.sandbox}/{b.dataset_id}/{b.id}/")
            try:
                self._move(b, "deleted")
                deleted += 1
            except IllegalTransition:
                continue
        unrouted = self._sweep_inbox(now - INBOX_GRACE_MS)
        return {
            "abandoned": abandoned,
            "deleted": deleted,
            "expiredSnapshots": expired,
            "inboxRecorded": unrouted,
        }

    def _sweep_inbox(self, older_than_ms: int) -> int:
        """S3 filters cannot say "any other suffix", so a drop no validator took is found here and
        recorded as a failed batch (BG-INBOX-SUFFIX) instead of lying in the bucket unnoticed."""
        from batchgate.ingest import Ingestor, inbox_without_batch

        ingestor = Ingestor(self.settings, self.store)
        recorded = 0
        for ev in inbox_without_batch(self.store, self.settings.bucket, older_than_ms):
            ingestor.handle(ev, "sweep")
            recorded += 1
        return recorded

    # -- notifications --------------------------------------------------------------------
    def _notify(self, batch: Batch, outcome: str, **extra: Any) -> None:
        """An EventBridge event per outcome, like AEP's ingestion notifications."""
        if not self.settings.event_bus_name:
            return
        detail = {"outcome": outcome, "batch": batch.to_aep(), **{k: str(v) for k, v in extra.items()}}
        try:
            client("events").put_events(
                Entries=[
                    {
                        "Source": "batchgate",
                        "DetailType": f"Batch {outcome}",
                        "Detail": json.dumps(detail),
                        "EventBusName": self.settings.event_bus_name,
                        "Resources": [f"batch/{batch.id}", f"dataset/{batch.dataset_id}"],
                    }
                ]
            )
        except Exception as exc:  # a lost notification must not undo a landed batch
            logger.warning("notification not sent", extra={"batch_id": batch.id, "error": str(exc)})


def _error_entry(error: Any, default_code: str) -> ErrorEntry | None:
    """Step Functions' ``{"Error", "Cause"}`` as a batch error; None when it carries no cause."""
    if not isinstance(error, dict) or not error.get("Cause"):
        return None
    cause = str(error["Cause"])
    try:
        parsed = json.loads(cause)
    except ValueError:
        parsed = None
    if isinstance(parsed, dict):
        return ErrorEntry(
            code=str(parsed.get("code") or default_code),
            description=str(parsed.get("message") or parsed.get("errorMessage") or cause)[:1000],
        )
    return ErrorEntry(code=default_code, description=f"{error.get('Error', 'Error')}: {cause}"[:1000])


def task_failure(exc: BaseException) -> tuple[str, str]:
    """(error name, cause) for SendTaskFailure. Every transient error is reported as "Transient",
    the name the ASL retries on; terminal ones keep their class name; the cause carries the code."""
    if isinstance(exc, BatchgateError):
        name = "Transient" if isinstance(exc, Transient) else type(exc).__name__
        return name, json.dumps({"code": exc.code, "message": exc.message})
    return type(exc).__name__, json.dumps({"code": "BG-500-INTERNAL", "message": str(exc)[:1000]})
