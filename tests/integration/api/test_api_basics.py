"""Datasets, batches, single PUT uploads and batch actions through the API function."""

from __future__ import annotations

import hashlib

import pytest

from tests.conftest import refresh_process_state
from tests.integration.api.harness import BUCKET, Api, Aws, Creds, event_template

DATASETS = "/data/foundation/catalog/dataSets"
CATALOG = "/data/foundation/catalog/batches"
IMPORT = "/data/foundation/import/batches"


def test_dataset_create_get_list(api: Api) -> None:
    ds_id = api.create_dataset(tags={"isUpsert": True, "identity": ["id"]})
    got = api.call("GET", f"{DATASETS}/{ds_id}")
    assert got.status == 200
    body = got.json()[ds_id]
    assert body["name"] == "profiles" and body["imsOrg"] == "acme" and body["tags"]["isUpsert"] is True
    assert body["schema"]["fields"][0] == {"name": "id", "type": "string", "required": True}
    listed = api.call("GET", DATASETS, query={"limit": "10"})
    assert list(listed.json()) == [ds_id]


def test_dataset_schema_errors_are_400_with_field(api: Api) -> None:
    bad = {"name": "x", "schema": {"fields": [{"name": "a", "type": "integer", "pattern": "x"}]}}
    r = api.call("POST", DATASETS, json_body=bad)
    assert r.status == 400 and r.error_code == "BG-400-INVALID"
    assert "'pattern' applies to strings only" in r.json()["error"]["message"]
    upsert = {
        "name": "x",
        "schema": {"fields": [{"name": "a", "type": "string"}]},
        "tags": {"isUpsert": True},
    }
    r = api.call("POST", DATASETS, json_body=upsert)
    assert r.status == 400 and "identity" in r.json()["error"]["message"]
    xdm = {"name": "x", "schemaRef": {"id": "https://ns.adobe.com/t/schemas/1"}}
    r = api.call("POST", DATASETS, json_body=xdm)
    assert r.status == 400 and r.error_code == "BG-400-SCHEMA-REF"


def test_invalid_json_body_is_400_not_422(api: Api) -> None:
    ev = api.event("POST", DATASETS, json_body={})
    ev["body"] = "{not json"
    r = api.invoke(ev)
    assert r.status == 400 and r.error_code == "BG-400-INVALID" and "JSON" in r.json()["error"]["message"]
    assert r.json()["error"]["requestId"] == ev["requestContext"]["requestId"]


def test_batch_create_matches_aep_shape(api: Api) -> None:
    ds_id = api.create_dataset()
    batch = api.create_batch(ds_id, "csv", inputFormat={"format": "csv", "delimiter": ";"})
    assert batch["status"] == "loading" and batch["imsOrg"] == "acme"
    assert batch["relatedObjects"] == [{"type": "dataSet", "id": ds_id}]
    assert batch["createdUser"] == "alice@acme" and batch["inputFormat"]["delimiter"] == ";"
    for path in (f"{IMPORT}/{batch['id']}",):
        assert api.call("GET", path).json()["id"] == batch["id"]
    assert api.call("GET", f"{CATALOG}/{batch['id']}").json()[batch["id"]]["status"] == "loading"


def test_batch_create_refuses_unknown_dataset_and_bad_format(api: Api) -> None:
    r = api.call("POST", IMPORT, json_body={"datasetId": "nope", "inputFormat": {"format": "json"}})
    assert r.status == 400 and r.error_code == "BG-400-UNKNOWN-DATASET"
    ds_id = api.create_dataset()
    r = api.call("POST", IMPORT, json_body={"datasetId": ds_id, "inputFormat": {"format": "xml"}})
    assert r.status == 400 and "inputFormat.format" in r.json()["error"]["message"]


def test_replay_predecessors_must_be_successful_same_dataset_same_tenant(
    api: Api, other_api: Api, aws: Aws
) -> None:
    ds_id, ds2 = api.create_dataset(), api.create_dataset()
    loading = api.create_batch(ds_id)["id"]
    other_ds = other_api.create_dataset()
    foreign = other_api.create_batch(other_ds)["id"]
    wrong_ds = api.create_batch(ds2)["id"]
    for pred, fragment in ((loading, "'loading'"), (foreign, "not found"), (wrong_ds, "belongs to dataset")):
        r = api.call(
            "POST",
            IMPORT,
            json_body={
                "datasetId": ds_id,
                "inputFormat": {"format": "json"},
                "replay": {"predecessors": [pred]},
            },
        )
        assert (
            r.status == 400 and r.error_code == "BG-400-REPLAY" and fragment in r.json()["error"]["message"]
        )
    # make `loading` a success batch the way the complete state machine would
    b = aws.store.get_batch("acme", "prod", loading)
    aws.store.save_batch(
        b.model_copy(update={"status": "success"}), expected_status="loading", expected_version=b.version
    )
    ok = api.create_batch(ds_id, replay={"predecessors": [loading], "reason": "replace"})
    assert ok["replay"] == {"predecessors": [loading], "reason": "replace"}


