"""From an S3 object-create event to a validated file: the validators' business logic.

S3 delivers events at least once and in no guaranteed order, and a re-upload replaces an object.
Exactly-once comes from three guards:
- an event whose ETag is no longer the object's current ETag is stale: a newer event will come;
- the result is written with a condition on S3's ``sequencer``: an older version can never
  overwrite the result of a newer one, and a duplicate of the same version finds it done;
- staged output names are deterministic per file, so a retry after a crash overwrites instead
  of duplicating, and nothing is visible to the batch until the file item says ``validated``.
"""

from __future__ import annotations

import contextlib
import hashlib
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote_plus

from batchgate.aws import objects
from batchgate.aws.clients import client
from batchgate.aws.s3fs import s3_filesystem
from batchgate.aws.store import Store
from batchgate.core import keys as layout
from batchgate.core.errors import Conflict, IllegalTransition, InvalidRequest, NotFound
from batchgate.core.models import Batch, BatchFile, Dataset, ErrorEntry, Format, InputFormat
from batchgate.core.status import next_status
from batchgate.observability import logger
from batchgate.settings import Settings
from batchgate.validation import FileResult, validate_file


@dataclass(frozen=True)
class ObjectEvent:
    bucket: str
    key: str
    size: int
    etag: str
    version_id: str | None
    sequencer: str

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> ObjectEvent:
        obj = record["s3"]["object"]
        return cls(
            bucket=record["s3"]["bucket"]["name"],
            key=unquote_plus(obj["key"]),
            size=int(obj.get("size", 0)),
            etag=str(obj.get("eTag", "")).strip('"'),
            version_id=obj.get("versionId") or None,
            # Sequencers are hex of varying length; compare left-padded (AWS's own advice).
            sequencer=str(obj.get("sequencer", "")).rjust(32, "0"),
        )


def s3_records(body: dict[str, Any]) -> list[dict[str, Any]]:
    """The object-created records of one S3 notification (the first message is a TestEvent)."""
    if body.get("Event") == "s3:TestEvent":
        return []
    return [r for r in body.get("Records", []) if str(r.get("eventName", "")).startswith("ObjectCreated")]


def staged_dir(bucket: str, batch: Batch) -> str:
    return f"{bucket}/{layout.staged_prefix(batch.org, batch.sandbox, batch.dataset_id, batch.id)}"


def failed_dir(bucket: str, batch: Batch) -> str:
    return f"{bucket}/{layout.failed_prefix(batch.org, batch.sandbox, batch.dataset_id, batch.id)}"


def inbox_without_batch(store: Store, bucket: str, older_than_ms: int) -> Iterator[ObjectEvent]:
    """Inbox objects older than ``older_than_ms`` that have no batch: drops whose suffix no
    notification rule routes, or whose event was lost. Keys outside the inbox layout cannot be
    attributed to a tenant: they are logged, not attached to anything."""
    pages = client("s3").get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix="inbox/")
    for obj in (o for page in pages for o in page.get("Contents", [])):
        modified = obj["LastModified"].timestamp()
        if modified * 1000 > older_than_ms:
            continue
        key, etag = obj["Key"], obj["ETag"].strip('"')
        try:
            ref = layout.parse_object_key(key)
        except InvalidRequest:
            logger.warning("inbox object outside inbox/{org}/{sandbox}/{dataset}/", extra={"key": key})
            continue
        try:
            store.get_batch(ref.org, ref.sandbox, inbox_batch_id(key, etag))
        except NotFound:
            # LastModified in microseconds stands in for the sequencer of the lost event
            yield ObjectEvent(
                bucket, key, obj["Size"], etag, None, format(int(modified * 1e6), "X").rjust(32, "0")
            )


def inbox_batch_id(key: str, etag: str) -> str:
    """A bucket drop's batch id, derived from the object version so a duplicate event finds it."""
    return "inbox-" + hashlib.sha256(f"{key}\0{etag}".encode()).hexdigest()[:24]


