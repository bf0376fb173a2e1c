"""AEP fidelity against `batchgate up`: the guide's upsert patch with a required column outside
the patch; a dataset's schema changing under landed rows (PATCH evolves the Iceberg table in one
commit, old batches read the new columns as null, revert and replay work across the change); a
dataset deleted (the table dropped, GC takes the files)."""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests

from tests.e2e.stack import RunningStack
from tests.e2e.test_guide_flows import Flow, iceberg_rows, jsonl, parquet, people, run_gc

DATASETS = "/data/foundation/catalog/dataSets"
BASE = {
    "fields": [
        {"name": "id", "type": "string", "required": True},
        {"name": "n", "type": "integer", "minimum": 0},
        {"name": "kind", "type": "string", "enum": ["a", "b"]},
    ]
}


def with_fields(*extra: dict[str, Any], base: dict[str, Any] = BASE) -> dict[str, Any]:
    return {"fields": [*base["fields"], *extra]}


def patch(stack: RunningStack, ds: str, body: dict[str, Any]) -> requests.Response:
    return requests.patch(f"{stack.api}{DATASETS}/{ds}", headers=stack.headers(), json=body, timeout=60)


def delete(stack: RunningStack, ds: str) -> requests.Response:
    return requests.delete(f"{stack.api}{DATASETS}/{ds}", headers=stack.headers(), timeout=60)


@pytest.fixture(scope="module")
def flow(stack: RunningStack) -> Flow:
    return Flow(stack)


def test_a_column_added_then_used_then_a_revert_and_a_replay_across_it(
    flow: Flow, stack: RunningStack
) -> None:
    ds = flow.dataset("evolving", schema=BASE)
    before = flow.ingest(ds, jsonl([{"id": f"o{i}", "n": i, "kind": "a"} for i in range(3)]))
    assert before["status"] == "success", before

    r = patch(stack, ds, {"schema": with_fields({"name": "tier", "type": "string"})})
    assert r.status_code == 200, r.text
    assert [f["name"] for f in r.json()[ds]["schema"]["fields"]] == ["id", "n", "kind", "tier"]
    after = flow.ingest(ds, jsonl([{"id": f"t{i}", "n": i, "kind": "b", "tier": "gold"} for i in range(2)]))
    assert after["status"] == "success", after

    by_id = {r["id"]: r for r in flow.rows(ds)}
    assert by_id["o0"]["tier"] is None and by_id["t1"]["tier"] == "gold", (
        "old batches read the new column as null"
    )
    assert len(by_id) == 5

    # revert the batch landed before the change, then replay the later one: both across it
    assert flow.action(before["id"], "REVERT").status_code == 200
    stack.wait_batch(before["id"], {"inactive"})
    assert sorted(r["id"] for r in flow.rows(ds)) == ["t0", "t1"]
    replay = flow.ingest(
        ds,
        jsonl([{"id": "t0", "n": 9, "kind": "a", "tier": "silver"}]),
        replay={"predecessors": [after["id"]], "reason": "replace"},
    )
    assert replay["status"] == "success", replay
    assert [(r["id"], r["tier"]) for r in flow.rows(ds)] == [("t0", "silver")]
    table_rows = iceberg_rows(stack, ds)
    assert [(r["id"], r["tier"]) for r in table_rows] == [("t0", "silver")], "the table itself agrees"


def test_relaxed_rules_apply_to_the_next_batch(flow: Flow, stack: RunningStack) -> None:
    ds = flow.dataset("relaxing", schema=BASE)
    data = jsonl([{"id": "x", "n": -1, "kind": "c"}])
    assert flow.ingest(ds, data)["metrics"]["failedRecordCount"] == 1
    relaxed = {
        "fields": [
            {"name": "id", "type": "string"},
            {"name": "n", "type": "integer"},
            {"name": "kind", "type": "string", "enum": ["a", "b", "c"]},
        ]
    }
    assert patch(stack, ds, {"schema": relaxed}).status_code == 200
    done = flow.ingest(ds, data + jsonl([{"n": 1}]))
    assert done["status"] == "success" and done["metrics"]["outputRecordCount"] == 2, done


