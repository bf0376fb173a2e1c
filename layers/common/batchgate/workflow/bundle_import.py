"""Tasks of the bundle-import state machine (``statemachines/bundle_import.asl.json``).

    Verify (the whole bundle: zip, version, every sha256, every Parquet part against its schema;
            then the bundle id is claimed and each dataset matched by name — all before anything
            is written)
        ─an earlier import of this bundle holds it→ Done (this import points at that one)
    → Prepare (create the missing datasets, evolve the extended ones, one ordinary Parquet batch
               per dataset with rows, its parts copied in server-side as byte ranges of the bundle)
    → Wait / Check … (once every part is validated: COMPLETE every batch; then until all are final)
    → Finish (imported; or, when any batch failed, undo)
    any failure → Fail (undo, saying why)

Atomic per bundle: the batches are completed only when every part of every dataset passed
validation, so a dataset that fails validation lands nothing anywhere. What fails later (at
commit) is undone: open batches aborted, landed batches of existing datasets reverted, datasets
this import created deleted. Idempotent: ids derived from the import's id make every task safe to
retry; the bundle's id is claimed per sandbox, so the same bundle imported twice imports once.
"""

from __future__ import annotations

import contextlib
import hashlib
import posixpath
from collections.abc import Callable
from typing import Any

from batchgate import faults
from batchgate.aws.bundle_store import BundleStore
from batchgate.aws.s3fs import s3_filesystem
from batchgate.bundles.manifest import Manifest
from batchgate.bundles.reader import BundleReader
from batchgate.bundles.records import BundleRecord, DatasetEntry
from batchgate.bundles.verify import verify_open
from batchgate.core import keys
from batchgate.core.errors import BatchgateError, Conflict, IllegalTransition, InvalidRequest, NotFound
from batchgate.core.models import Batch, BatchFile, InputFormat
from batchgate.core.principal import Principal
from batchgate.core.status import FINAL, PENDING_FILES, decide
from batchgate.ingest.batch_actions import BatchActions
from batchgate.ingest.datasets import Datasets
from batchgate.observability import logger
from batchgate.workflow.bundle_export import close
from batchgate.workflow.context import State, TaskContext, caught_error

OPEN = frozenset({"loading", "loaded"})
TAG_BUNDLE = "batchgate:bundleId"
TAG_IMPORT = "batchgate:bundleImport"
TAG_SOURCE_BATCHES = "batchgate:sourceBatches"
TAG_SOURCE_DATASET = "batchgate:sourceDataset"


def _store(ctx: TaskContext) -> BundleStore:
    return BundleStore(ctx.settings.table_name)


def _datasets(ctx: TaskContext) -> Datasets:
    return Datasets(
        ctx.store,
        commit_window_seconds=ctx.settings.commit_window_seconds,
        database_prefix=ctx.settings.glue_database_prefix,
    )


def _principal(record: BundleRecord) -> Principal:
    """The import acts for whoever started it, in the sandbox it was started in."""
    return Principal(
        record.org, record.sandbox, f"bundle-import:{record.id}", record.created_user, role="admin"
    )


def derived_id(record_id: str, source_id: str, what: str) -> str:
    """A dataset or batch id fixed by the import and the bundle's dataset: a retried task finds it."""
    return hashlib.sha256(f"bundle-import:{record_id}:{source_id}:{what}".encode()).hexdigest()[:24]


def _plan_key(record: BundleRecord) -> str:
    return keys.bundle_prefix(record.org, record.sandbox, record.id) + "plan.json"


def readable_key(ctx: TaskContext, record: BundleRecord) -> str:
    """The key the import reads: a bucket drop's version is first copied beside the import (the
    name in inbox/ may be put again meanwhile); bytes sent to the API are there already."""
    assert record.bundle is not None
    if record.bundle.version_id is None:
        return record.bundle.key
    kept = keys.bundle_prefix(record.org, record.sandbox, record.id) + "bundle.bgbundle"
    if not ctx.objects.exists(kept) and not ctx.objects.copy_version(
        record.bundle.key, record.bundle.version_id, kept
    ):
        raise InvalidRequest(
            f"{record.bundle.key} (version {record.bundle.version_id}) was deleted before it was imported",
            code="BG-400-BUNDLE-GONE",
        )
    return kept


