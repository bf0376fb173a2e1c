"""Whatever a client sends, the API answers with a JSON error it can act on, never a 500."""

from __future__ import annotations

import json

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