class Ingestor:
    def __init__(self, settings: Settings, store: Store | None = None) -> None:
        self.settings = settings
        self.store = store or Store(settings.table_name)

    def handle(self, ev: ObjectEvent, expected_format: str) -> str:
        """Validate one object; returns what happened (for logs and tests)."""
        try:
            ref = layout.parse_object_key(ev.key)
        except InvalidRequest:
            logger.warning("object outside uploads/ and inbox/ ignored", extra={"key": ev.key})
            return "ignored"
        current = objects.current_etag(ev.bucket, ev.key)
        if current is None:
            return "gone"
        if current != ev.etag:
            logger.info("stale event: a newer version exists", extra={"key": ev.key})
            return "stale"
        if ref.kind == "inbox":
            return self._inbox(ev, ref)
        if ref.fmt != expected_format:
            logger.error(
                "event routed to the wrong validator", extra={"key": ev.key, "format": expected_format}
            )
            return "misrouted"
        assert ref.batch_id is not None
        try:
            batch = self.store.get_batch(ref.org, ref.sandbox, ref.batch_id)
            dataset = self.store.get_dataset(ref.org, ref.sandbox, ref.dataset_id)
        except NotFound:
            logger.warning("upload for an unknown batch or dataset", extra={"key": ev.key})
            return "orphan"
        if batch.status not in ("loading", "loaded", "staging", "retrying"):
            logger.info("batch no longer accepts files", extra={"batch_id": batch.id, "status": batch.status})
            return "batch-closed"
        return self._validate(ev, batch, dataset, ref.name)

    # -- validation of one file ---------------------------------------------------------
    def _validate(self, ev: ObjectEvent, batch: Batch, dataset: Dataset, name: str) -> str:
        existing = self.store.get_file(batch.org, batch.sandbox, batch.id, name)
        if existing is not None and existing.sequencer is not None and existing.sequencer >= ev.sequencer:
            return "duplicate"
        if ev.size > self.settings.split_bytes and self.settings.validate_large_state_machine_arn:
            return self._validate_in_parts(ev, batch, name)
        _, compression = layout.format_for_name(name)
        result = validate_file(
            fs=s3_filesystem(),
            source_path=f"{ev.bucket}/{ev.key}",
            dataset=dataset,
            input_format=batch.input_format,
            batch_id=batch.id,
            file_name=name,
            staged_dir=staged_dir(ev.bucket, batch),
            failed_dir=failed_dir(ev.bucket, batch),
            compression=compression,
        )
        return self.record(ev, batch, name, result)

    def record(self, ev: ObjectEvent, batch: Batch, name: str, result: FileResult) -> str:
        """Write a file's validation result, unless a newer version of the object got there first."""
        bucket_prefix = f"{ev.bucket}/"
        failed_paths = result.failed_paths or ([result.failed_path] if result.failed_path else [])
        f = BatchFile(
            batch_id=batch.id,
            name=name,
            key=ev.key,
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
            validated_at=int(time.time() * 1000),
            duration_ms=result.duration_ms,
        )
        written = self.store.put_file_if(
            batch.org,
            batch.sandbox,
            f,
            condition="attribute_not_exists(#doc) OR attribute_not_exists(#seq) OR #seq < :seq",
            names={"#doc": "doc", "#seq": "seq"},
            values={":seq": {"S": ev.sequencer}},
        )
        if not written:
            return "duplicate"
        if self.store.get_batch(batch.org, batch.sandbox, batch.id).status == "aborted":
            # ABORT landed while this file was validated, maybe after the abort machine cleaned
            # up: the status was written first, so whichever runs last sees and removes these.
            self._discard(ev.bucket, [*result.staged_paths, *failed_paths])
            return "batch-closed"
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

    @staticmethod
    def _discard(bucket: str, paths: list[str]) -> None:
        keys = [{"Key": p.removeprefix(f"{bucket}/")} for p in paths]
        if keys:
            client("s3").delete_objects(Bucket=bucket, Delete={"Objects": keys, "Quiet": True})

    def _validate_in_parts(self, ev: ObjectEvent, batch: Batch, name: str) -> str:
        """Hand a large file to the validate-large state machine (split, parallel parts, merge).
        The file item says ``validating`` meanwhile, so a completing batch waits for it."""
        import json

        arn = self.settings.validate_large_state_machine_arn
        assert arn is not None
        pending = BatchFile(
            batch_id=batch.id, name=name, key=ev.key, status="validating", size=ev.size, etag=ev.etag
        )
        self.store.put_file_if(
            batch.org,
            batch.sandbox,
            pending,
            condition="attribute_not_exists(#seq) OR #seq < :seq",
            names={"#seq": "seq"},
            values={":seq": {"S": ev.sequencer}},
        )
        digest = hashlib.sha256(f"{batch.id}\0{name}\0{ev.sequencer}".encode()).hexdigest()[:40]
        file = {
            "org": batch.org, "sandbox": batch.sandbox, "batchId": batch.id, "name": name,
            "bucket": ev.bucket, "key": ev.key, "size": ev.size, "etag": ev.etag,
            "versionId": ev.version_id, "sequencer": ev.sequencer,
        }  # fmt: skip
        sfn = client("stepfunctions")
        try:
            sfn.start_execution(stateMachineArn=arn, name=f"split-{digest}", input=json.dumps({"file": file}))
        except sfn.exceptions.ExecutionAlreadyExists:
            return "duplicate"
        return "validating-in-parts"

    # -- bucket drop ----------------------------------------------------------------------
    def _inbox(self, ev: ObjectEvent, ref: layout.ObjectRef) -> str:
        now = int(time.time() * 1000)
        batch_id = inbox_batch_id(ev.key, ev.etag)
        fmt: Format = ref.fmt or "json"
        batch = Batch(
            id=batch_id,
            org=ref.org,
            sandbox=ref.sandbox,
            dataset_id=ref.dataset_id,
            input_format=InputFormat(format=fmt),
            created=now,
            updated=now,
            created_user="s3-inbox",
            updated_user="s3-inbox",
            source="inbox",
        )
        try:
            self.store.create_batch(batch)
        except Conflict:
            batch = self.store.get_batch(ref.org, ref.sandbox, batch_id)
        problem = None
        if ref.fmt is None:
            problem = ErrorEntry(
                code="BG-INBOX-SUFFIX",
                description=f"{ref.name!r}: unknown suffix; use .json, .jsonl, .csv or .parquet (optionally .gz)",
            )
        else:
            try:
                dataset = self.store.get_dataset(ref.org, ref.sandbox, ref.dataset_id)
            except NotFound:
                problem = ErrorEntry(
                    code="BG-INBOX-DATASET",
                    description=f"dataset {ref.dataset_id!r} does not exist in {ref.org}/{ref.sandbox}",
                )
        if problem is not None:
            return self._fail_inbox(batch, problem)
        if batch.status == "loading":
            self._validate(ev, batch, dataset, ref.name)
            self._complete(batch)
        return f"inbox:{batch.id}"

    def _fail_inbox(self, batch: Batch, error: ErrorEntry) -> str:
        if batch.status != "loading":
            return f"inbox:{batch.id}"
        failed = batch.model_copy(
            update={"status": "failed", "errors": [error], "updated": int(time.time() * 1000)}
        )
        with contextlib.suppress(IllegalTransition):  # a duplicate event got there first
            self.store.save_batch(failed, expected_status="loading", expected_version=batch.version)
        logger.warning("inbox drop rejected", extra={"batch_id": batch.id, "code": error.code})
        return f"inbox-failed:{batch.id}"

    def _complete(self, batch: Batch) -> None:
        """A bucket drop completes by itself, exactly as an API COMPLETE would."""
        target = next_status(batch.status, "COMPLETE")
        if target is None:
            return
        arn = self.settings.complete_state_machine_arn
        if not arn:
            raise RuntimeError("BATCHGATE_COMPLETE_SM is not set: the inbox cannot complete batches")
        loaded = batch.model_copy(update={"status": target, "updated": int(time.time() * 1000)})
        try:
            loaded = self.store.save_batch(
                loaded, expected_status=batch.status, expected_version=batch.version
            )
        except IllegalTransition:
            return
        start_completion(arn, loaded)


def start_completion(state_machine_arn: str, batch: Batch, *, suffix: str = "") -> str:
    """Start (or find) the batch's completion; the execution name makes a repeat a no-op."""
    import json

    sfn = client("stepfunctions")
    name = f"complete-{batch.id}{suffix}"[:80]
    payload = {"org": batch.org, "sandbox": batch.sandbox, "batchId": batch.id, "datasetId": batch.dataset_id}
    try:
        arn: str = sfn.start_execution(
            stateMachineArn=state_machine_arn, name=name, input=json.dumps(payload)
        )["executionArn"]
    except sfn.exceptions.ExecutionAlreadyExists:
        arn = state_machine_arn.replace(":stateMachine:", ":execution:") + f":{name}"
    return arn
