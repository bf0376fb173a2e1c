"""S3 events are at-least-once and unordered; validation must be exactly-once per object version.

Runs the validators' business logic (``batchgate.ingest.router.Ingestor``) against moto's server with
the table and bucket template.yaml declares, delivering events by hand so their order is ours.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from batchgate.aws.clients import client
from batchgate.aws.store import Store
from batchgate.core.keys import inbox_batch_id, staged_prefix, upload_key
from batchgate.core.models import Batch, Dataset
from batchgate.ingest.messages import ObjectEvent, S3RecordModel
from batchgate.ingest.results import record_result
from batchgate.ingest.router import Ingestor
from batchgate.validation import FileResult, outputs, runner
from tests.conftest import TemplateAws
from tests.integration.helpers import new_batch

SCHEMA = {"fields": [{"name": "id", "type": "string", "required": True}, {"name": "n", "type": "integer"}]}


@pytest.fixture
def ingest(module_aws: TemplateAws) -> tuple[Ingestor, Store]:
    return Ingestor(module_aws.settings, module_aws.store), module_aws.store


def setup_batch(store: Store, batch_id: str) -> tuple[Batch, Dataset]:
    return new_batch(store, batch_id, SCHEMA)


def put(key: str, body: bytes) -> dict[str, Any]:
    resp: dict[str, Any] = client("s3").put_object(Bucket="batchgate-uploads", Key=key, Body=body)
    return resp


def event(key: str, etag: str, sequencer: str, size: int = 10, version: str | None = None) -> ObjectEvent:
    obj: dict[str, Any] = {"key": key.replace(" ", "+"), "eTag": etag, "size": size, "sequencer": sequencer}
    if version is not None:
        obj["versionId"] = version
    record = {
        "eventName": "ObjectCreated:Put",
        "s3": {"bucket": {"name": "batchgate-uploads"}, "object": obj},
    }
    return ObjectEvent.from_record(S3RecordModel.model_validate(record))


def lines(n: int, bad: int = 0) -> bytes:
    rows = [json.dumps({"id": f"r{i}", "n": i}) for i in range(n)] + ['{"id": "x", "n": "nope"}'] * bad
    return ("\n".join(rows) + "\n").encode()


def staged_keys(b: Batch) -> list[str]:
    resp = client("s3").list_objects_v2(
        Bucket="batchgate-uploads", Prefix=staged_prefix(b.org, b.sandbox, b.dataset_id, b.id)
    )
    # not the empty "dir/" markers pyarrow's S3 filesystem leaves behind
    return sorted(o["Key"] for o in resp.get("Contents", []) if not o["Key"].endswith("/"))


def test_duplicate_event_changes_nothing(ingest: tuple[Ingestor, Store]) -> None:
    ingestor, store = ingest
    b, ds = setup_batch(store, "dup")
    key = upload_key("json", "o", "s", ds.id, b.id, "a file.json")
    etag = put(key, lines(5))["ETag"].strip('"')
    ev = event(key, etag, "0A")
    assert ingestor.handle(ev, "json") == "validated"
    first = store.get_file("o", "s", b.id, "a file.json")
    assert first is not None and first.output_record_count == 5
    assert ingestor.handle(ev, "json") == "duplicate"
    assert store.get_file("o", "s", b.id, "a file.json") == first, "the repeat wrote nothing"


def test_out_of_order_events_keep_the_newest_version(ingest: tuple[Ingestor, Store]) -> None:
    ingestor, store = ingest
    b, ds = setup_batch(store, "ooo")
    key = upload_key("json", "o", "s", ds.id, b.id, "f.json")
    old_etag = put(key, lines(3))["ETag"].strip('"')
    new_etag = put(key, lines(7, bad=1))["ETag"].strip('"')
    # the newer version's event arrives first, then the older one's
    assert ingestor.handle(event(key, new_etag, "0000B2"), "json") == "validated"
    assert ingestor.handle(event(key, old_etag, "0000B1"), "json") == "stale"
    f = store.get_file("o", "s", b.id, "f.json")
    assert f is not None
    assert (f.input_record_count, f.output_record_count, f.failed_record_count) == (8, 7, 1)
    assert f.etag == new_etag


def test_an_older_result_never_overwrites_a_newer_one(ingest: tuple[Ingestor, Store]) -> None:
    """Two validations racing on two versions: the older finishing last is refused by sequencer."""
    ingestor, store = ingest
    b, ds = setup_batch(store, "race")
    key = upload_key("json", "o", "s", ds.id, b.id, "f.json")
    etag = put(key, lines(4))["ETag"].strip('"')
    assert ingestor.handle(event(key, etag, "00000C9"), "json") == "validated"
    result = FileResult(input_record_count=1, output_record_count=1)
    assert record_result(store, event(key, etag, "00000C1"), b, "f.json", result) == "duplicate"
    f = store.get_file("o", "s", b.id, "f.json")
    assert f is not None and f.input_record_count == 4


@pytest.mark.parametrize("step", ["process", "commit"])  # on a worker thread / on the writing thread
def test_crash_mid_file_leaves_nothing_visible_and_the_retry_lands_once(
    ingest: tuple[Ingestor, Store], monkeypatch: pytest.MonkeyPatch, step: str
) -> None:
    ingestor, store = ingest
    b, ds = setup_batch(store, f"crash-{step}")
    key = upload_key("json", "o", "s", ds.id, b.id, "big.json")
    etag = put(key, lines(30_000))["ETag"].strip('"')
    real_step = getattr(runner.FileRun, step)
    calls = {"n": 0}

    def crashing_step(self: Any, item: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("simulated crash in the middle of the file")
        return real_step(self, item)

    monkeypatch.setattr(runner.FileRun, step, crashing_step)
    real_validate = runner.validate_file
    monkeypatch.setattr(
        "batchgate.ingest.validate.validate_file",
        lambda **kw: real_validate(**{**kw, "block_size": 64 << 10}),
    )
    ev = event(key, etag, "0D")
    with pytest.raises(RuntimeError, match="simulated crash"):
        ingestor.handle(ev, "json")  # the exception makes SQS deliver the event again
    assert [k for k in staged_keys(b) if not k.endswith(".tmp")] == [], (
        "no half-written output where readers look"
    )
    f = store.get_file("o", "s", b.id, "big.json")
    assert f is None or f.status not in ("validated", "failed")
    monkeypatch.setattr(runner.FileRun, step, real_step)
    assert ingestor.handle(ev, "json") == "validated"
    f = store.get_file("o", "s", b.id, "big.json")
    assert f is not None and f.output_record_count == 30_000
    visible = [k for k in staged_keys(b) if not k.endswith(".tmp")]
    assert visible == sorted(f.staged_keys), "exactly the retry's outputs are visible"


def test_staged_parquet_is_written_in_place_under_its_attempts_own_name(
    ingest: tuple[Ingestor, Store], monkeypatch: pytest.MonkeyPatch
) -> None:
    """On S3 the staged file is not copied from a temporary key: it is uploaded once, under a
    name of its attempt's own. Two attempts on one file (a duplicate event in flight) never
    share a key, so the one that fails deletes only what it wrote."""
    import re

    ingestor, store = ingest
    b, ds = setup_batch(store, "in-place")
    key = upload_key("json", "o", "s", ds.id, b.id, "f.json")
    etag = put(key, lines(40_000))["ETag"].strip('"')
    assert ingestor.handle(event(key, etag, "0C1"), "json") == "validated"
    f = store.get_file("o", "s", b.id, "f.json")
    assert f is not None and len(f.staged_keys) == 1
    (good,) = f.staged_keys
    assert re.search(r"-p00000\.[0-9a-f]{32}\.parquet$", good), good
    assert staged_keys(b) == [good], "no temporary key, no copy"

    # a second attempt on the same file fails after its rows were written: its own object goes,
    # the first attempt's stays
    real_commit = runner.FileRun.commit
    calls = {"n": 0}

    def failing_late(self: Any, outcome: Any) -> None:
        calls["n"] += 1
        real_commit(self, outcome)
        if calls["n"] == 3:
            raise RuntimeError("simulated failure after rows were staged")

    monkeypatch.setattr(runner.FileRun, "commit", failing_late)
    # small row groups, so the failing attempt has opened its upload and written to it
    monkeypatch.setattr(
        outputs.StagedWriter.__init__,
        "__kwdefaults__",
        {"row_group_rows": 1000, "row_group_bytes": 16 << 20, "encoders": None},
    )
    opened: list[bool] = []
    real_discard = outputs._Atomic.discard

    def discard(self: Any) -> None:
        opened.append(self.stream is not None and self.in_place)
        real_discard(self)

    monkeypatch.setattr(outputs._Atomic, "discard", discard)
    real_validate = runner.validate_file
    monkeypatch.setattr(
        "batchgate.ingest.validate.validate_file",
        lambda **kw: real_validate(**{**kw, "block_size": 64 << 10}),
    )
    with pytest.raises(RuntimeError, match="simulated failure"):
        ingestor.handle(event(key, etag, "0C2"), "json")
    assert opened[0], "the failing attempt had its own upload open"
    assert staged_keys(b) == [good]
    assert client("s3").head_object(Bucket="batchgate-uploads", Key=good)["ContentLength"] > 0


def test_inbox_drop_of_unknown_dataset_is_a_failed_batch(ingest: tuple[Ingestor, Store]) -> None:
    ingestor, store = ingest
    key = "inbox/o/s/missing-dataset/people.json"
    put_resp = put(key, lines(2))
    etag = put_resp["ETag"].strip('"')
    assert ingestor.handle(event(key, etag, "0E"), "json").startswith("inbox-failed:")
    b = store.get_batch("o", "s", inbox_batch_id(key, put_resp["VersionId"]))
    assert b.status == "failed" and b.errors[0].code == "BG-INBOX-DATASET"
    assert ingestor.handle(event(key, etag, "0E"), "json") == f"inbox:{b.id}", "a duplicate changes nothing"


def test_inbox_drop_with_unknown_suffix_is_a_failed_batch(ingest: tuple[Ingestor, Store]) -> None:
    ingestor, store = ingest
    _, ds = setup_batch(store, "suffix")
    key = f"inbox/o/s/{ds.id}/notes.txt"
    put_resp = put(key, b"hello")
    ingestor.handle(event(key, put_resp["ETag"].strip('"'), "0F"), "sweep")
    b = store.get_batch("o", "s", inbox_batch_id(key, put_resp["VersionId"]))
    assert b.status == "failed" and b.errors[0].code == "BG-INBOX-SUFFIX"


@pytest.mark.parametrize("name", ["../x.json", "sub/./x.json", "a//b.json"])
def test_inbox_drop_with_dot_segments_is_a_failed_batch_with_a_clear_code(
    ingest: tuple[Ingestor, Store], name: str
) -> None:
    """`.`, `..` and empty segments in a drop's name used to crash the validator five times (the
    object store normalises the path, the object is "not found") and leave the batch loading."""
    ingestor, store = ingest
    _, ds = setup_batch(store, f"dots-{name.encode().hex()}")
    key = f"inbox/o/s/{ds.id}/{name}"
    put_resp = put(key, lines(2))
    outcome = ingestor.handle(event(key, put_resp["ETag"].strip('"'), "11"), "json")
    b = store.get_batch("o", "s", inbox_batch_id(key, put_resp["VersionId"]))
    assert outcome == f"inbox-failed:{b.id}"
    assert (
        b.status == "failed" and b.errors[0].code == "BG-INBOX-FILE-NAME" and name in b.errors[0].description
    )


def test_a_re_upload_of_the_same_bytes_is_a_new_batch_and_a_repeated_event_is_not(
    ingest: tuple[Ingestor, Store],
) -> None:
    """A drop's batch is named after the object version: the same bytes put again are a new
    version (a deliberate re-upload), a repeated event of one version is a duplicate. (The
    dataset does not exist, so each batch ends failed at once, with no completion to run.)"""
    ingestor, store = ingest
    key = "inbox/o/s/no-such-dataset/again.json"
    first = put(key, lines(3))
    etag = first["ETag"].strip('"')
    one_id = inbox_batch_id(key, first["VersionId"])
    assert ingestor.handle(event(key, etag, "12"), "json") == f"inbox-failed:{one_id}"
    assert ingestor.handle(event(key, etag, "12"), "json") == f"inbox:{one_id}", (
        "a repeated event finds its batch"
    )
    second = put(key, lines(3))  # the same bytes again
    assert second["ETag"] == first["ETag"] and second["VersionId"] != first["VersionId"]
    two_id = inbox_batch_id(key, second["VersionId"])
    assert ingestor.handle(event(key, etag, "13"), "json") == f"inbox-failed:{two_id}"
    two = store.get_batch("o", "s", two_id)
    assert two_id != one_id and two.source_key == key and two.source_version == second["VersionId"]


def test_a_drop_overwritten_before_its_event_is_handled_is_still_its_own_batch(
    module_aws: TemplateAws,
) -> None:
    """S3 names the version in every event of a versioned bucket: the first of two quick puts of
    one key is read from that version (copied aside) and lands as a batch of its own."""
    from dataclasses import replace

    machines = module_aws.state_machines()  # recorded, not run: the test checks the batch is completed
    settings = replace(module_aws.settings, complete_state_machine_arn=machines["CompleteStateMachine"])
    store = module_aws.store
    ingestor = Ingestor(settings, store)
    _, ds = setup_batch(store, "overwritten")
    key = f"inbox/o/s/{ds.id}/daily.json"
    first, second = put(key, lines(3)), put(key, lines(3))
    etag = first["ETag"].strip('"')
    for resp, seq in ((first, "20"), (second, "21")):
        assert ingestor.handle(event(key, etag, seq, version=resp["VersionId"]), "json").startswith("inbox:")
    for resp in (first, second):
        b = store.get_batch("o", "s", inbox_batch_id(key, resp["VersionId"]))
        [f] = store.list_files("o", "s", b.id)
        assert b.status == "loaded" and f.output_record_count == 3, (b, f)
    [older] = store.list_files("o", "s", inbox_batch_id(key, first["VersionId"]))
    assert older.key.startswith("drops/o/s/"), "the older version was read from its copy"


def test_file_of_a_closed_batch_is_not_validated(ingest: tuple[Ingestor, Store]) -> None:
    ingestor, store = ingest
    b, ds = setup_batch(store, "closed")
    store.save_batch(
        b.model_copy(update={"status": "aborted"}), expected_status="loading", expected_version=1
    )
    key = upload_key("json", "o", "s", ds.id, b.id, "late.json")
    etag = put(key, lines(1))["ETag"].strip('"')
    assert ingestor.handle(event(key, etag, "10"), "json") == "batch-closed"
    assert store.get_file("o", "s", b.id, "late.json") is None