# -- Verify -------------------------------------------------------------------------------------
def bundle_import_verify(ctx: TaskContext, state: State) -> State:
    store = _store(ctx)
    record = store.get_record(state["org"], state["sandbox"], state["id"])
    if record.status != "running":
        return {"done": True}
    key = readable_key(ctx, record)
    filesystem = s3_filesystem()
    path = keys.fs_path(ctx.objects.bucket, key)
    size = filesystem.get_file_info(path).size or 0
    with filesystem.open_input_file(path) as source, BundleReader(source) as reader:
        manifest = verify_open(reader)
        parts = [
            {"sourceId": d.source_id, "path": f.path, "first": start, "size": length}
            for d in manifest.datasets
            for f in d.files
            for start, length in [reader.span(f.path)]
        ]
    record = record.model_copy(update={"bundle_id": manifest.bundle_id, "bytes": size})
    holder = _claim(store, record, manifest.bundle_id)
    if holder is not None:
        first = store.get_record(record.org, record.sandbox, holder)
        done = record.model_copy(update={"duplicate_of": holder, "datasets": first.datasets, "phase": "done"})
        close(
            store, done, "imported",
            f"bundle {manifest.bundle_id} was imported by {holder} already: nothing imported again", None,
        )  # fmt: skip
        return {"done": True}
    try:
        entries = match_datasets(_datasets(ctx), _principal(record), manifest)
    except BaseException:
        store.put_record(record)  # the claim is released by Fail, which reads the bundle id here
        raise
    ctx.objects.put_json(
        _plan_key(record), {"manifest": manifest.model_dump(mode="json", by_alias=True), "parts": parts}
    )
    store.put_record(record.model_copy(update={"datasets": entries}))
    return {"done": False, "datasets": len(entries)}


def _claim(store: BundleStore, record: BundleRecord, bundle_id: str) -> str | None:
    """None when this import holds the bundle id; else the import that does. A failed import's
    claim left behind (it crashed before releasing it) is taken over."""
    holder = store.claim(record.org, record.sandbox, bundle_id, record.id)
    if holder == record.id:
        return None
    try:
        held = store.get_record(record.org, record.sandbox, holder)
    except NotFound:
        held = None
    if held is None or held.status == "failed":
        store.release(record.org, record.sandbox, bundle_id, holder)
        holder = store.claim(record.org, record.sandbox, bundle_id, record.id)
    return None if holder == record.id else holder


def match_datasets(datasets: Datasets, p: Principal, manifest: Manifest) -> list[DatasetEntry]:
    """Each of the bundle's datasets against this sandbox's, by name: a new one, or an existing one
    whose schema the bundle's equals or extends compatibly. Any other: a 409 before anything is
    written, naming the dataset and the field."""
    entries = []
    for d in manifest.datasets:
        found = datasets.named(p, d.name)
        if len(found) > 1:
            raise Conflict(
                f"dataset {d.name!r}: {len(found)} datasets of this sandbox have that name "
                f"({', '.join(ds.id for ds in found[:5])}); an import matches datasets by name",
                code="BG-409-BUNDLE-DATASET",
            )
        if not found:
            entries.append(DatasetEntry(source_id=d.source_id, name=d.name, rows=d.rows))
            continue
        try:
            change = Datasets.change_to(found[0], d.schema_, d.tags)
        except Conflict as exc:
            raise Conflict(
                f"dataset {d.name!r} ({found[0].id}) exists here with a schema the bundle's does not equal or "
                f"extend: {exc.message}",
                code="BG-409-BUNDLE-SCHEMA",
            ) from exc
        entries.append(
            DatasetEntry(
                source_id=d.source_id, id=found[0].id, name=d.name, rows=d.rows, evolved=not change.empty
            )
        )
    return entries


