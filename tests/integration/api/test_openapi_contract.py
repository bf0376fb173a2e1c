"""The OpenAPI document against the API's real answers.

Every operation of ``/openapi.json`` is driven through the API function in-process (authorizer
first, as API Gateway calls it) with requests that provoke each status it documents, and every
answer is checked against the document: the status is one the operation lists, the body
validates against that status's schema (jsonschema, draft 2020-12: OpenAPI 3.1's dialect), the
headers it documents are there, an error's code belongs to its status. Successful requests are
checked too: their query parameters, headers and bodies are ones the operation documents.

``valid_requests`` holds one valid request per operation (used to provoke 401, 403 and 500 everywhere) and
must name exactly the document's operations; at the end every documented (operation, status)
must have been answered at least once. So a new route, or a status added to one, fails here
until a request here provokes it.
"""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate as validate_openapi

from batchgate.api.routes import batches, bundles, datasets, exports, feeds, files, jobs, keys, schemas
from batchgate.aws.feed_store import FeedStore
from batchgate.feeds.models import Watermark
from tests.conftest import refresh_process_state
from tests.integration.api.harness import BUCKET, SINGLE_PUT_MAX, Api, Aws, Resp
from tests.integration.api.job_bodies import (
    JOBS,
    RUNS,
    SOURCES,
    WORKFLOWS,
    act,
    create_job,
    export_feed,
    ingest_s3,
    make_feed,
    source_bucket,
)
from tests.integration.api.landing import lake_env, land, set_status
from tests.integration.api.test_roles import key_api

DATASETS = "/data/foundation/catalog/dataSets"
SCHEMAS = "/data/foundation/schemaregistry/tenant/schemas"
IMPORT = "/data/foundation/import/batches"
CATALOG = "/data/foundation/catalog/batches"
STATS = "/data/foundation/stats/batches"
EXPORT = "/data/foundation/export"
FEEDS = f"{EXPORT}/feeds"
KEYS = "/data/foundation/keys"
BUNDLES = "/data/foundation/bundles"
FILES_T = f"{IMPORT}/{{batch_id}}/datasets/{{dataset_id}}/files/{{name}}"
REST_OF_PATH = "x-batchgate-rest-of-path"
METHODS = ("get", "put", "post", "delete", "patch")
# INITIALIZE and a chunked COMPLETE answer 201 with no body; PRESIGN's 201 is the upload plan.
EMPTY_BODY_ALLOWED = {("POST", FILES_T, 201)}
# Headers every request may carry without the operation declaring them as parameters.
ALWAYS_SENT = {"authorization", "x-api-key", "x-gw-ims-org-id", "x-sandbox-name", "content-type", "host"}
FIELDS = [{"name": "id", "type": "string", "required": True}, {"name": "n", "type": "integer"}]
DATASET = {"name": "profiles", "schema": {"fields": FIELDS}}
MIB = 1024 * 1024


@dataclass
class Answered:
    """One request as the API function received it, and its answer."""

    method: str
    path: str
    event: dict[str, Any]
    resp: Resp

    @property
    def request_headers(self) -> dict[str, str]:
        return {str(k).lower(): str(v) for k, v in (self.event.get("headers") or {}).items()}

    @property
    def request_body(self) -> bytes | None:
        body = self.event.get("body")
        if body is None:
            return None
        return base64.b64decode(body) if self.event.get("isBase64Encoded") else str(body).encode()


class Document:
    """The served OpenAPI document: which operation a request is, and what it promises."""

    def __init__(self, doc: dict[str, Any]) -> None:
        self.doc = doc
        self.routes: list[tuple[str, str, re.Pattern[str]]] = []
        for template, item in doc["paths"].items():
            for method, op in item.items():
                if method not in METHODS:
                    continue
                rest = op.get(REST_OF_PATH)
                pattern = re.sub(
                    r"\\\{(\w+)\\\}",
                    lambda m, rest=rest: "(.+)" if m.group(1) == rest else "([^/]+)",
                    re.escape(template),
                )
                self.routes.append((method.upper(), template, re.compile(pattern + "$")))

    def operations(self) -> set[tuple[str, str]]:
        return {(m, t) for m, t, _ in self.routes}

    def documented(self) -> set[tuple[str, str, int]]:
        return {(m, t, int(s)) for m, t in self.operations() for s in self.operation(m, t)["responses"]}

    def operation(self, method: str, template: str) -> dict[str, Any]:
        return dict(self.doc["paths"][template][method.lower()])

    def match(self, method: str, path: str) -> str:
        found = [t for m, t, rx in self.routes if m == method and rx.match(path)]
        assert len(found) == 1, f"{method} {path} matches {found or 'no'} operation(s) of the document"
        return found[0]

    def validate(self, instance: Any, schema: dict[str, Any]) -> list[str]:
        # The document is the root, so '#/components/schemas/…' references resolve in it.
        validator = Draft202012Validator({**schema, "components": self.doc["components"]})
        return [
            f"{'/'.join(map(str, e.absolute_path)) or '(body)'}: {e.message}"
            for e in validator.iter_errors(instance)
        ]

    def problems(self, a: Answered) -> list[str]:
        template = self.match(a.method, a.path)
        op, status, resp = self.operation(a.method, template), a.resp.status, a.resp
        where = f"{a.method} {a.path} -> {status}"
        response = op["responses"].get(str(status))
        if response is None:
            return [f"{where}: status not documented (documented: {sorted(op['responses'])})"]
        out = [
            f"{where}: documented header {name} missing"
            for name, h in (response.get("headers") or {}).items()
            if h.get("required") and name.lower() not in resp.headers
        ]
        content = response.get("content") or {}
        if not resp.body:
            if content and (a.method, template, status) not in EMPTY_BODY_ALLOWED:
                out.append(f"{where}: no body, but the document promises {sorted(content)}")
        else:
            media = resp.headers.get("content-type", "").split(";")[0].strip()
            if media not in content:
                out.append(f"{where}: body of type {media!r}, documented {sorted(content)}")
            elif media == "application/json":
                body = resp.json()
                out += [f"{where}: {e}" for e in self.validate(body, content[media]["schema"])]
                error = body.get("error") if isinstance(body, dict) and status >= 400 else None
                if isinstance(error, dict) and not str(error.get("code")).startswith(f"BG-{status}-"):
                    out.append(f"{where}: error code {error.get('code')} is not a {status} code")
        if 200 <= status < 300:
            out += [f"{where} (request): {p}" for p in self._request_problems(a, op)]
        return out

    def _request_problems(self, a: Answered, op: dict[str, Any]) -> list[str]:
        params = {(p["in"], p["name"].lower()) for p in op.get("parameters", [])}
        out = [
            f"query parameter {q} not documented"
            for q in a.event.get("queryStringParameters") or {}
            if ("query", q.lower()) not in params
        ]
        out += [
            f"header {h} not documented"
            for h in a.request_headers
            if h not in ALWAYS_SENT and ("header", h) not in params
        ]
        body = a.request_body
        if body:
            declared = (op.get("requestBody") or {}).get("content") or {}
            media = a.request_headers.get("content-type", "").split(";")[0].strip()
            if media not in declared:
                out.append(f"a {media!r} body, documented {sorted(declared)}")
            elif media == "application/json":
                out += self.validate(json.loads(body), declared[media]["schema"])
        return out