@pytest.mark.parametrize(
    ("schema", "named"),
    [
        ({"fields": BASE["fields"][:2]}, "kind: removing a column"),
        (
            with_fields({"name": "must", "type": "string", "required": True}),
            "must: a new column must be optional",
        ),
        (
            {"fields": [BASE["fields"][0], {"name": "n", "type": "string"}, BASE["fields"][2]]},
            "n: changing type integer to string",
        ),
        (
            {"fields": [*BASE["fields"][:2], {"name": "kind", "type": "string", "enum": ["a"]}]},
            "kind: removing enum values ['b']",
        ),
        (
            {
                "fields": [
                    BASE["fields"][0],
                    {"name": "n", "type": "integer", "minimum": 5},
                    BASE["fields"][2],
                ]
            },
            "n: narrowing minimum from 0 to 5",
        ),
    ],
)
def test_a_change_landed_rows_could_break_is_a_409_naming_the_field(
    flow: Flow, stack: RunningStack, schema: dict[str, Any], named: str
) -> None:
    ds = flow.dataset("narrowing", schema=BASE)
    r = patch(stack, ds, {"schema": schema})
    assert r.status_code == 409, r.text
    error = r.json()["error"]
    assert error["code"] == "BG-409-SCHEMA-CHANGE" and named in error["message"], error
    assert [f["name"] for f in stack.get(f"{DATASETS}/{ds}").json()[ds]["schema"]["fields"]] == [
        "id",
        "n",
        "kind",
    ]


def test_the_upsert_settings_cannot_change(flow: Flow, stack: RunningStack) -> None:
    ds = flow.dataset("fixed-upsert", schema=BASE)
    r = patch(stack, ds, {"tags": {"isUpsert": True, "identity": ["id"]}})
    assert r.status_code == 409 and "upsert" in r.json()["error"]["message"], r.text


def test_delete_refuses_an_open_batch_then_drops_the_table_and_gc_takes_the_files(
    flow: Flow, stack: RunningStack
) -> None:
    ds = flow.dataset("doomed", schema=BASE)
    landed = flow.ingest(ds, jsonl([{"id": "a", "n": 1}]))
    assert landed["status"] == "success"
    open_batch = flow.batch(ds)
    busy = delete(stack, ds)
    assert busy.status_code == 409 and busy.json()["error"]["code"] == "BG-409-DATASET-BUSY", busy.text
    assert open_batch in busy.json()["error"]["message"]
    assert flow.action(open_batch, "ABORT").status_code == 200

    r = delete(stack, ds)
    assert r.status_code == 204, r.text
    assert stack.get(f"{DATASETS}/{ds}").status_code == 404
    assert delete(stack, ds).status_code == 404
    assert stack.get(f"/data/foundation/export/datasets/{ds}/rows").status_code == 404
    gone = stack.post(
        "/data/foundation/import/batches", json={"datasetId": ds, "inputFormat": {"format": "json"}}
    )
    assert gone.status_code == 400 and gone.json()["error"]["code"] == "BG-400-UNKNOWN-DATASET", gone.text
    revert = flow.action(landed["id"], "REVERT")
    assert revert.status_code == 409 and revert.json()["error"]["code"] == "BG-409-DATASET-DELETED"
    assert (
        stack.get(f"/data/foundation/catalog/batches/{landed['id']}").json()[landed["id"]]["status"]
        == "success"
    )

    s3 = stack.s3()

    def files_of_dataset() -> list[str]:
        keys = []
        for prefix in (f"staged/local/prod/{ds}/", "warehouse/"):
            listing = s3.list_objects_v2(Bucket=stack.bucket, Prefix=prefix).get("Contents", [])
            keys += [o["Key"] for o in listing if not o["Key"].endswith("/")]
        return [k for k in keys if ds in k]

    assert files_of_dataset(), "the files stay until GC"
    output = run_gc(stack, expect_deleted=False)
    assert output["datasetsRemoved"] >= 1
    assert files_of_dataset() == []


def failed_records(stack: RunningStack, batch_id: str) -> list[dict[str, Any]]:
    listing = stack.get(f"/data/foundation/export/batches/{batch_id}/failed")
    assert listing.status_code == 200, listing.text
    out = []
    for f in listing.json()["data"]:
        r = stack.get(f"/data/foundation/export/files/{f['dataSetFileId']}", allow_redirects=True)
        assert r.status_code == 200, r.text
        out += [json.loads(line) for line in r.content.splitlines()]
    return out


UPSERT = {"isUpsert": True, "identity": ["id"]}