# -- Prepare ------------------------------------------------------------------------------------
def bundle_import_prepare(ctx: TaskContext, state: State) -> State:
    store = _store(ctx)
    record = store.get_record(state["org"], state["sandbox"], state["id"])
    plan = ctx.objects.get_json(_plan_key(record))
    manifest = Manifest.model_validate(plan["manifest"])
    source_key = readable_key(ctx, record)
    p = _principal(record)
    datasets = _datasets(ctx)
    actions = BatchActions(ctx.store, ctx.settings)
    batches = 0
    for entry in record.datasets:
        d = manifest.dataset(entry.source_id)
        if entry.id is None or entry.created:
            ds_id = entry.id or derived_id(record.id, entry.source_id, "dataset")
            entry.id, entry.created = ds_id, True
            store.put_record(record)  # before it exists: an undo must find what may have been made
            with contextlib.suppress(Conflict):  # a retry: created the first time
                datasets.create(p, name=d.name, schema=d.schema_, tags=d.tags, dataset_id=ds_id)
        elif entry.evolved:
            current = ctx.store.get_dataset(p.org, p.sandbox, entry.id)
            if not Datasets.change_to(current, d.schema_, d.tags).empty:
                datasets.evolve(current, schema=d.schema_)
        if d.rows == 0:
            continue
        batches += 1
        batch_id = derived_id(record.id, entry.source_id, "batch")
        if entry.batch_id is None:
            entry.batch_id = batch_id
            store.put_record(record)
        tags = {
            TAG_BUNDLE: [manifest.bundle_id],
            TAG_IMPORT: [record.id],
            TAG_SOURCE_DATASET: [d.source_id],
            TAG_SOURCE_BATCHES: list(d.source_batches),
        }
        with contextlib.suppress(Conflict):  # a retry: the batch exists
            actions.create(
                p,
                dataset_id=entry.id,
                input_format=InputFormat(format="parquet"),
                batch_id=batch_id,
                tags=tags,
            )
        for part in (x for x in plan["parts"] if x["sourceId"] == entry.source_id):
            _copy_part(ctx, record, entry, source_key, part)
    store.put_record(record.model_copy(update={"phase": "validating"}))
    return {"batches": batches}


def _copy_part(
    ctx: TaskContext, record: BundleRecord, entry: DatasetEntry, source_key: str, part: dict[str, Any]
) -> None:
    """One part into the batch as an ordinary Parquet file: the S3 event sends it to the Parquet
    validator like any upload. A part a retry finds recorded and present is left alone."""
    assert entry.id is not None and entry.batch_id is not None
    name = posixpath.basename(part["path"])
    key = keys.upload_key("parquet", record.org, record.sandbox, entry.id, entry.batch_id, name)
    f = BatchFile(batch_id=entry.batch_id, name=name, key=key, status="uploading", size=int(part["size"]))
    try:
        ctx.store.put_file(record.org, record.sandbox, f, only_if_new=True)
    except Conflict:
        existing = ctx.store.get_file(record.org, record.sandbox, entry.batch_id, name)
        if existing is not None and (existing.status != "uploading" or ctx.objects.exists(key)):
            return
    first, size = int(part["first"]), int(part["size"])
    ctx.objects.copy_range(source_key, first, first + size - 1, key)
    faults.inject("bundle-import")


# -- Check --------------------------------------------------------------------------------------
def _batches(ctx: TaskContext, record: BundleRecord) -> list[tuple[DatasetEntry, Batch]]:
    return [
        (e, ctx.store.get_batch(record.org, record.sandbox, e.batch_id))
        for e in record.datasets
        if e.batch_id is not None
    ]


def bundle_import_check(ctx: TaskContext, state: State) -> State:
    """One look at the batches: ``final`` once the import can be finished."""
    store = _store(ctx)
    record = store.get_record(state["org"], state["sandbox"], state["id"])
    polls = int((state.get("check") or {}).get("polls", 0)) + 1
    batches = _batches(ctx, record)
    if record.phase == "validating":
        refused = False
        for _, batch in batches:
            if batch.status not in OPEN:
                refused = True  # aborted by someone meanwhile: the import cannot be whole
                continue
            files = ctx.store.list_files(batch.org, batch.sandbox, batch.id)
            if any(f.status in PENDING_FILES for f in files):
                return {"final": False, "polls": polls}
            refused = refused or not decide(files, 0).succeeded
        if refused:
            store.put_record(record.model_copy(update={"phase": "done"}))
            return {"final": True, "polls": polls}
        actions = BatchActions(ctx.store, ctx.settings)
        for _, batch in batches:
            with contextlib.suppress(IllegalTransition):  # a retry: completed the first time
                actions.act(_principal(record), batch.id, "COMPLETE")
        store.put_record(record.model_copy(update={"phase": "landing"}))
        return {"final": False, "polls": polls}
    if any(b.status not in FINAL and b.status != "stalled" for _, b in batches):
        return {"final": False, "polls": polls}
    return {"final": True, "polls": polls}


