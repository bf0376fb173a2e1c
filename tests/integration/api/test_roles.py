"""Roles and sandboxes on keys: what a reader, a writer and an admin may call, the keys API, and
keys written before roles."""

from __future__ import annotations

import pytest

from batchgate.api.auth import new_key
from batchgate.core.roles import allowed, needed
from tests.integration.api.harness import Api, Aws, Creds, creds_of

KEYS = "/data/foundation/keys"
DATASETS = "/data/foundation/catalog/dataSets"
BATCHES = "/data/foundation/import/batches"


def key_api(aws: Aws, role: str, sandboxes: list[str], org: str = "acme") -> Api:
    key = new_key(org, sandboxes, role=role, user=f"{role}@{org}")
    aws.store.put_api_key(key.key_id, key.record)
    return Api(creds_of(key))


def test_a_reader_reads_and_cannot_write(api: Api, aws: Aws) -> None:
    ds = api.create_dataset()
    reader = key_api(aws, "reader", ["prod"])
    assert reader.call("GET", f"{DATASETS}/{ds}").status == 200
    assert reader.call("GET", BATCHES.replace("import", "catalog")).status == 200
    r = reader.call("POST", BATCHES, json_body={"datasetId": ds, "inputFormat": {"format": "json"}})
    assert r.status == 403 and r.error_code == "BG-403-ROLE", r.body
    assert "'reader'" in r.json()["error"]["message"] and "needs 'writer'" in r.json()["error"]["message"]


def test_a_writer_feeds_datasets_and_cannot_manage_them(api: Api, aws: Aws) -> None:
    ds = api.create_dataset()
    writer = key_api(aws, "writer", ["prod"])
    b = writer.create_batch(ds)["id"]
    assert writer.put_file(b, ds, "a.json", b'{"id": "1"}\n').status == 200
    assert writer.action(b, "COMPLETE").status == 200
    for method, path in (("POST", DATASETS), ("PATCH", f"{DATASETS}/{ds}"), ("DELETE", f"{DATASETS}/{ds}")):
        r = writer.call(
            method, path, json_body={"name": "x", "schema": {"fields": [{"name": "a", "type": "string"}]}}
        )
        assert r.status == 403 and r.error_code == "BG-403-ROLE", (method, path, r.body)
    assert writer.call("POST", KEYS, json_body={"role": "admin", "sandboxes": ["prod"]}).status == 403


def test_keys_api_creates_lists_and_disables_without_showing_tokens(api: Api, aws: Aws) -> None:
    admin = key_api(aws, "admin", ["prod", "dev"])
    r = admin.call("POST", KEYS, json_body={"role": "writer", "sandboxes": ["dev"], "description": "loader"})
    assert r.status == 201, r.body
    made = r.json()
    assert made["role"] == "writer" and made["sandboxes"] == ["dev"] and made["token"].startswith("bgt_")
    dev_writer = Api(Creds(made["id"], made["token"], "acme", "dev"))
    assert dev_writer.call("GET", DATASETS).status == 200
    wrong_sandbox = Api(Creds(made["id"], made["token"], "acme", "prod"))
    assert wrong_sandbox.call("GET", DATASETS).status == 403

    listed = admin.call("GET", KEYS).json()["keys"]
    assert made["id"] in [k["id"] for k in listed]
    assert all("token" not in k and "secretHash" not in k for k in listed)
    assert all(k["org"] == "acme" for k in listed), "another org's keys are never listed"

    assert admin.call("DELETE", f"{KEYS}/{made['id']}").json()["disabled"] is True
    assert dev_writer.call("GET", DATASETS).status == 401, "a disabled key stops working at once"
    own = admin.call("DELETE", f"{KEYS}/{admin.creds.key_id}")
    assert own.status == 409 and own.error_code == "BG-409-OWN-KEY"
    other_org = key_api(aws, "admin", ["prod"], org="other")
    assert other_org.call("DELETE", f"{KEYS}/{admin.creds.key_id}").status == 404


def test_a_key_grants_only_its_own_sandboxes_and_known_roles(aws: Aws) -> None:
    prod_admin = key_api(aws, "admin", ["prod"])
    r = prod_admin.call("POST", KEYS, json_body={"role": "reader", "sandboxes": ["prod", "dev"]})
    assert r.status == 403 and r.error_code == "BG-403-SANDBOX" and "dev" in r.json()["error"]["message"]
    bad = prod_admin.call("POST", KEYS, json_body={"role": "owner", "sandboxes": ["prod"]})
    assert bad.status == 400
    empty = prod_admin.call("POST", KEYS, json_body={"role": "reader", "sandboxes": []})
    assert empty.status == 400


def test_a_key_from_before_roles_is_the_admin_of_its_one_sandbox(aws: Aws) -> None:
    key = new_key("acme", ["prod"], user="old")
    legacy = {k: v for k, v in key.record.items() if k not in ("role", "sandboxes")} | {"sandbox": "prod"}
    aws.store.put_api_key(key.key_id, legacy)
    old = Api(creds_of(key))
    assert (
        old.call(
            "POST", DATASETS, json_body={"name": "x", "schema": {"fields": [{"name": "a", "type": "string"}]}}
        ).status
        == 201
    )
    stored = aws.store.get_api_key(key.key_id)
    assert stored is not None and (stored["role"], stored["sandboxes"]) == ("admin", ["prod"])
    assert "sandbox" not in stored
    assert key.key_id in [k["id"] for k in old.call("GET", KEYS).json()["keys"]], "listed once migrated"


@pytest.mark.parametrize(
    ("role", "method", "path", "ok"),
    [
        ("reader", "GET", "/data/foundation/keys", True),
        ("reader", "HEAD", "/data/foundation/export/files/x", True),
        ("reader", "POST", "/data/foundation/import/batches", False),
        ("writer", "POST", "/data/foundation/import/batches", True),
        ("writer", "POST", "/data/foundation/import/batches/b1", True),
        ("writer", "PUT", "/data/foundation/import/batches/b1/datasets/d1/files/a/b.json", True),
        ("writer", "PATCH", "/data/foundation/import/batches/b1/datasets/d1/files/a.json", True),
        ("writer", "POST", "/data/foundation/catalog/dataSets", False),
        ("writer", "POST", "/data/foundation/schemaregistry/tenant/schemas", False),
        ("writer", "DELETE", "/data/foundation/import/batches/b1", False),
        ("writer", "POST", "/data/foundation/schedules/jobs", False),
        ("admin", "DELETE", "/data/foundation/catalog/dataSets/d1", True),
        ("nobody", "GET", "/data/foundation/keys", False),
    ],
)
def test_the_role_table(role: str, method: str, path: str, ok: bool) -> None:
    assert allowed(role, method, path) is ok
    if not ok and role in ("reader", "writer"):
        assert needed(method, path) in ("writer", "admin")
