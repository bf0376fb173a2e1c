"""A batch's timeline: when its file was received (S3's event time), validated and staged, and
when its landing started and ended, as the batch's GET answer shows them. Against moto's server:
the validator's logic on a hand-delivered event, then the complete machine's tasks."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from batchgate.aws.clients import client
from batchgate.core.ids import now_ms
from batchgate.core.keys import upload_key
from batchgate.core.timeline import batch_timeline
from batchgate.ingest.messages import ObjectEvent, S3RecordModel
from batchgate.ingest.router import Ingestor
from batchgate.lake.catalog import shared_catalog
from batchgate.lake.tables import ensure_table
from batchgate.workflow import complete
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
    yield TaskContext.create(module_aws.settings)
    refresh_process_state()


def test_the_timeline_follows_a_file_from_its_upload_to_the_landing(ctx: TaskContext) -> None:
    batch, dataset = new_batch(ctx.store, "tl-1", SCHEMA)
    ensure_table(shared_catalog(), dataset)
    key = upload_key("json", batch.org, batch.sandbox, dataset.id, batch.id, "people.json")
    body = b"".join(json.dumps({"id": f"r{i}"}).encode() + b"\n" for i in range(3))
    put = client("s3").put_object(Bucket=ctx.settings.bucket, Key=key, Body=body)
    received = now_ms() - 2_000  # S3 says when it created the object; the validator runs later
    record = {
        "eventName": "ObjectCreated:Put",
        "eventTime": f"{received / 1000:.3f}",
        "s3": {
            "bucket": {"name": ctx.settings.bucket},
            "object": {"key": key, "eTag": put["ETag"], "size": len(body), "sequencer": "0A"},
        },
    }
    ev = ObjectEvent.from_record(S3RecordModel.model_validate(record))
    assert Ingestor(ctx.settings, ctx.store).handle(ev, "json") == "validated"

    before = batch_timeline(ctx.store.get_batch(batch.org, batch.sandbox, batch.id), [])
    assert (before["commitStarted"], before["commitEnded"]) == (None, None)

    loaded = ctx.store.get_batch(batch.org, batch.sandbox, batch.id)
    ctx.store.save_batch(
        loaded.model_copy(update={"status": "loaded"}),
        expected_status=loaded.status,
        expected_version=loaded.version,
    )
    state = {"org": batch.org, "sandbox": batch.sandbox, "batchId": batch.id, "datasetId": dataset.id}
    assert complete.promote(ctx, state)["status"] == "success"

    landed = ctx.store.get_batch(batch.org, batch.sandbox, batch.id)
    timeline = batch_timeline(landed, ctx.store.list_files(batch.org, batch.sandbox, batch.id))
    (file,) = timeline["files"]
    assert file["name"] == "people.json" and file["received"] == received
    assert file["received"] <= file["validated"] == file["staged"]
    assert file["validated"] <= timeline["commitStarted"] <= timeline["commitEnded"] <= landed.updated
    assert timeline["created"] == landed.created


def test_a_file_with_no_row_to_land_has_no_staged_time(ctx: TaskContext) -> None:
    batch, dataset = new_batch(ctx.store, "tl-2", SCHEMA)
    key = upload_key("json", batch.org, batch.sandbox, dataset.id, batch.id, "bad.json")
    body = b'{"id": null}\n'
    put = client("s3").put_object(Bucket=ctx.settings.bucket, Key=key, Body=body)
    record = {
        "eventName": "ObjectCreated:Put",
        "s3": {
            "bucket": {"name": ctx.settings.bucket},
            "object": {"key": key, "eTag": put["ETag"], "size": len(body), "sequencer": "0A"},
        },
    }
    ev = ObjectEvent.from_record(S3RecordModel.model_validate(record))
    assert Ingestor(ctx.settings, ctx.store).handle(ev, "json") == "validated"
    b = ctx.store.get_batch(batch.org, batch.sandbox, batch.id)
    (file,) = batch_timeline(b, ctx.store.list_files(b.org, b.sandbox, b.id))["files"]
    # An event without eventTime (a hand-made one) leaves received unknown, not invented.
    assert file["received"] is None and file["validated"] is not None and file["staged"] is None