@dataclass
class Run:
    """Sends requests and keeps every answer; each call says which status it means to provoke."""

    api: Api
    answered: list[Answered] = field(default_factory=list)

    def call(self, expect: int, method: str, path: str, **kw: Any) -> Resp:
        return self.send(expect, self.api.event(method, path, **kw))

    def send(self, expect: int, event: dict[str, Any], *, authorize: bool = True) -> Resp:
        resp = self.api.invoke(event, authorize=authorize)
        assert resp.status == expect, (
            f"{event['httpMethod']} {event['path']}: {resp.status} {resp.body[:300]!r}"
        )
        self.answered.append(Answered(event["httpMethod"], event["path"], event, resp))
        return resp


@dataclass(frozen=True)
class Req:
    method: str
    path: str
    kw: dict[str, Any] = field(default_factory=dict)


def valid_requests(
    ds: str,
    b: str,
    schema_id: str,
    file_id: str,
    job: str = "j",
    run: str = "r",
    feed: str = "fd",
    sync: str = "sy",
    bundle: str = "bn",
) -> dict[tuple[str, str], Req]:
    """One request per operation that gets past validation to the route's service: with broken
    services it is a 500, without credentials a 401, with another sandbox's headers a 403."""
    f = f"{IMPORT}/{b}/datasets/{ds}/files/2026/11/day.json"
    return {
        ("POST", DATASETS): Req("POST", DATASETS, {"json_body": DATASET}),
        ("GET", DATASETS): Req("GET", DATASETS),
        ("GET", f"{DATASETS}/{{dataset_id}}"): Req("GET", f"{DATASETS}/{ds}"),
        ("PATCH", f"{DATASETS}/{{dataset_id}}"): Req(
            "PATCH", f"{DATASETS}/{ds}", {"json_body": {"schema": {"fields": FIELDS}}}
        ),
        ("DELETE", f"{DATASETS}/{{dataset_id}}"): Req("DELETE", f"{DATASETS}/{ds}"),
        ("POST", SCHEMAS): Req("POST", SCHEMAS, {"json_body": {"title": "t", "fields": FIELDS}}),
        ("GET", SCHEMAS): Req("GET", SCHEMAS),
        ("GET", f"{SCHEMAS}/{{schema_id}}"): Req("GET", f"{SCHEMAS}/{schema_id}"),
        ("POST", IMPORT): Req(
            "POST", IMPORT, {"json_body": {"datasetId": ds, "inputFormat": {"format": "json"}}}
        ),
        ("GET", f"{IMPORT}/{{batch_id}}"): Req("GET", f"{IMPORT}/{b}"),
        ("POST", f"{IMPORT}/{{batch_id}}"): Req("POST", f"{IMPORT}/{b}", {"query": {"action": "COMPLETE"}}),
        ("GET", CATALOG): Req("GET", CATALOG),
        ("GET", f"{CATALOG}/{{batch_id}}"): Req("GET", f"{CATALOG}/{b}"),
        ("GET", STATS): Req("GET", STATS),
        ("PUT", FILES_T): Req("PUT", f, {"data": b"{}"}),
        ("PATCH", FILES_T): Req("PATCH", f, {"data": b"{}", "headers": {"Content-Range": "bytes 0-1/2"}}),
        ("POST", FILES_T): Req("POST", f, {"query": {"action": "INITIALIZE"}}),
        ("GET", f"{EXPORT}/batches/{{batch_id}}/files"): Req("GET", f"{EXPORT}/batches/{b}/files"),
        ("GET", f"{EXPORT}/batches/{{batch_id}}/failed"): Req("GET", f"{EXPORT}/batches/{b}/failed"),
        ("GET", f"{EXPORT}/datasets/{{dataset_id}}/rows"): Req("GET", f"{EXPORT}/datasets/{ds}/rows"),
        ("GET", f"{EXPORT}/files/{{file_id}}"): Req("GET", f"{EXPORT}/files/{file_id}"),
        ("POST", KEYS): Req("POST", KEYS, {"json_body": {"role": "reader", "sandboxes": ["prod"]}}),
        ("GET", KEYS): Req("GET", KEYS),
        ("DELETE", f"{KEYS}/{{key_id}}"): Req("DELETE", f"{KEYS}/bgk_0"),
        ("GET", WORKFLOWS): Req("GET", WORKFLOWS),
        ("POST", JOBS): Req("POST", JOBS, {"json_body": ingest_s3(ds, name="valid")}),
        ("GET", JOBS): Req("GET", JOBS),
        ("GET", f"{JOBS}/{{job_id}}"): Req("GET", f"{JOBS}/{job}"),
        ("PATCH", f"{JOBS}/{{job_id}}"): Req("PATCH", f"{JOBS}/{job}", {"json_body": {"description": "d"}}),
        ("DELETE", f"{JOBS}/{{job_id}}"): Req("DELETE", f"{JOBS}/{job}"),
        ("POST", f"{JOBS}/{{job_id}}"): Req("POST", f"{JOBS}/{job}", {"query": {"action": "RUN"}}),
        ("GET", RUNS): Req("GET", RUNS),
        ("GET", f"{RUNS}/{{run_id}}"): Req("GET", f"{RUNS}/{run}"),
        ("POST", FEEDS): Req("POST", FEEDS, {"json_body": webhook_feed(ds, "valid")}),
        ("GET", FEEDS): Req("GET", FEEDS),
        ("GET", f"{FEEDS}/{{feed_id}}"): Req("GET", f"{FEEDS}/{feed}"),
        ("DELETE", f"{FEEDS}/{{feed_id}}"): Req("DELETE", f"{FEEDS}/{feed}"),
        ("POST", f"{FEEDS}/{{feed_id}}"): Req("POST", f"{FEEDS}/{feed}", {"query": {"action": "SYNC"}}),
        ("GET", f"{FEEDS}/{{feed_id}}/syncs"): Req("GET", f"{FEEDS}/{feed}/syncs"),
        ("GET", f"{FEEDS}/{{feed_id}}/syncs/{{sync_id}}"): Req("GET", f"{FEEDS}/{feed}/syncs/{sync}"),
        ("GET", f"{FEEDS}/{{feed_id}}/syncs/{{sync_id}}/items"): Req(
            "GET", f"{FEEDS}/{feed}/syncs/{sync}/items"
        ),
        ("GET", f"{FEEDS}/{{feed_id}}/estimate"): Req("GET", f"{FEEDS}/{feed}/estimate"),
        ("POST", BUNDLES): Req(
            "POST", BUNDLES, {"query": {"action": "EXPORT"}, "json_body": {"datasetIds": [ds]}}
        ),
        ("GET", BUNDLES): Req("GET", BUNDLES),
        ("GET", f"{BUNDLES}/{{bundle_id}}"): Req("GET", f"{BUNDLES}/{bundle}"),
    }