def test_put_upload_writes_item_then_object(api: Api, aws: Aws) -> None:
    ds_id = api.create_dataset()
    b = api.create_batch(ds_id)["id"]
    data = b'{"id": "1"}\n'
    r = api.put_file(b, ds_id, "part-1.json", data)
    assert r.status == 200
    f = aws.store.get_file("acme", "prod", b, "part-1.json")
    assert f is not None and f.status == "uploading" and f.size == len(data)
    assert f.etag == hashlib.md5(data).hexdigest()
    assert f.key == f"uploads/json/acme/prod/{ds_id}/{b}/part-1.json"
    assert aws.s3.get_object(Bucket=BUCKET, Key=f.key)["Body"].read() == data


def test_put_name_with_subfolder_and_gzip(api: Api, aws: Aws) -> None:
    ds_id = api.create_dataset()
    b = api.create_batch(ds_id, "csv")["id"]
    assert api.put_file(b, ds_id, "2026/11/day.csv.gz", b"\x1f\x8b").status == 200
    head = aws.s3.head_object(Bucket=BUCKET, Key=f"uploads/csv/acme/prod/{ds_id}/{b}/2026/11/day.csv.gz")
    assert head["ContentType"] == "application/gzip" and "ContentEncoding" not in head


def test_duplicate_name_409_identical_retry_200(api: Api, aws: Aws) -> None:
    ds_id = api.create_dataset()
    b = api.create_batch(ds_id)["id"]
    assert api.put_file(b, ds_id, "a.json", b"one").status == 200
    assert api.put_file(b, ds_id, "a.json", b"one").status == 200
    r = api.put_file(b, ds_id, "a.json", b"two")
    assert r.status == 409 and r.error_code == "BG-409-FILE-EXISTS"
    # a retry after the first object never landed re-puts it
    key = f"uploads/json/acme/prod/{ds_id}/{b}/a.json"
    aws.s3.delete_object(Bucket=BUCKET, Key=key)
    assert api.put_file(b, ds_id, "a.json", b"one").status == 200
    assert aws.s3.get_object(Bucket=BUCKET, Key=key)["Body"].read() == b"one"