def test_the_guides_patch_leaves_a_required_column_alone_and_a_new_identity_must_be_whole(
    flow: Flow, stack: RunningStack
) -> None:
    ds = flow.dataset("patched", tags=UPSERT)  # PROFILE: email is required
    assert flow.ingest(ds, jsonl(people(3)))["status"] == "success"
    # the guide's patch: a Parquet file holding the fields to patch and the identity field
    patch_rows = [
        {"id": "p0", "tier": "silver"},
        {"id": "p1", "tier": "bronze"},
        {"id": "p9", "tier": "gold"},
    ]
    done = flow.ingest(ds, parquet(patch_rows), "patch.parquet", "parquet", partialIngestionPercentage=50)
    assert done["status"] == "success", done
    assert (done["metrics"]["inputRecordCount"], done["metrics"]["outputRecordCount"]) == (3, 2)
    assert done["metrics"]["failedRecordCount"] == 1
    rows = {r["id"]: r for r in flow.rows(ds)}
    assert set(rows) == {"p0", "p1", "p2"}, "the new identity without its email was refused"
    assert (rows["p0"]["tier"], rows["p0"]["email"]) == ("silver", "p0@example.com"), "email left alone"
    assert rows["p1"]["tier"] == "bronze" and rows["p2"]["tier"] == "gold"
    [refused] = failed_records(stack, done["id"])
    assert refused["_row"] == 2 and refused["_filename"] == "patch.parquet"
    assert refused["_values"] == {"id": "p9", "tier": "gold"}
    assert refused["_errors"][0]["code"] == "BG-ROW-REQUIRED" and refused["_errors"][0]["field"] == "email"
    sample = [e for e in done["errors"] if e.get("code") == "BG-ROW-REQUIRED"]
    assert sample and sample[0]["field"] == "email", done["errors"]


def test_an_update_may_not_clear_a_required_column_and_over_the_budget_nothing_lands(
    flow: Flow, stack: RunningStack
) -> None:
    ds = flow.dataset("cleared", tags=UPSERT)
    assert flow.ingest(ds, jsonl(people(2)))["status"] == "success"
    # the file carries email (p1 gives one), so p0's null would clear it
    data = jsonl(
        [{"id": "p0", "email": None, "tier": "silver"}, {"id": "p1", "email": "n@x.org", "tier": "bronze"}]
    )
    strict = flow.ingest(ds, data)  # partialIngestionPercentage 0: one refused row fails the batch
    assert strict["status"] == "failed", strict
    assert strict["metrics"]["failedRecordCount"] == 1 and strict["metrics"]["outputRecordCount"] == 1
    assert any("nothing was landed" in e["description"] for e in strict["errors"]), strict["errors"]
    assert {r["id"]: (r["email"], r["tier"]) for r in flow.rows(ds)} == {
        "p0": ("p0@example.com", "gold"),
        "p1": ("p1@example.com", "gold"),
    }, "nothing landed"
    [refused] = failed_records(stack, strict["id"])
    assert refused["_errors"][0]["field"] == "email" and "cannot clear" in refused["_errors"][0]["message"]
    # a CSV patch without the email column updates what it carries
    csv = flow.ingest(ds, b"id,tier\np1,silver\n", "tiers.csv", "csv")
    assert csv["status"] == "success", csv
    assert {r["id"]: (r["email"], r["tier"]) for r in flow.rows(ds)}["p1"] == ("p1@example.com", "silver")