def webhook_feed(ds: str, name: str = "hook", **changes: Any) -> dict[str, Any]:
    return {
        "name": name,
        "datasetId": ds,
        "destination": {"type": "webhook", "url": "http://127.0.0.1:9/in"},
        **changes,
    }


@pytest.fixture
def document(api: Api) -> Document:
    return Document(api.call("GET", "/openapi.json").json())


def test_the_document_is_valid_openapi_and_has_no_422(api: Api, document: Document) -> None:
    doc = document.doc
    validate_openapi(doc)  # OpenAPI 3.1 (openapi-spec-validator)
    assert doc["openapi"].startswith("3.1")
    schemas = doc["components"]["schemas"]
    assert not {"HTTPValidationError", "ValidationError", "ResponseValidationError"} & set(schemas)
    errors = {"#/components/schemas/Error", "#/components/schemas/AuthError"}
    for method, template in document.operations():
        responses = document.operation(method, template)["responses"]
        assert "422" not in responses, (method, template)
        assert {"401", "403", "500"} <= set(responses), (method, template)
        for status, response in responses.items():
            if int(status) >= 400:
                assert response["content"]["application/json"]["schema"]["$ref"] in errors, (
                    method,
                    template,
                    status,
                )
            elif response.get("content"):
                assert all("schema" in c for c in response["content"].values()), (method, template, status)
    # /swagger shows the same document (powertools builds it through the same method).
    swagger = api.call("GET", "/swagger", query={"format": "json"}).json()
    assert {**swagger, "servers": doc["servers"]} == doc
    assert b"HTTPValidationError" not in api.call("GET", "/swagger").body