def test_put_limits(api: Api) -> None:
    from tests.integration.api.harness import SINGLE_PUT_MAX

    ds_id = api.create_dataset()
    b = api.create_batch(ds_id)["id"]
    r = api.put_file(b, ds_id, "big.json", b"x" * (SINGLE_PUT_MAX + 1))
    assert r.status == 413 and "PRESIGN" in r.json()["error"]["message"]
    r = api.put_file(b, ds_id, "a.json", b"x", headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert r.status == 415 and r.error_code == "BG-415-CONTENT-TYPE"


@pytest.mark.parametrize(
    "name",
    ["..", "a/../b.json", "./a.json", "/etc/passwd", "a//b.json", "a\\b.json", "bad\x01name.json", "x" * 300],
)
def test_file_name_tricks_are_400(api: Api, name: str) -> None:
    ds_id = api.create_dataset()
    b = api.create_batch(ds_id)["id"]
    r = api.call("PUT", f"{IMPORT}/{b}/datasets/{ds_id}/files/{name}", data=b"x")
    assert r.status == 400 and r.error_code == "BG-400-FILE-NAME", (name, r.body)


def test_complete_twice_is_200_with_one_execution(api: Api, aws: Aws) -> None:
    ds_id = api.create_dataset()
    b = api.create_batch(ds_id)["id"]
    api.put_file(b, ds_id, "a.json", b"{}\n")
    first, second = api.action(b, "COMPLETE"), api.action(b, "COMPLETE")
    assert (first.status, second.status) == (200, 200)
    assert first.json()["status"] == "loaded" == second.json()["status"]
    execs = aws.executions("COMPLETE")
    assert [e["name"] for e in execs] == [f"complete-{b}"]
    stored = aws.store.get_batch("acme", "prod", b)
    assert stored.execution_arn == execs[0]["executionArn"]
    import json

    desc = aws.sfn.describe_execution(executionArn=execs[0]["executionArn"])
    assert json.loads(desc["input"]) == {"org": "acme", "sandbox": "prod", "batchId": b, "datasetId": ds_id}


def test_upload_after_complete_is_409(api: Api) -> None:
    ds_id = api.create_dataset()
    b = api.create_batch(ds_id)["id"]
    api.action(b, "COMPLETE")
    r = api.put_file(b, ds_id, "late.json", b"{}")
    assert r.status == 409 and r.error_code == "BG-409-BATCH-NOT-LOADING"


def test_abort_stops_complete_execution_and_starts_abort(api: Api, aws: Aws) -> None:
    ds_id = api.create_dataset()
    b = api.create_batch(ds_id)["id"]
    api.action(b, "COMPLETE")
    r = api.action(b, "ABORT")
    assert r.status == 200 and r.json()["status"] == "aborted"
    assert aws.executions("COMPLETE")[0]["status"] == "ABORTED"
    assert [e["name"] for e in aws.executions("ABORT")] == [f"abort-{b}"]
    assert api.action(b, "ABORT").status == 200  # idempotent
    r = api.action(b, "COMPLETE")
    assert r.status == 409 and r.error_code == "BG-409-COMPLETE-NOT-ALLOWED"


def test_revert_only_from_success_and_starts_machine(api: Api, aws: Aws) -> None:
    ds_id = api.create_dataset()
    b = api.create_batch(ds_id)["id"]
    r = api.action(b, "REVERT")
    assert r.status == 409 and r.error_code == "BG-409-REVERT-NOT-ALLOWED"
    stored = aws.store.get_batch("acme", "prod", b)
    aws.store.save_batch(
        stored.model_copy(update={"status": "success"}), expected_status="loading", expected_version=1
    )
    first, again = api.action(b, "REVERT"), api.action(b, "REVERT")
    assert (first.status, again.status) == (200, 200)
    assert first.json()["status"] == "success"  # the revert machine flips it after its commit
    assert [e["name"] for e in aws.executions("REVERT")] == [
        f"revert-{b}-v2"
    ]  # named after the version it started from


def test_revert_can_be_asked_again_after_a_failed_run(api: Api, aws: Aws) -> None:
    ds_id = api.create_dataset()
    b = api.create_batch(ds_id)["id"]
    stored = aws.store.get_batch("acme", "prod", b)
    aws.store.save_batch(
        stored.model_copy(update={"status": "success"}), expected_status="loading", expected_version=1
    )
    assert api.action(b, "REVERT").status == 200
    # what the revert machine's failure path does: record the error, clear the execution
    failed = aws.store.get_batch("acme", "prod", b)
    aws.store.save_batch(
        failed.model_copy(update={"execution_arn": None}),
        expected_status="success",
        expected_version=failed.version,
    )
    assert api.action(b, "REVERT").status == 200
    names = sorted(e["name"] for e in aws.executions("REVERT"))
    assert len(names) == 2 and len(set(names)) == 2, names


def test_complete_of_a_stalled_batch_starts_a_new_attempt(api: Api, aws: Aws) -> None:
    ds_id = api.create_dataset()
    b = api.create_batch(ds_id)["id"]
    assert api.action(b, "COMPLETE").status == 200
    loaded = aws.store.get_batch("acme", "prod", b)
    aws.store.save_batch(
        loaded.model_copy(update={"status": "stalled"}),
        expected_status="loaded",
        expected_version=loaded.version,
    )
    r = api.action(b, "COMPLETE")
    assert r.status == 200 and r.json()["status"] == "loaded"
    names = sorted(e["name"] for e in aws.executions("COMPLETE"))
    assert len(names) == 2 and names[0] == f"complete-{b}", names


def test_unknown_action_is_400(api: Api) -> None:
    ds_id = api.create_dataset()
    b = api.create_batch(ds_id)["id"]
    r = api.action(b, "EXPLODE")
    assert r.status == 400 and "action" in r.json()["error"]["message"]


def test_missing_state_machine_is_503_and_changes_nothing(
    api: Api, aws: Aws, monkeypatch: pytest.MonkeyPatch
) -> None:
    ds_id = api.create_dataset()
    b = api.create_batch(ds_id)["id"]
    monkeypatch.delenv("BATCHGATE_COMPLETE_SM")
    refresh_process_state()
    r = api.action(b, "COMPLETE")
    assert (
        r.status == 503
        and r.error_code == "BG-503-NOT-CONFIGURED"
        and "BATCHGATE_COMPLETE_SM" in r.body.decode()
    )
    assert aws.store.get_batch("acme", "prod", b).status == "loading"


def test_complete_refuses_files_without_data(api: Api) -> None:
    ds_id = api.create_dataset()
    b = api.create_batch(ds_id)["id"]
    assert api.call("POST", api.file_path(b, ds_id, "big.json"), query={"action": "INITIALIZE"}).status == 201
    r = api.action(b, "COMPLETE")
    assert r.status == 409 and r.error_code == "BG-409-FILES-INCOMPLETE" and "big.json" in r.body.decode()


def test_list_batches_filters_and_order(api: Api) -> None:
    ds1, ds2 = api.create_dataset(), api.create_dataset()
    ids = [api.create_batch(ds1)["id"], api.create_batch(ds2)["id"], api.create_batch(ds1)["id"]]
    api.action(ids[0], "ABORT")
    listed = api.call("GET", CATALOG).json()
    assert set(listed) == set(ids)
    asc = api.call("GET", CATALOG, query={"orderBy": "asc:created"}).json()
    created = [v["created"] for v in asc.values()]
    assert created == sorted(created)
    assert set(api.call("GET", CATALOG, query={"dataSet": ds1}).json()) == {ids[0], ids[2]}
    assert set(api.call("GET", CATALOG, query={"status": "aborted"}).json()) == {ids[0]}
    assert len(api.call("GET", CATALOG, query={"limit": "1", "start": "1"}).json()) == 1
    first = asc[ids[0]]["created"]
    after = api.call("GET", CATALOG, query={"createdAfter": str(first), "orderBy": "asc:created"}).json()
    assert ids[0] not in after
    for bad in (
        {"limit": "101"},
        {"limit": "0"},
        {"orderBy": "size"},
        {"createdAfter": "yesterday"},
        {"status": "done"},
    ):
        r = api.call("GET", CATALOG, query=bad)
        assert r.status == 400 and r.error_code == "BG-400-INVALID", bad


def test_time_filters_page_by_key_both_ways_and_stay_exclusive(api: Api) -> None:
    """The dashboard pages with createdBefore / createdAfter (keyset paging): bounds exclusive,
    for the sandbox and one dataset, and an empty window between two adjacent milliseconds."""
    ds = api.create_dataset()
    for _ in range(5):
        api.create_batch(ds)
    for query in ({}, {"dataSet": ds}):
        newest = list(api.call("GET", CATALOG, query={**query, "limit": "2"}).json().values())
        every = api.call("GET", CATALOG, query=query).json().values()
        order = [b["id"] for b in sorted(every, key=lambda b: (b["created"], b["id"]), reverse=True)]
        assert [b["id"] for b in newest] == order[:2]
        older = api.call(
            "GET", CATALOG, query={**query, "limit": "2", "createdBefore": str(newest[-1]["created"])}
        )
        older_ids = list(older.json())
        assert older_ids and newest[-1]["id"] not in older_ids and set(older_ids) <= set(order[1:])
        oldest = min(b["created"] for b in older.json().values())
        newer = api.call(
            "GET",
            CATALOG,
            query={**query, "orderBy": "asc:created", "createdAfter": str(oldest), "limit": "10"},
        ).json()
        assert all(b["created"] > oldest for b in newer.values()) and newest[-1]["id"] in newer
        t = newest[0]["created"]
        assert (
            api.call(
                "GET", CATALOG, query={**query, "createdAfter": str(t), "createdBefore": str(t + 1)}
            ).json()
            == {}
        )
        both = api.call(
            "GET", CATALOG, query={**query, "createdAfter": str(t - 1), "createdBefore": str(t + 1)}
        ).json()
        assert newest[0]["id"] in both


def test_unknown_route_is_json_404(api: Api) -> None:
    r = api.call("GET", "/nothing/here")
    assert r.status == 404 and r.error_code == "BG-404-ROUTE"


# -- auth and tenancy ----------------------------------------------------------------------
def test_401_without_or_with_bad_credentials(api: Api, keys: dict[str, Creds]) -> None:
    for drop in ("Authorization", "x-api-key", "x-gw-ims-org-id", "x-sandbox-name"):
        r = api.call("GET", CATALOG, headers={drop: None})  # type: ignore[dict-item]
        assert r.status == 401, drop
    bad = Creds(keys["acme"].key_id, "bgt_wrong", "acme", "prod")
    assert api.call("GET", CATALOG, creds=bad).status == 401
    unknown = Creds("bgk_unknown", keys["acme"].token, "acme", "prod")
    assert api.call("GET", CATALOG, creds=unknown).status == 401


def test_403_wrong_org_or_sandbox(api: Api, keys: dict[str, Creds]) -> None:
    k = keys["acme"]
    assert api.call("GET", CATALOG, creds=Creds(k.key_id, k.token, "other", "prod")).status == 403
    assert api.call("GET", CATALOG, creds=Creds(k.key_id, k.token, "acme", "dev")).status == 403


def test_api_function_refuses_events_without_authorizer_context(api: Api) -> None:
    ev = api.event("GET", CATALOG)
    ev["requestContext"].pop("authorizer", None)
    r = api.invoke(ev, authorize=False)
    assert r.status == 401 and r.error_code == "BG-401-UNAUTHORIZED"


def test_disabled_key_is_401(api: Api, aws: Aws, keys: dict[str, Creds]) -> None:
    record = aws.store.get_api_key(keys["acme"].key_id)
    assert record is not None
    aws.store.put_api_key(keys["acme"].key_id, {**record, "disabled": True})
    assert api.call("GET", CATALOG).status == 401


def test_other_tenants_ids_are_404(api: Api, other_api: Api, keys: dict[str, Creds]) -> None:
    ds_id = api.create_dataset()
    b = api.create_batch(ds_id)["id"]
    api.put_file(b, ds_id, "a.json", b"{}")
    dev = Api(keys["acme-dev"])  # same org, other sandbox: another tenant too
    for other in (other_api, dev):
        assert other.call("GET", f"{DATASETS}/{ds_id}").status == 404
        assert other.call("GET", f"{IMPORT}/{b}").status == 404
        assert other.call("GET", f"{CATALOG}/{b}").status == 404
        assert other.action(b, "COMPLETE").status == 404
        assert other.put_file(b, ds_id, "b.json", b"{}").status == 404
        assert other.call("GET", f"/data/foundation/export/batches/{b}/files").status == 404
        assert other.call("GET", CATALOG).json() == {}
    files = api.call("GET", f"/data/foundation/export/batches/{b}/files").json()["data"]
    assert other_api.call("GET", f"/data/foundation/export/files/{files[0]['dataSetFileId']}").status == 404


def test_sample_events_run_as_committed(aws: Aws) -> None:
    """events/api/*.json carry an authorizer context, as `sam local invoke` would send them."""
    from tests.integration.api.harness import LambdaContext, function

    handler = function("api").handler
    ctx = LambdaContext()
    created = handler(event_template("create_dataset.json"), ctx)
    assert created["statusCode"] == 201
    import json

    ds_id = json.loads(created["body"])[0].split("/")[-1]
    ev = event_template("create_batch.json")
    ev["body"] = ev["body"].replace("DATASET_ID", ds_id)
    batch = handler(ev, ctx)
    assert batch["statusCode"] == 201
    b = json.loads(batch["body"])["id"]
    put = event_template("put_file.json")
    put["path"] = put["path"].replace("BATCH_ID", b).replace("DATASET_ID", ds_id)
    assert handler(put, ctx)["statusCode"] == 200
    listed = handler(event_template("list_batches.json"), ctx)
    assert list(json.loads(listed["body"])) == [b]
    done = event_template("complete_batch.json")
    done["path"] = done["path"].replace("BATCH_ID", b)
    assert json.loads(handler(done, ctx)["body"])["status"] == "loaded"


def test_authorizer_sample_event_allows_with_context_and_denies_other_tenants(
    aws: Aws, keys: dict[str, Creds]
) -> None:
    from tests.integration.api.harness import LambdaContext, function

    k = keys["acme"]
    ev = event_template("authorizer/request.json")
    ev["headers"] = k.headers()
    policy = function("authorizer").handler(ev, LambdaContext())
    statement = policy["policyDocument"]["Statement"][0]
    assert statement["Effect"] == "Allow" and statement["Action"] == "execute-api:Invoke"
    assert statement["Resource"] == ["arn:aws:execute-api:us-east-1:123456789012:1234567890/prod/*/*"]
    assert policy["principalId"] == k.key_id
    assert policy["context"] == {
        "org": "acme", "sandbox": "prod", "keyId": k.key_id, "user": "alice@acme", "role": "admin", "sandboxes": "prod"
    }  # fmt: skip
    ev["headers"]["x-gw-ims-org-id"] = "other"
    denied = function("authorizer").handler(ev, LambdaContext())
    assert denied["policyDocument"]["Statement"][0]["Effect"] == "Deny" and "context" not in denied
    ev["headers"]["Authorization"] = "Bearer nope"
    with pytest.raises(Exception, match=r"^Unauthorized$"):
        function("authorizer").handler(ev, LambdaContext())


def test_health_needs_no_caller(api: Api) -> None:
    ev = api.event("GET", "/health")
    ev["requestContext"].pop("authorizer", None)
    r = api.invoke(ev, authorize=False)
    assert r.status == 200 and r.json() == {"status": "ok"}
