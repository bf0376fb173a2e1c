"""ABORT that wins while the batch is being landed: the cleanup never deletes a file a commit may
still register, so no committed snapshot ever references a missing file (abort.asl.json waits
and asks again while the cleanup answers `waiting`)."""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from batchgate.core import keys
from batchgate.core.ids import now_ms
from batchgate.core.models import Batch, Dataset
from batchgate.lake.catalog import shared_catalog
from batchgate.lake.history import landed, reverted_batches
from batchgate.lake.promote import promote
from batchgate.lake.tables import ensure_table, table_arrow_schema
from batchgate.workflow import abort
from batchgate.workflow.context import TaskContext
from tests.conftest import TemplateAws, refresh_process_state
from tests.integration.helpers import new_batch

SCHEMA = {"fields": [{"name": "id", "type": "string", "required": True}]}


@pytest.fixture
def ctx(module_aws: TemplateAws, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[TaskContext]:
    monkeypatch.setenv("BATCHGATE_CATALOG_TYPE", "sql")
    monkeypatch.setenv("BATCHGATE_WAREHOUSE", f"s3://{module_aws.bucket}/warehouse")
    monkeypatch.setenv("BATCHGATE_CATALOG_URI", str(tmp_path / "catalog.db"))
    refresh_process_state()
    yield TaskContext.create(replace(module_aws.settings, commit_window_seconds=60))
    refresh_process_state()


def stage(ctx: TaskContext, batch: Batch, dataset: Dataset) -> str:
    schema = table_arrow_schema(dataset)
    table = pa.table(
        {"id": ["r1"], "_batch_id": [batch.id], "_source_file": ["f.json"], "_source_row": [1]}, schema=schema
    )
    buf = io.BytesIO()
    pq.write_table(table, buf)
    key = f"{keys.batch_staged_prefix(batch)}f.parquet"
    ctx.objects.put_bytes(key, buf.getvalue())
    return keys.s3_uri(ctx.settings.bucket, key)


def aborted(ctx: TaskContext, name: str, *, commit_started: int | None) -> tuple[Batch, Dataset]:
    batch, dataset = new_batch(ctx.store, name, SCHEMA, status="staging")
    ensure_table(shared_catalog(), dataset)
    stored = ctx.store.save_batch(
        batch.model_copy(update={"status": "aborted", "commit_started": commit_started}),
        expected_status="staging",
        expected_version=batch.version,
    )
    return stored, dataset


def state(b: Batch) -> dict[str, str]:
    return {"org": b.org, "sandbox": b.sandbox, "batchId": b.id, "datasetId": b.dataset_id}


def test_while_a_commit_may_run_the_staged_files_stay(ctx: TaskContext) -> None:
    batch, dataset = aborted(ctx, "ab-running", commit_started=now_ms())
    staged = stage(ctx, batch, dataset)
    assert abort.abort_cleanup(ctx, state(batch))["state"] == "waiting"
    assert ctx.staged_candidates(batch) == [staged], "a commit that is still running may register it"


def test_a_commit_that_landed_uncompensated_is_reverted_then_cleaned(ctx: TaskContext) -> None:
    batch, dataset = aborted(ctx, "ab-landed", commit_started=now_ms())
    staged = stage(ctx, batch, dataset)
    promote(shared_catalog(), dataset, batch.id, [staged])  # the landing's task died before compensating
    out = abort.abort_cleanup(ctx, state(batch))
    table = shared_catalog().load_table(dataset.table)
    assert out["state"] == "cleaned" and landed(table, batch.id) and batch.id in reverted_batches(table)
    assert table.scan().to_arrow().num_rows == 0, "the current snapshot no longer reads the aborted rows"
    # The landing's snapshot still reads the staged file: it stays until gc expires that snapshot.
    assert ctx.staged_candidates(batch) == [staged]
    for snapshot in table.metadata.snapshots:
        table.scan(snapshot_id=snapshot.snapshot_id).to_arrow()  # every file a snapshot needs is there


def test_past_the_window_with_nothing_landed_the_files_go(ctx: TaskContext) -> None:
    batch, dataset = aborted(ctx, "ab-old", commit_started=now_ms() - 61_000)
    stage(ctx, batch, dataset)
    assert abort.abort_cleanup(ctx, state(batch))["state"] == "cleaned"
    assert ctx.staged_candidates(batch) == []


def test_without_a_landing_ever_begun_the_files_go_at_once(ctx: TaskContext) -> None:
    batch, dataset = aborted(ctx, "ab-never", commit_started=None)
    stage(ctx, batch, dataset)
    assert abort.abort_cleanup(ctx, state(batch))["state"] == "cleaned"
    assert ctx.staged_candidates(batch) == []
