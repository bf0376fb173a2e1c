"""Whatever a client sends, the API answers with a JSON error it can act on, never a 500."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.integration.api.harness import Api

PATHS = [
    "/data/foundation/catalog/dataSets",
    "/data/foundation/catalog/dataSets/{d}",
    "/data/foundation/catalog/batches",
    "/data/foundation/catalog/batches/{b}",
    "/data/foundation/import/batches",
    "/data/foundation/import/batches/{b}",
    "/data/foundation/import/batches/{b}/datasets/{d}/files/{name}",
    "/data/foundation/export/batches/{b}/files",
    "/data/foundation/export/batches/{b}/failed",
    "/data/foundation/export/files/{b}",
]
ids = st.sampled_from(["real", "nope", "%", "..", "a" * 300, "ä"])
names = st.text(min_size=1, max_size=40).filter(lambda s: "/" not in s) | st.sampled_from(
    ["a.json", "x/y.csv"]
)
bodies = (
    st.none()
    | st.binary(max_size=64)
    | st.dictionaries(
        st.sampled_from(
            ["name", "schema", "datasetId", "inputFormat", "size", "uploadId", "parts", "replay"]
        ),
        st.none() | st.integers() | st.text(max_size=5) | st.lists(st.integers(), max_size=2),
        max_size=4,
    ).map(lambda d: json.dumps(d).encode())
)
content_types = st.sampled_from([None, "application/json", "application/octet-stream", "text/plain"])
queries = st.none() | st.dictionaries(
    st.sampled_from(["action", "limit", "start", "orderBy", "status", "createdAfter"]),
    st.sampled_from(["COMPLETE", "ABORT", "REVERT", "INITIALIZE", "PRESIGN", "x", "-1", "1", "asc:created"]),
    max_size=3,
)


def test_no_request_makes_the_api_fail(api: Api) -> None:
    ds = api.create_dataset()
    batch = api.create_batch(ds)["id"]

    @settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(
        method=st.sampled_from(["GET", "POST", "PUT", "PATCH", "DELETE"]),
        template=st.sampled_from(PATHS),
        b=ids,
        d=ids,
        name=names,
        body=bodies,
        content_type=content_types,
        query=queries,
        content_range=st.none() | st.sampled_from(["bytes 0-3/4", "bytes 0-0/*", "junk"]),
    )
    def check(method, template, b, d, name, body, content_type, query, content_range):  # type: ignore[no-untyped-def]
        path = template.format(b=batch if b == "real" else b, d=ds if d == "real" else d, name=name)
        ev = api.event(method, path, query=query)
        if body is not None:
            import base64

            ev["body"], ev["isBase64Encoded"] = base64.b64encode(body).decode(), True
        for k, v in (("Content-Type", content_type), ("Content-Range", content_range)):
            if v is not None:
                ev["headers"][k] = v
        r = api.invoke(ev)
        assert r.status < 500, (method, path, query, body, r.body)
        if r.status >= 400:
            err = r.json()["error"]
            assert err["code"].startswith(f"BG-{r.status}") and err["message"] and err["requestId"]

    check()


def _post_raw(
    api: Api,
    path: str,
    body: bytes,
    content_type: str = "application/json",
    query: dict[str, str] | None = None,
) -> Any:
    import base64

    ev = api.event("POST", path, query=query)
    ev["body"], ev["isBase64Encoded"] = base64.b64encode(body).decode(), True
    ev["headers"]["Content-Type"] = content_type
    return api.invoke(ev)


def test_bodies_past_a_limit_are_400s_naming_it_never_500s(api: Api) -> None:
    """Each of these used to answer 500 (a recursion in the parser, a DynamoDB item over 400 KB)."""
    datasets = "/data/foundation/catalog/dataSets"
    deep_schema = '{"name": "leaf", "type": "string"}'
    for i in range(2_000):
        deep_schema = f'{{"name": "n{i}", "type": "object", "fields": [{deep_schema}]}}'
    cases = {
        "maxJsonDepth": [
            ("[" * 100_000 + "]" * 100_000).encode(),
            ('{"name": "d", "schema": {"fields": [' + deep_schema + "]}}").encode(),
        ],
        "maxSchemaBytes": [
            json.dumps(
                {
                    "name": "e",
                    "schema": {"fields": [{"name": "t", "type": "integer", "enum": list(range(800_000))}]},
                }
            ).encode()
        ],
    }
    for limit, bodies in cases.items():
        for body in bodies:
            r = _post_raw(api, datasets, body)
            assert (
                r.status == 400 and r.error_code == "BG-400-LIMIT" and limit in r.json()["error"]["message"]
            )
    # the same depth check guards the file actions' JSON bodies, whatever their Content-Type
    ds = api.create_dataset()
    b = api.create_batch(ds)["id"]
    r = _post_raw(
        api, api.file_path(b, ds, "x.json"), b"[" * 5000, "application/octet-stream", {"action": "PRESIGN"}
    )
    assert r.status == 400 and "maxJsonDepth" in r.json()["error"]["message"]


def test_a_body_that_is_not_utf8_is_a_400(api: Api) -> None:
    r = _post_raw(api, "/data/foundation/catalog/dataSets", b'{"name": "\xff\xfe"}')
    assert r.status == 400 and r.error_code == "BG-400-INVALID" and "UTF-8" in r.json()["error"]["message"]


def test_a_file_name_is_percent_decoded_once_then_checked(api: Api, aws: Any) -> None:
    """API Gateway's REST path keeps the client's escapes: `my%20file.json` is the file
    `my file.json` (it used to be stored as `my%20file.json`), `%C3%A9` is `é`."""
    ds = api.create_dataset()
    b = api.create_batch(ds)["id"]
    for sent, meant in (
        ("my%20file.json", "my file.json"),
        ("caf%C3%A9.json", "café.json"),
        ("100%25.json", "100%.json"),
    ):
        r = api.call("PUT", api.file_path(b, ds, sent), data=b'{"id": "1"}\n')
        assert r.status == 200, r.body
        assert aws.store.get_file("acme", "prod", b, meant) is not None, meant
    for bad, reason in (("%FF.json", "not UTF-8"), ("a%2F..%2Fb.json", "'..'")):
        r = api.call("PUT", api.file_path(b, ds, bad), data=b"{}\n")
        assert (
            r.status == 400 and r.error_code == "BG-400-FILE-NAME" and reason in r.json()["error"]["message"]
        ), r.body


def test_complete_refuses_more_files_than_the_limit_naming_it(api: Api, monkeypatch: Any) -> None:
    from batchgate.core import limits

    monkeypatch.setattr(limits, "BATCH_FILES", limits.Limit("maxFilesPerBatch", 2, "files", "test"))
    ds = api.create_dataset()
    b = api.create_batch(ds)["id"]
    for i in range(3):
        assert api.put_file(b, ds, f"f{i}.json", b'{"id": "1"}\n').status == 200
    r = api.action(b, "COMPLETE")
    assert (
        r.status == 400
        and r.error_code == "BG-400-LIMIT"
        and "maxFilesPerBatch" in r.json()["error"]["message"]
    )
    assert api.call("GET", f"/data/foundation/import/batches/{b}").json()["status"] == "loading", (
        "nothing changed"
    )