# -- Finish / Fail ------------------------------------------------------------------------------
def bundle_import_finish(ctx: TaskContext, state: State) -> State:
    store = _store(ctx)
    record = store.get_record(state["org"], state["sandbox"], state["id"])
    if record.status != "running":
        return {"status": record.status}
    errors = []
    for entry, batch in _batches(ctx, record):
        if batch.status == "success":
            continue
        found = batch.errors
        if batch.status in OPEN:  # not completed: another dataset was refused, or this one
            outcome = decide(ctx.store.list_files(batch.org, batch.sandbox, batch.id), 0)
            if outcome.succeeded:
                continue  # its rows were fine: it is aborted with the rest, but says nothing
            found = outcome.errors
        errors += [
            {"code": e.code, "message": f"dataset {entry.name}: {e.description}", "dataset": entry.name,
             "batchId": batch.id} | ({"file": e.file} if e.file else {})
            for e in found
        ] or [{"code": "BG-BUNDLE-BATCH", "message": f"dataset {entry.name}: batch {batch.id} is {batch.status}",
               "dataset": entry.name, "batchId": batch.id}]  # fmt: skip
    if not errors:
        rows = sum(e.rows for e in record.datasets)
        done = record.model_copy(update={"phase": "done"})
        close(store, done, "imported", f"{len(record.datasets)} dataset(s), {rows} row(s) imported", None)
        return {"status": "imported"}
    undone = undo(ctx, store, record)
    failed = record.model_copy(update={"phase": "done", "errors": [*record.errors, *errors]})
    close(store, failed, "failed", f"{errors[0]['message']}; {undone}", None)
    return {"status": "failed"}


def bundle_import_fail(ctx: TaskContext, state: State) -> State:
    store = _store(ctx)
    try:
        record = store.get_record(state["org"], state["sandbox"], state["id"])
    except NotFound:
        return {"status": "failed"}
    if record.status != "running":
        return {"status": record.status}
    caught = state.get("error")
    if isinstance(caught, dict) and caught.get("Cause"):
        error = caught_error(caught, "BG-500-BUNDLE-IMPORT")
    else:
        error = record.errors[-1] if record.errors else caught_error(caught, "BG-500-BUNDLE-IMPORT")
    undone = undo(ctx, store, record)
    message = str(error.get("message", "the import failed"))
    close(store, record.model_copy(update={"phase": "done"}), "failed", f"{message}; {undone}", error)
    return {"status": "failed"}


def undo(ctx: TaskContext, store: BundleStore, record: BundleRecord) -> str:
    """Leave no dataset of the bundle half-imported: abort the open batches, revert the landed
    ones of datasets that existed before, delete the datasets this import created, and release
    the bundle id so the bundle can be imported again. Says what it did."""
    p = _principal(record)
    actions = BatchActions(ctx.store, ctx.settings)
    done: list[str] = []
    for entry in record.datasets:
        if entry.batch_id is None:
            continue
        try:
            batch = ctx.store.get_batch(record.org, record.sandbox, entry.batch_id)
        except NotFound:
            continue
        action = (
            "ABORT"
            if batch.status in OPEN
            else "REVERT"
            if batch.status == "success" and not entry.created
            else None
        )
        if action is None:
            continue
        try:
            actions.act(p, batch.id, action)  # type: ignore[arg-type]
            done.append(f"batch {batch.id} of {entry.name} {'aborted' if action == 'ABORT' else 'reverted'}")
        except BatchgateError as exc:
            logger.warning(
                "import undo: batch action failed", extra={"batch_id": batch.id, "error": exc.message}
            )
            done.append(f"batch {batch.id} of {entry.name} could not be {action.lower()}ed: {exc.message}")
    datasets = _datasets(ctx)
    for entry in record.datasets:
        if entry.created and entry.id is not None:
            try:
                datasets.delete(p, entry.id)
                done.append(f"dataset {entry.name} ({entry.id}), created by this import, deleted")
            except NotFound:
                pass  # never created (the failure came first), or deleted by a retry
            except BatchgateError as exc:
                done.append(f"dataset {entry.name} ({entry.id}) could not be deleted: {exc.message}")
    if record.bundle_id is not None:
        store.release(record.org, record.sandbox, record.bundle_id, record.id)
    return "; ".join(done) if done else "nothing had been imported"


TASKS: dict[str, Callable[[TaskContext, State], Any]] = {
    "bundle_import_verify": bundle_import_verify,
    "bundle_import_prepare": bundle_import_prepare,
    "bundle_import_check": bundle_import_check,
    "bundle_import_finish": bundle_import_finish,
    "bundle_import_fail": bundle_import_fail,
}