def test_extra_columns_discard_warns_freeze_fails_evolve_adds_them(flow: Flow, stack: RunningStack) -> None:
    data = jsonl([{"id": "a", "n": 1, "note": "x"}, {"id": "b", "n": 2, "note": "y", "level": 3}])

    discard = flow.dataset("discarding", schema=BASE)
    done = flow.ingest(discard, data)
    assert done["status"] == "success", done
    [warning] = [e for e in done["errors"] if e["code"] == "BG-WARN-EXTRA-COLUMNS"]
    assert "level (1 rows)" in warning["description"] and "note (2 rows)" in warning["description"]
    assert set(flow.rows(discard)[0]) == {"id", "n", "kind", "_batch_id", "_source_file", "_source_row"}

    freeze = stack.post(DATASETS, json={"name": "frozen", "schema": BASE, "extraColumns": "freeze"})
    frozen = freeze.json()[0].split("/")[-1]
    failed = flow.ingest(frozen, data)
    assert failed["status"] == "failed", failed
    assert any(e["code"] == "BG-FILE-EXTRA-COLUMNS" and "note" in e["description"] for e in failed["errors"])
    assert (failed["metrics"]["inputRecordCount"], failed["metrics"]["failedRecordCount"]) == (2, 2)
    assert stack.get(f"/data/foundation/export/datasets/{frozen}/rows").json()["data"] == []

    evolving = flow.dataset("evolving-by-files", schema=BASE)
    first = flow.ingest(evolving, jsonl([{"id": "old", "n": 0}]))
    assert first["status"] == "success"
    assert patch(stack, evolving, {"extraColumns": "evolve"}).json()[evolving]["extraColumns"] == "evolve"
    by_json = flow.ingest(evolving, data)
    assert by_json["status"] == "success", by_json
    csv = flow.ingest(evolving, b"id,n,score\nc,3,1.5\n", "more.csv", "csv")
    assert csv["status"] == "success", csv
    fields = {f["name"]: f for f in stack.get(f"{DATASETS}/{evolving}").json()[evolving]["schema"]["fields"]}
    assert (fields["note"]["type"], fields["level"]["type"], fields["score"]["type"]) == (
        "string",
        "integer",
        "number",
    )
    assert not any(fields[c].get("required") for c in ("note", "level", "score"))
    rows = {r["id"]: r for r in iceberg_rows(stack, evolving)}
    assert (rows["old"]["note"], rows["b"]["level"], rows["c"]["score"]) == (None, 3, 1.5)
    assert rows["a"]["note"] == "x" and rows["a"]["level"] is None


def test_scripts_written_from_the_guide_work_as_written(flow: Flow, stack: RunningStack) -> None:
    """schemaRef to a registered JSON Schema, the unifiedProfile upsert form alone, chunks sent as
    'bytes a-b' without a total, and '?action=complete' in lower case."""
    json_schema = {
        "title": "profiles",
        "type": "object",
        "properties": {
            "id": {"type": "string", "identity": True},
            "email": {"type": "string", "pattern": "^[^@]+@[^@]+$"},
            "seen": {"type": "string", "format": "date-time"},
        },
        "required": ["id"],
    }
    registered = stack.post("/data/foundation/schemaregistry/tenant/schemas", json=json_schema)
    assert registered.status_code == 201, registered.text
    ref = {"id": registered.json()["$id"], "contentType": "application/vnd.adobe.xed-full+json;version=1"}
    body = {"name": "guide", "schemaRef": ref, "tags": {"unifiedProfile": ["enabled:true", "isUpsert:true"]}}
    created = stack.post(DATASETS, json=body)
    assert created.status_code == 201, created.text
    ds = created.json()[0].split("/")[-1]
    shown = stack.get(f"{DATASETS}/{ds}").json()[ds]
    assert (
        shown["schemaRef"] == ref
        and shown["tags"]["identity"] == ["id"]
        and shown["tags"]["isUpsert"] is True
    )

    bid = flow.batch(ds)
    path = f"/data/foundation/import/batches/{bid}/datasets/{ds}/files/big.json"
    assert stack.post(path + "?action=initialize").status_code == 201
    data = jsonl(
        [{"id": f"g{i}", "email": f"g{i}@x.org", "seen": "2026-11-30T10:00:00Z"} for i in range(300)]
    )
    step = len(data) // 3 + 1
    for start in range(0, len(data), step):
        chunk = data[start : start + step]
        r = stack.patch(path, chunk, content_range=f"bytes {start}-{start + len(chunk) - 1}")
        assert r.status_code == 200, r.text
    assert stack.post(path + "?action=complete").status_code in (200, 201)
    assert stack.post(f"/data/foundation/import/batches/{bid}?action=complete").status_code == 200
    done = stack.wait_batch(bid, {"success", "failed"})
    assert done["status"] == "success" and done["metrics"]["outputRecordCount"] == 300, done
    # the upsert identity from the schema: the same ids again update, not duplicate
    again = flow.ingest(ds, jsonl([{"id": "g0", "email": "new@x.org"}]))
    assert again["status"] == "success"
    rows = {r["id"]: r for r in flow.rows(ds)}
    assert len(rows) == 300 and rows["g0"]["email"] == "new@x.org"
