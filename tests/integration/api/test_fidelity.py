"""Scripts written from AEP's guide work as written: schemaRef and a schema registry, JSON Schema
datasets, the unifiedProfile upsert form alone, lower-case actions, Content-Range without a total."""

from __future__ import annotations

from urllib.parse import quote

from tests.integration.api.harness import Api, Aws
from tests.unit.core.test_json_schema import PROFILE

SCHEMAS = "/data/foundation/schemaregistry/tenant/schemas"
DATASETS = "/data/foundation/catalog/dataSets"


def created_id(r: object) -> str:
    assert r.status == 201, r.body  # type: ignore[attr-defined]
    return str(r.json()[0].removeprefix("@/dataSets/"))  # type: ignore[attr-defined]


def test_a_dataset_from_a_schemaref_of_the_registry(api: Api, other_api: Api) -> None:
    r = api.call("POST", SCHEMAS, json_body={**PROFILE, "title": "profiles", "description": "customers"})
    assert r.status == 201, r.body
    registered = r.json()
    assert registered["$id"].endswith(registered["meta:altId"].rsplit(".", 1)[1])
    assert registered["jsonSchema"]["properties"]["tier"]["enum"] == ["gold", "silver", "bronze"]
    ref = {"id": registered["$id"], "contentType": "application/vnd.adobe.xed-full+json;version=1"}
    ds = created_id(api.call("POST", DATASETS, json_body={"name": "from-ref", "schemaRef": ref}))
    got = api.call("GET", f"{DATASETS}/{ds}").json()[ds]
    assert got["schemaRef"] == ref and [f["name"] for f in got["schema"]["fields"]][:2] == ["id", "email"]
    # by the URL-encoded $id, as AEP scripts fetch it; the list; another tenant sees nothing
    one = api.call("GET", f"{SCHEMAS}/{quote(registered['$id'], safe='')}")
    assert one.status == 200 and one.json()["title"] == "profiles"
    assert [s["$id"] for s in api.call("GET", SCHEMAS).json()["results"]] == [registered["$id"]]
    assert other_api.call("GET", f"{SCHEMAS}/{quote(registered['$id'], safe='')}").status == 404
    missing = api.call(
        "POST", DATASETS, json_body={"name": "x", "schemaRef": {"id": "https://ns/x/schemas/" + "0" * 24}}
    )
    assert missing.status == 404 and missing.error_code == "BG-404-SCHEMA"


def test_a_dataset_from_a_json_schema_document(api: Api) -> None:
    ds = created_id(api.call("POST", DATASETS, json_body={"name": "json-schema", "schema": PROFILE}))
    fields = {f["name"]: f for f in api.call("GET", f"{DATASETS}/{ds}").json()[ds]["schema"]["fields"]}
    assert fields["seen"]["type"] == "timestamp" and fields["email"]["required"] is True
    bad = api.call(
        "POST",
        DATASETS,
        json_body={"name": "x", "schema": {"type": "object", "properties": {"a": {"oneOf": []}}}},
    )
    assert bad.status == 400 and "oneOf" in bad.json()["error"]["message"]


def test_the_aep_upsert_form_alone_takes_the_identity_from_the_schema(api: Api) -> None:
    body = {
        "name": "profiles",
        "schema": PROFILE,
        "tags": {"unifiedProfile": ["enabled:true", "isUpsert:true"]},
    }
    ds = created_id(api.call("POST", DATASETS, json_body=body))
    tags = api.call("GET", f"{DATASETS}/{ds}").json()[ds]["tags"]
    assert tags["isUpsert"] is True and tags["identity"] == ["id"]
    no_identity = {**body, "schema": {"fields": [{"name": "id", "type": "string"}]}}
    r = api.call("POST", DATASETS, json_body=no_identity)
    assert r.status == 400 and "identity" in r.json()["error"]["message"]


def test_actions_are_case_insensitive(api: Api, aws: Aws) -> None:
    ds = api.create_dataset()
    b = api.create_batch(ds)["id"]
    assert api.put_file(b, ds, "a.json", b'{"id": "1"}\n').status == 200
    r = api.call("POST", f"/data/foundation/import/batches/{b}", query={"action": "complete"})
    assert r.status == 200 and r.json()["status"] == "loaded"
    path = api.file_path(api.create_batch(ds)["id"], ds, "big.json")
    assert api.call("POST", path, query={"action": "initialize"}).status == 201


def test_a_chunk_without_a_total_as_the_guide_sends_it(api: Api, aws: Aws) -> None:
    ds = api.create_dataset()
    b = api.create_batch(ds)["id"]
    path = api.file_path(b, ds, "big.json")
    data = b'{"id": "1"}\n{"id": "2"}\n'
    assert api.call("POST", path, query={"action": "INITIALIZE"}).status == 201
    for first, last in ((0, 11), (12, len(data) - 1)):
        r = api.call(
            "PATCH", path, data=data[first : last + 1], headers={"Content-Range": f"bytes {first}-{last}"}
        )
        assert r.status == 200, r.body
    assert api.call("POST", path, query={"action": "COMPLETE"}).status == 201
    f = aws.store.get_file("acme", "prod", b, "big.json")
    assert f is not None and f.size == len(data)
    assert aws.s3.get_object(Bucket=aws.template.bucket, Key=f.key)["Body"].read() == data
