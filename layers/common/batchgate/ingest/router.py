"""What an S3 object-created event means, and who handles it.

S3 delivers events at least once and in no guaranteed order, and a re-upload replaces an object.
Exactly-once comes from three guards:
- an event whose ETag is no longer the object's current ETag is stale: a newer event will come;
- the result is written with a condition on S3's ``sequencer`` (:mod:`.results`);
- staged output names are deterministic per file (:mod:`.validate`).
"""

from __future__ import annotations

from dataclasses import replace

from batchgate.aws.bundle_store import BundleStore
from batchgate.aws.executions import Executions
from batchgate.aws.objects import Objects
from batchgate.aws.store import Store
from batchgate.bundles.records import BundleRecord, ObjectRef
from batchgate.bundles.start import start as start_bundle
from batchgate.core import keys
from batchgate.core.errors import InvalidRequest, NotFound
from batchgate.core.file_names import check_file_name
from batchgate.core.ids import now_ms
from batchgate.ingest.drop import DROP_USER, BucketDrops
from batchgate.ingest.messages import ObjectEvent
from batchgate.ingest.validate import FileValidator
from batchgate.observability import logger
from batchgate.settings import Settings

# Batch statuses in which a file's validation result still counts.
_OPEN = ("loading", "loaded", "staging", "retrying")


class Ingestor:
    def __init__(self, settings: Settings, store: Store | None = None) -> None:
        self.settings = settings
        self.store = store or Store(settings.table_name)
        executions = Executions()
        self.validator = FileValidator(settings, self.store, executions)
        self.drops = BucketDrops(settings, self.store, executions, self.validator)

    def _bundle_drop(self, ev: ObjectEvent, ref: keys.ObjectRef, version: str | None) -> str:
        """A bundle dropped at ``inbox/{org}/{sandbox}/_bundles/``: an import of that version (its
        id derived from it, so a repeated event finds the import it started)."""
        import_id = keys.bundle_drop_import_id(ev.key, version or ev.etag)
        record = BundleRecord(
            id=import_id, org=ref.org, sandbox=ref.sandbox, kind="import", created=now_ms(),
            created_user=DROP_USER, origin="inbox",
            bundle=ObjectRef(bucket=ev.bucket, key=ev.key, version_id=version),
        )  # fmt: skip
        start_bundle(
            BundleStore(self.settings.table_name), self.settings.bundle_import_state_machine_arn, record
        )
        return f"bundle-import:{import_id}"

    def handle(self, ev: ObjectEvent, expected_format: str) -> str:
        """Validate one object; returns what happened (for logs and tests)."""
        try:
            ref = keys.parse_object_key(ev.key)
        except InvalidRequest:
            logger.warning("object outside uploads/ and inbox/ ignored", extra={"key": ev.key})
            return "ignored"
        if any(
            part in ("", ".", "..") for part in (ref.org, ref.sandbox, ref.dataset_id, ref.batch_id or "x")
        ):
            logger.warning(
                "object key with an empty, '.' or '..' tenant segment ignored", extra={"key": ev.key}
            )
            return "ignored"
        objects = Objects(ev.bucket)
        current = objects.current_version(ev.key)
        if current is None:
            return "gone"
        if ref.kind == "inbox" and ref.dataset_id == keys.BUNDLE_DROP_FOLDER:
            return self._bundle_drop(ev, ref, ev.version_id or current.version_id)
        if (
            ref.kind == "inbox"
            and ev.version_id is not None
            and current.version_id not in (None, ev.version_id)
        ):
            # Put again before this event was handled: that version is a drop of its own. (moto's
            # events carry no versionId, so locally a version overwritten this fast is taken for
            # the newer one; S3 always names the version.)
            batch_id = keys.inbox_batch_id(ev.key, ev.version_id)
            copy = keys.drop_copy_prefix(ref.org, ref.sandbox, ref.dataset_id, batch_id) + ref.name
            if not objects.copy_version(ev.key, ev.version_id, copy):
                return "gone"
            return self.drops.accept(replace(ev, read_key=copy), ref)
        if current.etag != ev.etag or (ev.version_id is not None and current.version_id != ev.version_id):
            logger.info("stale event: a newer version exists", extra={"key": ev.key})
            return "stale"
        if ev.version_id is None and current.version_id is not None:
            # An event without versionId (moto's; S3 always sends it in a versioned bucket) is about
            # the current version: name it, so every path derives the same identity from it.
            ev = replace(ev, version_id=current.version_id)
        if ref.kind == "inbox":
            return self.drops.accept(ev, ref)
        if ref.fmt != expected_format:
            logger.error(
                "event routed to the wrong validator", extra={"key": ev.key, "format": expected_format}
            )
            return "misrouted"
        assert ref.batch_id is not None
        try:
            check_file_name(ref.name)
        except InvalidRequest as exc:
            # The API checks names before writing under uploads/; this object was put there directly.
            logger.warning(
                "upload with an unusable file name ignored", extra={"key": ev.key, "reason": exc.message}
            )
            return "ignored"
        try:
            batch = self.store.get_batch(ref.org, ref.sandbox, ref.batch_id)
            dataset = self.store.get_dataset(ref.org, ref.sandbox, ref.dataset_id)
        except NotFound:
            logger.warning("upload for an unknown batch or dataset", extra={"key": ev.key})
            return "orphan"
        if batch.status not in _OPEN:
            logger.info("batch no longer accepts files", extra={"batch_id": batch.id, "status": batch.status})
            return "batch-closed"
        return self.validator.validate(ev, batch, dataset, ref.name)
