"""The task of the gc state machine (``statemachines/gc.asl.json``, on a schedule): Sweep.

One sweep: batches left ``loading`` past their TTL become ``abandoned``; reverted or replaced
batches past the retention lose their data (``inactive`` → ``deleted``) once no live snapshot
reads it; old snapshots expire; bucket drops that no validator took are recorded.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from batchgate import faults
from batchgate.core import keys
from batchgate.core.errors import IllegalTransition, NotFound
from batchgate.core.ids import now_ms
from batchgate.ingest.drop import drops_without_batch
from batchgate.ingest.router import Ingestor
from batchgate.lake.gc import gc as lake_gc
from batchgate.observability import tracer
from batchgate.workflow.context import State, TaskContext

# An inbox object this old with no batch was never routed to a validator.
INBOX_GRACE_MS = 60_000
DEFAULT_RETENTION_SECONDS = 7 * 24 * 3600


@tracer.capture_method
def sweep(ctx: TaskContext, state: State) -> State:
    now = now_ms()
    abandoned = 0
    for b in ctx.store.batches_in_status(
        "loading", updated_before=now - ctx.settings.loading_ttl_seconds * 1000
    ):
        try:
            ctx.move(b, "abandoned")
            abandoned += 1
        except IllegalTransition:
            continue
    retention_ms = int(state.get("retentionSeconds", DEFAULT_RETENTION_SECONDS)) * 1000
    deleted = 0
    expired = 0
    for b in ctx.store.batches_in_status("inactive", updated_before=now - retention_ms):
        try:
            dataset = ctx.store.get_dataset(b.org, b.sandbox, b.dataset_id)
        except NotFound:
            dataset = None  # deleted: its table is dropped and remove_deleted_datasets takes the files
        if dataset is not None:
            result = lake_gc(
                ctx.lake(dataset),
                dataset,
                older_than_ms=now - retention_ms,
                candidates=ctx.staged_candidates(b),
            )
            expired += result.expired_snapshots
            faults.inject("gc")
            if ctx.staged_candidates(b):
                continue  # a live snapshot still reads some of its files: a later sweep tries again
        ctx.objects.delete_prefix(keys.batch_staged_prefix(b))  # what is left are directory markers
        ctx.objects.delete_prefix(keys.batch_failed_prefix(b))
        ctx.objects.delete_prefix(keys.batch_upload_prefix(b))
        ctx.objects.delete_prefix(keys.drop_copy_prefix(b.org, b.sandbox, b.dataset_id, b.id))
        try:
            ctx.move(b, "deleted")
            deleted += 1
        except IllegalTransition:
            continue
    unrouted = record_unrouted_drops(ctx, older_than_ms=now - INBOX_GRACE_MS)
    removed = remove_deleted_datasets(ctx)
    return {
        "abandoned": abandoned,
        "deleted": deleted,
        "expiredSnapshots": expired,
        "inboxRecorded": unrouted,
        "datasetsRemoved": removed,
    }


def remove_deleted_datasets(ctx: TaskContext) -> int:
    """Delete the files of datasets deleted through the API (their batches' and their dropped
    table's), then their tombstones."""
    removed = 0
    for ds, location in ctx.store.deleted_datasets():
        for prefix in keys.dataset_data_prefixes(ds.org, ds.sandbox, ds.id):
            ctx.objects.delete_prefix(prefix)
        bucket_prefix = f"s3://{ctx.settings.bucket}/"
        if location and location.startswith(bucket_prefix):
            ctx.objects.delete_prefix(location.removeprefix(bucket_prefix).rstrip("/") + "/")
        ctx.store.forget_deleted_dataset(ds)
        removed += 1
    return removed


def record_unrouted_drops(ctx: TaskContext, *, older_than_ms: int) -> int:
    """S3 filters cannot say "any other suffix", so a drop no validator took is found here and
    recorded as a failed batch (BG-INBOX-SUFFIX) instead of lying in the bucket unnoticed."""
    ingestor = Ingestor(ctx.settings, ctx.store)
    recorded = 0
    for ev in drops_without_batch(ctx.store, ctx.objects, older_than_ms):
        ingestor.handle(ev, "sweep")
        recorded += 1
    return recorded


TASKS: dict[str, Callable[[TaskContext, State], Any]] = {"sweep": sweep}