def test_uploads_and_downloads_are_described_as_bytes_and_headers(document: Document) -> None:
    binary = {"type": "string", "format": "binary"}
    for method in ("PUT", "PATCH"):
        op = document.operation(method, FILES_T)
        assert op["requestBody"]["content"]["application/octet-stream"]["schema"] == binary
        assert op["requestBody"]["required"] is True
    headers = {p["name"] for p in document.operation("PATCH", FILES_T)["parameters"] if p["in"] == "header"}
    assert headers == {"Content-Range"}
    download = document.operation("GET", f"{EXPORT}/files/{{file_id}}")
    assert [p["name"] for p in download["parameters"] if p["in"] == "header"] == ["Range"]
    assert download["responses"]["206"]["content"]["application/octet-stream"]["schema"] == binary
    for method in ("PUT", "PATCH", "POST"):
        op = document.operation(method, FILES_T)
        name = next(p for p in op["parameters"] if p["name"] == op[REST_OF_PATH])
        assert name["in"] == "path" and "'/' included" in name["description"]
    action = document.operation("POST", FILES_T)["requestBody"]
    assert action["required"] is False
    assert action["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/FileActionBody"}


def test_every_documented_answer_is_real_and_true(
    api: Api, aws: Aws, document: Document, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    assert set(valid_requests("d", "b", "s", "f")) == document.operations(), (
        "valid_requests must name every operation"
    )
    catalog = lake_env(monkeypatch, tmp_path)
    run = Run(api)
    ids = _datasets_and_schemas(run)
    ds = ids["ds"]
    b = _batches(run, ds)
    file_id = _uploads(run, aws, ds, b)
    _exports(run, aws, ds, b, file_id)
    _rows(run, aws, catalog, ds)
    _keys(run, aws)
    job, run_id = _jobs(run, aws, ds, monkeypatch)
    feed, sync = _feeds(run, aws, ds, monkeypatch)
    bundle = _bundles(run, aws, ds, b, monkeypatch)
    _everywhere(
        run, monkeypatch, valid_requests(ds, b, ids["schema"], file_id, job, run_id, feed, sync, bundle)
    )

    problems = [p for a in run.answered for p in document.problems(a)]
    assert not problems, "answers the document does not describe:\n" + "\n".join(problems)
    answered = {(a.method, document.match(a.method, a.path), a.resp.status) for a in run.answered}
    missing = sorted(document.documented() - answered)
    assert not missing, f"documented but never answered here (add a request that provokes it): {missing}"


# -- the requests ------------------------------------------------------------------------------
def _datasets_and_schemas(run: Run) -> dict[str, str]:
    ds = run.call(201, "POST", DATASETS, json_body=DATASET).json()[0].split("/")[-1]
    json_schema = {"type": "object", "properties": {"id": {"type": "string"}}, "required": ["id"]}
    spare = (
        run.call(201, "POST", DATASETS, json_body={"name": "js", "schema": json_schema})
        .json()[0]
        .split("/")[-1]
    )
    run.call(400, "POST", DATASETS, json_body={"schema": {"fields": FIELDS}})
    run.call(404, "POST", DATASETS, json_body={"name": "r", "schemaRef": {"id": "0" * 24}})
    run.call(415, "POST", DATASETS, json_body=DATASET, headers={"Content-Type": "text/plain"})
    run.call(200, "GET", DATASETS, query={"limit": "10"})
    run.call(400, "GET", DATASETS, query={"limit": "0"})
    run.call(200, "GET", f"{DATASETS}/{ds}")
    run.call(404, "GET", f"{DATASETS}/nope")
    relaxed = [{**FIELDS[0], "required": False}, FIELDS[1]]
    run.call(200, "PATCH", f"{DATASETS}/{ds}", json_body={"schema": {"fields": relaxed}})
    run.call(400, "PATCH", f"{DATASETS}/{ds}", json_body={"schemas": {}})
    run.call(404, "PATCH", f"{DATASETS}/nope", json_body={"schema": {"fields": FIELDS}})
    run.call(409, "PATCH", f"{DATASETS}/{ds}", json_body={"schema": {"fields": relaxed[:1]}})
    run.call(
        415,
        "PATCH",
        f"{DATASETS}/{ds}",
        json_body={"schema": {"fields": relaxed}},
        headers={"Content-Type": "text/plain"},
    )
    run.call(204, "DELETE", f"{DATASETS}/{spare}")
    run.call(404, "DELETE", f"{DATASETS}/{spare}")

    registered = run.call(201, "POST", SCHEMAS, json_body={"title": "profile", "fields": FIELDS}).json()
    run.call(201, "POST", SCHEMAS, json_body={"title": "as JSON Schema", **json_schema})
    run.call(400, "POST", SCHEMAS, json_body={"fields": FIELDS})
    run.call(
        415,
        "POST",
        SCHEMAS,
        json_body={"title": "t", "fields": FIELDS},
        headers={"Content-Type": "text/plain"},
    )
    run.call(200, "GET", SCHEMAS)
    run.call(400, "GET", SCHEMAS, query={"limit": "0"})
    run.call(200, "GET", f"{SCHEMAS}/{quote(registered['$id'], safe='')}")
    run.call(400, "GET", f"{SCHEMAS}/not-an-id")
    run.call(404, "GET", f"{SCHEMAS}/{'0' * 24}")
    run.call(201, "POST", DATASETS, json_body={"name": "ref", "schemaRef": {"id": registered["$id"]}})
    return {"ds": ds, "schema": registered["meta:altId"]}


def _batches(run: Run, ds: str) -> str:
    def new(**extra: Any) -> str:
        return str(
            run.call(
                201, "POST", IMPORT, json_body={"datasetId": ds, "inputFormat": {"format": "json"}, **extra}
            ).json()["id"]
        )

    b = new()
    run.call(400, "POST", IMPORT, json_body={"datasetId": "nope", "inputFormat": {"format": "json"}})
    run.call(
        415,
        "POST",
        IMPORT,
        json_body={"datasetId": ds, "inputFormat": {"format": "json"}},
        headers={"Content-Type": "text/plain"},
    )
    run.call(200, "GET", f"{IMPORT}/{b}")
    run.call(404, "GET", f"{IMPORT}/nope")
    run.call(200, "GET", f"{CATALOG}/{b}")
    run.call(404, "GET", f"{CATALOG}/nope")
    run.call(200, "GET", CATALOG, query={"dataSet": ds, "status": "loading", "orderBy": "asc:created"})
    run.call(400, "GET", CATALOG, query={"orderBy": "size"})
    stats = run.call(200, "GET", STATS, query={"window": "30d", "dataSet": ds, "utcOffset": "-300"}).json()
    assert stats["totals"]["batches"] >= 1 and len(stats["bins"]) == 30
    run.call(400, "GET", STATS, query={"window": "7d"})
    run.call(400, "GET", STATS, query={"utcOffset": "900"})
    aborted = new()
    run.call(200, "POST", f"{IMPORT}/{aborted}", query={"action": "ABORT"})
    run.call(409, "POST", f"{IMPORT}/{aborted}", query={"action": "COMPLETE"})
    run.call(400, "POST", f"{IMPORT}/{b}", query={"action": "FINISH"})
    run.call(400, "POST", f"{IMPORT}/{b}", query={"action": "COMPLETE"}, json_body={"purge": True})
    run.call(404, "POST", f"{IMPORT}/nope", query={"action": "COMPLETE"})
    run.call(409, "DELETE", f"{DATASETS}/{ds}")  # b is still loading
    return b


def _uploads(run: Run, aws: Aws, ds: str, b: str) -> str:
    def path(name: str, batch: str = b, dataset: str = ds) -> str:
        return f"{IMPORT}/{batch}/datasets/{dataset}/files/{name}"

    day = b'{"id": "a", "n": 1}\n'
    run.call(200, "PUT", path("2026/11/day.json"), data=day)
    run.call(200, "PUT", path("2026%2F11%2Fday.json"), data=day)  # the same file: a retry
    run.call(400, "PUT", path("2026/../day.json"), data=day)
    run.call(404, "PUT", path("day.json", dataset="other"), data=day)
    run.call(409, "PUT", path("2026/11/day.json"), data=b"other bytes")
    run.call(413, "PUT", path("big.json"), data=b"x" * (SINGLE_PUT_MAX + 1))
    run.call(415, "PUT", path("day.json"), data=day, headers={"Content-Type": "text/plain"})

    run.call(201, "POST", path("chunked.json"), query={"action": "INITIALIZE"})
    chunk = {"Content-Range": "bytes 0-9/20"}
    run.call(200, "PATCH", path("chunked.json"), data=b'{"id": "b"', headers=chunk)
    run.call(
        200, "PATCH", path("chunked.json"), data=b', "n": 2}\n', headers={"Content-Range": "bytes 10-19/*"}
    )
    run.call(201, "POST", path("chunked.json"), query={"action": "COMPLETE"})
    run.call(400, "PATCH", path("chunked.json"), data=b"0123456789")
    run.call(404, "PATCH", path("never-initialized.json"), data=b"0123456789", headers=chunk)
    run.call(409, "PATCH", path("2026/11/day.json"), data=b"0123456789", headers=chunk)
    run.call(413, "PATCH", path("chunked.json"), data=b"x" * (SINGLE_PUT_MAX + 1), headers=chunk)
    run.call(
        415,
        "PATCH",
        path("chunked.json"),
        data=b"0123456789",
        headers={**chunk, "Content-Type": "text/plain"},
    )

    run.call(201, "POST", path("presigned.json"), query={"action": "PRESIGN"}, json_body={"size": 10})
    multipart = {"size": 11 * MIB, "partSize": 5 * MIB, "expiresIn": 600}
    run.call(201, "POST", path("multipart.json"), query={"action": "PRESIGN"}, json_body=multipart)
    run.call(400, "POST", path("x.json"), query={"action": "PRESIGN"})
    run.call(400, "POST", path("x.json"), query={"action": "UPLOAD"})
    run.call(404, "POST", path("x.json", batch="nope"), query={"action": "INITIALIZE"})
    run.call(409, "POST", path("2026/11/day.json"), query={"action": "INITIALIZE"})
    run.call(409, "POST", f"{IMPORT}/{b}", query={"action": "COMPLETE"})  # presigned files have no data

    listing = run.call(200, "GET", f"{EXPORT}/batches/{b}/files").json()
    return str(next(f for f in listing["data"] if f["name"] == "2026/11/day.json")["dataSetFileId"])


def _exports(run: Run, aws: Aws, ds: str, b: str, file_id: str) -> None:
    run.call(400, "GET", f"{EXPORT}/batches/{b}/files", query={"limit": "0"})
    run.call(404, "GET", f"{EXPORT}/batches/nope/files")
    # what a validator writes: a failed-records report and its key on the file item
    f = aws.store.get_file("acme", "prod", b, "2026/11/day.json")
    assert f is not None
    report = f"failed/acme/prod/{ds}/{b}/day.json.errors.jsonl"
    aws.s3.put_object(Bucket=BUCKET, Key=report, Body=b'{"row": 1, "code": "BG-ROW-TYPE"}\n')
    aws.store.put_file("acme", "prod", f.model_copy(update={"failed_key": report, "status": "validated"}))
    failed = run.call(200, "GET", f"{EXPORT}/batches/{b}/failed").json()
    assert [x["isValid"] for x in failed["data"]] == [False]
    run.call(400, "GET", f"{EXPORT}/batches/{b}/failed", query={"start": "-1"})
    run.call(404, "GET", f"{EXPORT}/batches/nope/failed")
    quiet = run.call(
        201,
        "POST",
        IMPORT,
        json_body={"datasetId": ds, "inputFormat": {"format": "json"}, "enableErrorDiagnostics": False},
    ).json()["id"]
    run.call(409, "GET", f"{EXPORT}/batches/{quiet}/failed")

    href = f"{EXPORT}/files/{file_id}"
    run.call(200, "GET", href)
    run.call(206, "GET", href, headers={"Range": "bytes=0-4"})
    run.call(416, "GET", href, headers={"Range": "bytes=1000-"})
    run.call(404, "GET", f"{EXPORT}/files/not-an-id")
    aws.s3.put_object(Bucket=BUCKET, Key=f.key, Body=b"y" * (SINGLE_PUT_MAX + 10))  # as a presigned PUT would
    run.call(307, "GET", href)

    done = run.call(
        201, "POST", IMPORT, json_body={"datasetId": ds, "inputFormat": {"format": "json"}}
    ).json()["id"]
    run.call(200, "PUT", f"{IMPORT}/{done}/datasets/{ds}/files/one.json", data=b'{"id": "c"}\n')
    run.call(200, "POST", f"{IMPORT}/{done}", query={"action": "COMPLETE"})


def _rows(run: Run, aws: Aws, catalog: object, ds: str) -> None:
    from batchgate.lake.revert import revert

    rows = f"{EXPORT}/datasets/{ds}/rows"
    run.call(200, "GET", rows)  # no batch landed: an empty page
    first, second = (
        run.call(201, "POST", IMPORT, json_body={"datasetId": ds, "inputFormat": {"format": "json"}}).json()[
            "id"
        ]
        for _ in range(2)
    )
    land(aws, catalog, ds, first, ["r1", "r2"])
    land(aws, catalog, ds, second, ["r3"])
    page = run.call(200, "GET", rows, query={"limit": "2"}).json()
    assert page["page"]["next"] and all(r["_batch_id"] for r in page["data"])
    revert(catalog, aws.store.get_dataset("acme", "prod", ds), first)  # type: ignore[arg-type]
    set_status(aws, first, "inactive")
    run.call(409, "GET", rows, query={"limit": "2", "start": page["page"]["next"]})
    run.call(400, "GET", rows, query={"asOfBatch": first})
    run.call(404, "GET", f"{EXPORT}/datasets/nope/rows")


def _keys(run: Run, aws: Aws) -> None:
    made = run.call(201, "POST", KEYS, json_body={"role": "writer", "sandboxes": ["prod"]}).json()
    run.call(400, "POST", KEYS, json_body={"role": "owner", "sandboxes": ["prod"]})
    run.call(403, "POST", KEYS, json_body={"role": "reader", "sandboxes": ["dev"]})
    run.call(
        415,
        "POST",
        KEYS,
        json_body={"role": "reader", "sandboxes": ["prod"]},
        headers={"Content-Type": "text/plain"},
    )
    run.call(200, "GET", KEYS)
    run.call(200, "DELETE", f"{KEYS}/{made['id']}")
    run.call(404, "DELETE", f"{KEYS}/bgk_missing")
    run.call(409, "DELETE", f"{KEYS}/{run.api.creds.key_id}")


def _jobs(run: Run, aws: Aws, ds: str, monkeypatch: pytest.MonkeyPatch) -> tuple[str, str]:
    """Every answer of the jobs routes; the job and run that are left, for ``valid_requests``."""
    source_bucket(aws)
    run.call(200, "GET", WORKFLOWS)

    job = run.call(201, "POST", JOBS, json_body=ingest_s3(ds)).json()["id"]
    run.call(400, "POST", JOBS, json_body=ingest_s3(ds, name="w", workflow="ingest-ftp"))  # BG-400-WORKFLOW
    bad = {"datasetId": ds, "bucket": SOURCES, "format": "xml"}
    run.call(400, "POST", JOBS, json_body=ingest_s3(ds, name="a", attributes=bad))  # BG-400-JOB-ATTRIBUTES
    cron5 = {"expression": "cron(0 3 * * *)"}
    run.call(400, "POST", JOBS, json_body=ingest_s3(ds, name="s", schedule=cron5))  # BG-400-SCHEDULE
    run.call(400, "POST", JOBS, json_body={"name": "no-schedule", "workflow": "ingest-s3"})  # BG-400-INVALID
    run.call(409, "POST", JOBS, json_body=ingest_s3(ds))  # BG-409-JOB-NAME
    run.call(415, "POST", JOBS, json_body=ingest_s3(ds, name="t"), headers={"Content-Type": "text/plain"})
    run.call(
        200, "GET", JOBS, query={"name": "partner-hourly", "status": "inactive", "workflow": "ingest-s3"}
    )
    run.call(400, "GET", JOBS, query={"limit": "0"})
    run.call(200, "GET", f"{JOBS}/{job}")
    run.call(404, "GET", f"{JOBS}/nope")

    path = f"{JOBS}/{job}"
    run.call(200, "PATCH", path, json_body={"description": "d", "schedule": {"expression": "rate(2 hours)"}})
    run.call(400, "PATCH", path, json_body={"name": "renamed"})  # BG-400-JOB-FIXED
    run.call(400, "PATCH", path, json_body={"workflow": "ingest-http"})  # BG-400-JOB-FIXED
    run.call(404, "PATCH", f"{JOBS}/nope", json_body={"description": "d"})
    run.call(415, "PATCH", path, json_body={"description": "d"}, headers={"Content-Type": "text/plain"})
    run.call(200, "POST", path, query={"action": "ACTIVATE"})
    run.call(409, "PATCH", path, json_body={"description": "d"})  # BG-409-JOB-ACTIVE
    run.call(409, "DELETE", path)  # BG-409-JOB-ACTIVE
    run.call(200, "POST", path, query={"action": "DEACTIVATE"})
    run_id = run.call(202, "POST", path, query={"action": "RUN"}).json()["runId"]
    run.call(400, "POST", path, query={"action": "PAUSE"})
    run.call(404, "POST", f"{JOBS}/nope", query={"action": "RUN"})
    feed = create_job(run.api, export_feed(make_feed(run.api, ds)))["id"]
    for env in ("BATCHGATE_SCHEDULE_GROUP", "BATCHGATE_JOB_RUN_SM"):
        with monkeypatch.context() as patched:
            patched.delenv(env)
            refresh_process_state()
            run.call(503, "POST", path, query={"action": "ACTIVATE"})  # BG-503-NOT-CONFIGURED
        refresh_process_state()
    run.call(204, "DELETE", f"{JOBS}/{feed}")
    run.call(404, "DELETE", f"{JOBS}/{feed}")

    run.call(
        200, "GET", RUNS, query={"jobId": job, "jobName": "partner-hourly", "status": "running", "limit": "5"}
    )
    run.call(400, "GET", RUNS, query={"status": "done"})
    run.call(200, "GET", f"{RUNS}/{run_id}")
    run.call(404, "GET", f"{RUNS}/nope")
    writer = key_api(aws, "writer", ["prod"]).creds  # BG-403-ROLE: managing jobs is the admin's
    run.call(403, "POST", JOBS, json_body=ingest_s3(ds, name="w2"), creds=writer)
    run.call(403, "POST", path, query={"action": "RUN"}, creds=writer)
    assert act(run.api, job, "DEACTIVATE").status == 200  # left inactive, as valid_requests expects
    return job, run_id


def _feeds(run: Run, aws: Aws, ds: str, monkeypatch: pytest.MonkeyPatch) -> tuple[str, str]:
    """Every answer of the feeds routes; a feed (left holding a sync) and that sync."""
    feed = run.call(201, "POST", FEEDS, json_body=webhook_feed(ds)).json()["id"]
    run.call(400, "POST", FEEDS, json_body=webhook_feed("nope", "a"))  # BG-400-FEED-DATASET
    run.call(400, "POST", FEEDS, json_body=webhook_feed(ds, "b", columns=["colour"]))  # BG-400-FEED-COLUMNS
    missing = {"type": "s3", "uri": "s3://batchgate-feed-destinations-missing/p/"}
    run.call(
        400, "POST", FEEDS, json_body=webhook_feed(ds, "c", destination=missing)
    )  # BG-400-FEED-DESTINATION
    run.call(400, "POST", FEEDS, json_body={"name": "d", "datasetId": ds})  # BG-400-INVALID
    run.call(415, "POST", FEEDS, json_body=webhook_feed(ds, "e"), headers={"Content-Type": "text/plain"})
    run.call(200, "GET", FEEDS, query={"datasetId": ds})
    run.call(400, "GET", FEEDS, query={"limit": "0"})
    run.call(200, "GET", f"{FEEDS}/{feed}")
    run.call(404, "GET", f"{FEEDS}/nope")
    run.call(200, "GET", f"{FEEDS}/{feed}/estimate", query={"mode": "full"})
    run.call(400, "GET", f"{FEEDS}/{feed}/estimate", query={"mode": "partial"})
    run.call(404, "GET", f"{FEEDS}/nope/estimate")
    stale = run.call(201, "POST", FEEDS, json_body=webhook_feed(ds, "stale")).json()["id"]
    store = FeedStore(aws.template.table)
    record = store.get_feed("acme", "prod", stale)
    store.save_feed(
        record.model_copy(update={"watermark": Watermark(snapshot=1)}), expected_version=record.version
    )
    run.call(409, "GET", f"{FEEDS}/{stale}/estimate")  # BG-409-FEED-WATERMARK-EXPIRED
    run.call(204, "DELETE", f"{FEEDS}/{stale}")
    run.call(404, "DELETE", f"{FEEDS}/{stale}")
    run.call(409, "POST", f"{FEEDS}/{feed}", query={"action": "RETRY_FAILED"})  # BG-409-NOTHING-TO-RETRY
    run.call(400, "POST", f"{FEEDS}/{feed}", query={"action": "PAUSE"})
    run.call(404, "POST", f"{FEEDS}/nope", query={"action": "SYNC"})
    with monkeypatch.context() as patched:
        patched.delenv("BATCHGATE_FEED_SYNC_SM")
        refresh_process_state()
        run.call(503, "POST", f"{FEEDS}/{feed}", query={"action": "SYNC"})  # BG-503-NOT-CONFIGURED
    refresh_process_state()
    # Syncs do not run here (no task worker): the feed keeps the lock of the one started.
    sync = run.call(202, "POST", f"{FEEDS}/{feed}", query={"action": "SYNC"}).json()["syncId"]
    run.call(409, "POST", f"{FEEDS}/{feed}", query={"action": "FULL_SYNC"})  # BG-409-SYNC-RUNNING
    run.call(409, "DELETE", f"{FEEDS}/{feed}")  # BG-409-SYNC-RUNNING
    run.call(200, "GET", f"{FEEDS}/{feed}/syncs")
    run.call(400, "GET", f"{FEEDS}/{feed}/syncs", query={"limit": "0"})
    run.call(404, "GET", f"{FEEDS}/nope/syncs")
    run.call(200, "GET", f"{FEEDS}/{feed}/syncs/{sync}")
    run.call(404, "GET", f"{FEEDS}/{feed}/syncs/nope")
    run.call(200, "GET", f"{FEEDS}/{feed}/syncs/{sync}/items", query={"status": "failed"})
    run.call(400, "GET", f"{FEEDS}/{feed}/syncs/{sync}/items", query={"status": "lost"})
    run.call(404, "GET", f"{FEEDS}/{feed}/syncs/nope/items")
    writer = key_api(aws, "writer", ["prod"]).creds  # BG-403-ROLE: managing feeds is the admin's
    run.call(403, "POST", FEEDS, json_body=webhook_feed(ds, "w"), creds=writer)
    return feed, sync


def _bundles(run: Run, aws: Aws, ds: str, b: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """Every answer of the bundles routes; the id of an export started (it does not run here)."""
    for name in ("export", "import"):
        arn = getattr(aws.template.settings, f"bundle_{name}_state_machine_arn")
        assert arn, f"the template's Bundle{name.title()}StateMachine was created"
        monkeypatch.setenv(f"BATCHGATE_BUNDLE_{name.upper()}_SM", arn)
    refresh_process_state()
    export = {"query": {"action": "EXPORT"}}
    started = run.call(202, "POST", BUNDLES, json_body={"datasetIds": [ds]}, **export).json()["id"]
    run.call(400, "POST", BUNDLES, json_body={"datasetIds": ["nope"]}, **export)  # BG-400-BUNDLE-DATASET
    run.call(400, "POST", BUNDLES, json_body={"datasetIds": [ds], "asOfBatch": "nope"}, **export)
    run.call(400, "POST", BUNDLES, json_body={"datasetIds": []}, **export)  # BG-400-INVALID
    run.call(400, "POST", BUNDLES, query={"action": "SHIP"})
    plan = run.call(201, "POST", BUNDLES, query={"action": "PRESIGN"}).json()
    assert plan["method"] == "PUT" and plan["url"].startswith("http")
    imports = {"query": {"action": "IMPORT"}}
    run.call(400, "POST", BUNDLES, json_body={"uploadId": plan["uploadId"]}, **imports)  # nothing PUT yet
    run.call(202, "POST", BUNDLES, data=b"PK\x05\x06" + bytes(18), **imports)
    run.call(400, "POST", BUNDLES, data=b"", **imports)  # an empty body
    run.call(
        415, "POST", BUNDLES, json_body={"uploadId": "x"}, headers={"Content-Type": "text/plain"}, **imports
    )
    run.call(200, "GET", BUNDLES, query={"kind": "import"})
    run.call(400, "GET", BUNDLES, query={"limit": "0"})
    shown = run.call(200, "GET", f"{BUNDLES}/{started}").json()
    assert shown["kind"] == "export" and shown["status"] == "running" and "download" not in shown
    run.call(404, "GET", f"{BUNDLES}/nope")
    with monkeypatch.context() as patched:
        patched.delenv("BATCHGATE_BUNDLE_EXPORT_SM")
        refresh_process_state()
        run.call(503, "POST", BUNDLES, json_body={"datasetIds": [ds]}, **export)  # BG-503-NOT-CONFIGURED
    refresh_process_state()
    writer = key_api(aws, "writer", ["prod"]).creds  # BG-403-ROLE: bundles are the admin's
    run.call(403, "POST", BUNDLES, json_body={"datasetIds": [ds]}, creds=writer, **export)
    return str(started)


def _everywhere(run: Run, monkeypatch: pytest.MonkeyPatch, valid: dict[tuple[str, str], Req]) -> None:
    """401 (API Gateway's and the API function's own), 403, 500 and a 503 on every operation."""
    no_creds = {"Authorization": None, "x-api-key": None}
    for r in valid.values():
        run.call(401, r.method, r.path, **{**r.kw, "headers": {**r.kw.get("headers", {}), **no_creds}})
        event = run.api.event(r.method, r.path, **r.kw)
        del event["requestContext"]["authorizer"]  # as if the API were reachable without its authorizer
        run.send(401, event, authorize=False)
        run.call(
            403, r.method, r.path, **{**r.kw, "headers": {**r.kw.get("headers", {}), "x-sandbox-name": "dev"}}
        )
    with monkeypatch.context() as patched:
        for module in (batches, bundles, datasets, exports, feeds, files, jobs, keys, schemas):
            patched.setattr(module, "services", _broken)
        for r in valid.values():
            run.call(500, r.method, r.path, **r.kw)
    with monkeypatch.context() as patched:
        patched.delenv("BATCHGATE_COMPLETE_SM")
        refresh_process_state()
        action = valid[("POST", f"{IMPORT}/{{batch_id}}")]
        run.call(503, action.method, action.path, **action.kw)
    refresh_process_state()


def _broken() -> Any:
    raise RuntimeError("the services could not be built")
