"""Bucket drops (``inbox/{org}/{sandbox}/{datasetId}/{name}``): each object becomes a one-file
batch that completes by itself, as an API COMPLETE would (like Snowpipe's auto-ingest).

The batch id is derived from the object's key and ETag, so a repeated event finds its batch.
S3 filters cannot say "any other suffix": a drop no validator was sent is found later by
:func:`drops_without_batch` (the GC sweep) and recorded as a failed batch.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from batchgate.aws.bundle_store import BundleStore
from batchgate.aws.executions import Executions, batch_input
from batchgate.aws.objects import Objects
from batchgate.aws.store import Store
from batchgate.core import keys
from batchgate.core.errors import Conflict, IllegalTransition, InvalidRequest, NotFound
from batchgate.core.file_names import check_file_name
from batchgate.core.ids import now_ms
from batchgate.core.models import Batch, Dataset, ErrorEntry, Format, InputFormat
from batchgate.core.status import next_status
from batchgate.ingest.messages import ObjectEvent
from batchgate.ingest.validate import FileValidator
from batchgate.observability import logger, tracer
from batchgate.settings import Settings

DROP_USER = "s3-inbox"


class BucketDrops:
    def __init__(self, settings: Settings, store: Store, executions: Executions, validator: FileValidator):
        self.settings = settings
        self.store = store
        self.executions = executions
        self.validator = validator

    @tracer.capture_method
    def accept(self, ev: ObjectEvent, ref: keys.ObjectRef) -> str:
        """The drop's batch (created on the first event), validated and completed."""
        batch = self._batch_for(ev, ref)
        dataset_or_problem = self._dataset_or_problem(ref)
        if isinstance(dataset_or_problem, ErrorEntry):
            return self._fail(batch, dataset_or_problem)
        if batch.status == "loading":
            self.validator.validate(ev, batch, dataset_or_problem, ref.name)
            self._complete(batch)
        return f"inbox:{batch.id}"

    def _dataset_or_problem(self, ref: keys.ObjectRef) -> Dataset | ErrorEntry:
        """The dataset the drop goes to, or why it cannot go anywhere."""
        try:
            check_file_name(ref.name)
        except InvalidRequest as exc:
            return ErrorEntry(code="BG-INBOX-FILE-NAME", description=f"{ref.name!r}: {exc.message}")
        if ref.fmt is None:
            return ErrorEntry(
                code="BG-INBOX-SUFFIX",
                description=f"{ref.name!r}: unknown suffix; use .json, .jsonl, .csv or .parquet (optionally .gz); a .bgbundle goes to inbox/{ref.org}/{ref.sandbox}/_bundles/",
            )
        try:
            return self.store.get_dataset(ref.org, ref.sandbox, ref.dataset_id)
        except NotFound:
            return ErrorEntry(
                code="BG-INBOX-DATASET",
                description=f"dataset {ref.dataset_id!r} does not exist in {ref.org}/{ref.sandbox}",
            )

    def _batch_for(self, ev: ObjectEvent, ref: keys.ObjectRef) -> Batch:
        now = now_ms()
        fmt: Format = ref.fmt or "json"
        batch = Batch(
            id=keys.inbox_batch_id(ev.key, ev.version),
            org=ref.org,
            sandbox=ref.sandbox,
            dataset_id=ref.dataset_id,
            input_format=InputFormat(format=fmt),
            created=now,
            updated=now,
            created_user=DROP_USER,
            updated_user=DROP_USER,
            source="inbox",
            source_key=ev.key,
            source_version=ev.version,
        )
        try:
            self.store.create_batch(batch)
        except Conflict:
            batch = self.store.get_batch(ref.org, ref.sandbox, batch.id)
        return batch

    def _fail(self, batch: Batch, error: ErrorEntry) -> str:
        if batch.status != "loading":
            return f"inbox:{batch.id}"
        failed = batch.model_copy(update={"status": "failed", "errors": [error], "updated": now_ms()})
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
        loaded = batch.model_copy(update={"status": target, "updated": now_ms()})
        try:
            loaded = self.store.save_batch(
                loaded, expected_status=batch.status, expected_version=batch.version
            )
        except IllegalTransition:
            return
        start_completion(self.executions, arn, loaded)


def start_completion(
    executions: Executions, state_machine_arn: str, batch: Batch, *, suffix: str = ""
) -> str:
    """Start (or find) the batch's completion; the execution name makes a repeat a no-op."""
    arn, _ = executions.start(
        state_machine_arn, keys.execution_name("COMPLETE", batch.id, suffix=suffix), batch_input(batch)
    )
    return arn


def drops_without_batch(store: Store, objects: Objects, older_than_ms: int) -> Iterator[ObjectEvent]:
    """Inbox objects older than ``older_than_ms`` that have no batch (a bundle drop: no import):
    drops whose suffix no notification rule routes, or whose event was lost. Keys outside the inbox layout cannot be
    attributed to a tenant: they are logged, not attached to anything."""
    for obj in objects.current_versions_under(keys.INBOX):
        if obj.modified_s * 1000 > older_than_ms:
            continue
        try:
            ref = keys.parse_object_key(obj.key)
        except InvalidRequest:
            logger.warning("inbox object outside inbox/{org}/{sandbox}/{dataset}/", extra={"key": obj.key})
            continue
        version = obj.version_id or obj.etag
        try:
            if ref.dataset_id == keys.BUNDLE_DROP_FOLDER:  # a bundle drop starts an import, not a batch
                BundleStore(store.table).get_record(
                    ref.org, ref.sandbox, keys.bundle_drop_import_id(obj.key, version)
                )
            else:
                store.get_batch(ref.org, ref.sandbox, keys.inbox_batch_id(obj.key, version))
        except NotFound:
            # LastModified in microseconds stands in for the sequencer of the lost event
            sequencer = format(int(obj.modified_s * 1e6), "X").rjust(32, "0")
            yield ObjectEvent(objects.bucket, obj.key, obj.size, obj.etag, obj.version_id, sequencer)
