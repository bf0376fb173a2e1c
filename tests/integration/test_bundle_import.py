"""The bundle-import state machine's tasks (``workflow/bundle_import.py``) called directly against
moto's server, in the order the ASL calls them. No validator or commit runs here: where the import
waits for its batches, the test gives their files and batches what the validators and the complete
machine would have. What is checked: every task is safe to repeat, parts are copied as exact byte
ranges of the bundle, the batches are completed only once every part is validated, and a failure
undoes what the import made."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from batchgate.aws.bundle_store import BundleStore
from batchgate.bundles import BundleReader, BundleSource, BundleWriter, verify
from batchgate.bundles.records import BundleRecord, ObjectRef
from batchgate.core import keys
from batchgate.core.errors import Conflict
from batchgate.core.ids import new_id, now_ms
from batchgate.core.models import BatchStatus, DatasetSchema
from batchgate.core.principal import Principal
from batchgate.ingest.datasets import Datasets
from batchgate.workflow import bundle_import
from batchgate.workflow.context import State, TaskContext
from batchgate.workflow.tasks import note_failure, task_failure
from tests.conftest import TemplateAws, refresh_process_state

ORG, SANDBOX = "o", "s"
SCHEMA = DatasetSchema.model_validate(
    {"fields": [{"name": "id", "type": "string", "required": True}, {"name": "n", "type": "integer"}]}
)
USER = Principal(ORG, SANDBOX, "key", "admin@o", role="admin")


@pytest.fixture
def ctx(template_aws: TemplateAws, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> TaskContext:
    template_aws.state_machines()  # COMPLETE / ABORT start executions (none runs)
    monkeypatch.setenv("BATCHGATE_CATALOG_TYPE", "sql")
    monkeypatch.setenv("BATCHGATE_CATALOG_URI", str(tmp_path / "catalog.db"))
    monkeypatch.setenv("BATCHGATE_WAREHOUSE", f"s3://{template_aws.bucket}/warehouse")
    refresh_process_state()
    return TaskContext.create(template_aws.settings)


def bundle_bytes(bundle_id: str, datasets: dict[str, list[list[str]]]) -> bytes:
    """A bundle of datasets named as the keys, each part a list of ids."""
    out = io.BytesIO()
    source = BundleSource(org="elsewhere", sandbox="prod", exported_at=dt.datetime.now(dt.UTC))
    with BundleWriter(out, bundle_id, source) as w:
        for name, parts in datasets.items():
            w.add_dataset(f"src-{name}", name, SCHEMA)
            for ids in parts:
                w.add_part(f"src-{name}", pa.table({"id": ids, "n": list(range(len(ids)))}))
    return out.getvalue()


def start(ctx: TaskContext, data: bytes) -> State:
    record_id = new_id()
    key = keys.bundle_prefix(ORG, SANDBOX, record_id) + "bundle.bgbundle"
    ctx.objects.put_bytes(key, data)
    record = BundleRecord(
        id=record_id, org=ORG, sandbox=SANDBOX, kind="import", created=now_ms(), created_user="admin@o",
        bundle=ObjectRef(bucket=ctx.objects.bucket, key=key),
    )  # fmt: skip
    assert BundleStore(ctx.settings.table_name).create_record(record)
    return {"org": ORG, "sandbox": SANDBOX, "id": record_id, "kind": "import"}


def record(ctx: TaskContext, state: State) -> BundleRecord:
    return BundleStore(ctx.settings.table_name).get_record(ORG, SANDBOX, state["id"])


def validated(ctx: TaskContext, batch_id: str, *, failed_rows: int = 0) -> None:
    """What the Parquet validator records for each file of the batch."""
    for f in ctx.store.list_files(ORG, SANDBOX, batch_id):
        rows = 2
        update = {"status": "validated", "input_record_count": rows, "output_record_count": rows - failed_rows,
                  "failed_record_count": failed_rows}  # fmt: skip
        ctx.store.put_file(ORG, SANDBOX, f.model_copy(update=update))


def set_batch(ctx: TaskContext, batch_id: str, status: BatchStatus) -> None:
    b = ctx.store.get_batch(ORG, SANDBOX, batch_id)
    ctx.store.save_batch(
        b.model_copy(update={"status": status}), expected_status=b.status, expected_version=b.version
    )


def step(ctx: TaskContext, task: Any, state: State) -> State | None:
    """One task as the tasks function runs it: on an error the worker notes it and the ASL's Catch
    runs Fail."""
    try:
        result: State = task(ctx, state)
        return result
    except Exception as exc:
        error, cause = task_failure(exc)
        note_failure(ctx, state, exc)
        bundle_import.bundle_import_fail(ctx, {**state, "error": {"Error": error, "Cause": cause}})
        return None


def test_every_task_repeats_safely_and_parts_are_copied_byte_for_byte(ctx: TaskContext) -> None:
    data = bundle_bytes("b-repeat", {"people": [["a", "b"], ["c", "d"]]})
    state = start(ctx, data)
    assert bundle_import.bundle_import_verify(ctx, state) == {"done": False, "datasets": 1}
    assert bundle_import.bundle_import_verify(ctx, state) == {"done": False, "datasets": 1}  # a retry
    assert bundle_import.bundle_import_prepare(ctx, state) == {"batches": 1}
    assert bundle_import.bundle_import_prepare(ctx, state) == {"batches": 1}  # a retry

    (entry,) = record(ctx, state).datasets
    assert entry.created and entry.id is not None and entry.batch_id is not None
    assert [d.id for d in Datasets(ctx.store).named(USER, "people")] == [entry.id]
    batch = ctx.store.get_batch(ORG, SANDBOX, entry.batch_id)
    assert batch.input_format.format == "parquet" and batch.status == "loading"
    assert batch.tags["batchgate:bundleId"] == ["b-repeat"] and batch.tags["batchgate:sourceDataset"] == [
        "src-people"
    ]
    files = sorted(ctx.store.list_files(ORG, SANDBOX, batch.id), key=lambda f: f.name)
    assert [f.name for f in files] == ["part-00000.parquet", "part-00001.parquet"]
    with BundleReader(io.BytesIO(data)) as reader:
        for f, part in zip(files, reader.manifest.datasets[0].files, strict=True):
            copied = ctx.objects.get_bytes(f.key)
            assert hashlib.sha256(copied).hexdigest() == part.sha256 and len(copied) == f.size == part.bytes

    # Not every part validated: the import waits; then all are: every batch is completed.
    assert bundle_import.bundle_import_check(ctx, state)["final"] is False
    validated(ctx, batch.id)
    assert bundle_import.bundle_import_check(ctx, {**state, "check": {"polls": 1}}) == {
        "final": False,
        "polls": 2,
    }
    assert ctx.store.get_batch(ORG, SANDBOX, batch.id).status == "loaded", "COMPLETE was asked"
    assert record(ctx, state).phase == "landing"
    assert bundle_import.bundle_import_check(ctx, state)["final"] is False  # still landing
    set_batch(ctx, batch.id, "success")
    assert bundle_import.bundle_import_check(ctx, state)["final"] is True
    assert bundle_import.bundle_import_finish(ctx, state) == {"status": "imported"}
    done = record(ctx, state)
    assert (
        done.status == "imported" and done.bundle_id == "b-repeat" and done.message.startswith("1 dataset(s)")
    )

    # The same bundle again: the second import points at the first and makes nothing.
    again = start(ctx, data)
    assert bundle_import.bundle_import_verify(ctx, again) == {"done": True}
    second = record(ctx, again)
    assert (
        second.status == "imported"
        and second.duplicate_of == state["id"]
        and second.datasets == done.datasets
    )
    assert len(Datasets(ctx.store).named(USER, "people")) == 1


def test_a_refused_part_aborts_every_batch_and_deletes_the_datasets_the_import_made(ctx: TaskContext) -> None:
    existing = Datasets(ctx.store).create(USER, name="kept", schema=SCHEMA)
    data = bundle_bytes("b-refused", {"kept": [["a", "b"]], "made": [["c", "d"]]})
    state = start(ctx, data)
    bundle_import.bundle_import_verify(ctx, state)
    bundle_import.bundle_import_prepare(ctx, state)
    kept, made = record(ctx, state).datasets
    assert (kept.id, kept.created) == (existing.id, False) and made.created
    validated(ctx, kept.batch_id or "")
    validated(ctx, made.batch_id or "", failed_rows=1)
    assert bundle_import.bundle_import_check(ctx, state)["final"] is True, "refused before any COMPLETE"
    assert bundle_import.bundle_import_finish(ctx, state) == {"status": "failed"}
    failed = record(ctx, state)
    assert failed.status == "failed" and {e["dataset"] for e in failed.errors} == {"made"}
    assert "BG-BATCH-ROW-ERRORS" in {e["code"] for e in failed.errors}
    for entry in (kept, made):
        assert ctx.store.get_batch(ORG, SANDBOX, entry.batch_id or "").status == "aborted"
    assert [d.id for d in Datasets(ctx.store).named(USER, "kept")] == [existing.id], "an existing one stays"
    assert Datasets(ctx.store).named(USER, "made") == [], "the one the import made is deleted"
    assert "deleted" in failed.message and "aborted" in failed.message
    # The claim was released: the bundle can be imported again.
    assert BundleStore(ctx.settings.table_name).claim(ORG, SANDBOX, "b-refused", "another") == "another"


def test_a_conflict_is_found_before_anything_is_written(ctx: TaskContext) -> None:
    narrow = DatasetSchema.model_validate({"fields": [{"name": "id", "type": "integer"}]})
    Datasets(ctx.store).create(USER, name="people", schema=narrow)
    state = start(ctx, bundle_bytes("b-conflict", {"fresh": [["x"]], "people": [["a"]]}))
    assert step(ctx, bundle_import.bundle_import_verify, state) is None
    failed = record(ctx, state)
    assert failed.status == "failed" and failed.errors[-1]["code"] == "BG-409-BUNDLE-SCHEMA"
    assert "'people'" in failed.errors[-1]["message"] and failed.message.endswith("nothing had been imported")
    assert Datasets(ctx.store).named(USER, "fresh") == []
    Datasets(ctx.store).create(USER, name="people", schema=narrow)
    two = verify(io.BytesIO(bundle_bytes("b-two", {"people": [["a"]]})))
    with pytest.raises(Conflict, match="2 datasets of this sandbox have that name"):
        bundle_import.match_datasets(Datasets(ctx.store), USER, two)
