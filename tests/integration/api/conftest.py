"""Integration fixtures for the API: a moto server (the local stack's embedded AWS), the table,
bucket and state machines, API keys, and an ``api`` helper that does what API Gateway does —
run the REQUEST authorizer, then the API function with the authorizer's context."""

from __future__ import annotations

import base64
import copy
import importlib.util
import json
import logging
import os
import socket
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import quote

import boto3
import pytest
import requests
from moto.server import ThreadedMotoServer

from batchgate.api import deps
from batchgate.api.auth import NewKey, new_key
from batchgate.aws.clients import reset_clients
from batchgate.aws.store import Store
from batchgate.settings import settings

ROOT = Path(__file__).resolve().parents[3]
EVENTS = ROOT / "events" / "api"
TABLE, BUCKET = "batchgate-test", "batchgate-test-uploads"
# Above S3's 5 MiB part minimum, so a single chunk can exercise the server-side copy path.
SINGLE_PUT_MAX = 6 * 1024 * 1024
PASS = json.dumps({"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}})
ROLE = "arn:aws:iam::123456789012:role/batchgate-test"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def load_module(name: str, path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def moto_url() -> Iterator[str]:
    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    url = f"http://127.0.0.1:{port}"
    with pytest.MonkeyPatch.context() as mp:
        for k, v in {
            "AWS_ENDPOINT_URL": url,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_REGION": "us-east-1",
            "BATCHGATE_TABLE": TABLE,
            "BATCHGATE_BUCKET": BUCKET,
            "BATCHGATE_SINGLE_PUT_MAX": str(SINGLE_PUT_MAX),
            "POWERTOOLS_TRACE_DISABLED": "1",
            "POWERTOOLS_METRICS_DISABLED": "1",
            "POWERTOOLS_DEV": "0",
        }.items():
            mp.setenv(k, v)
        yield url
    server.stop()


@dataclass
class Aws:
    url: str
    store: Store
    machines: dict[str, str]

    @property
    def s3(self) -> Any:
        return boto3.client("s3", endpoint_url=self.url)

    @property
    def sfn(self) -> Any:
        return boto3.client("stepfunctions", endpoint_url=self.url)

    def executions(self, action: str) -> list[dict[str, Any]]:
        return list(self.sfn.list_executions(stateMachineArn=self.machines[action])["executions"])


def _refresh() -> None:
    settings.cache_clear()
    reset_clients()
    deps.reset()


@pytest.fixture
def aws(moto_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Aws]:
    requests.post(f"{moto_url}/moto-api/reset", timeout=10)
    ddb = boto3.client("dynamodb", endpoint_url=moto_url)
    names = ["pk", "sk", "gsi1pk", "gsi1sk", "gsi2pk", "gsi2sk", "gsi3pk", "gsi3sk"]
    ddb.create_table(
        TableName=TABLE,
        AttributeDefinitions=[{"AttributeName": n, "AttributeType": "S"} for n in names],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        GlobalSecondaryIndexes=[
            {
                "IndexName": g,
                "KeySchema": [
                    {"AttributeName": f"{g}pk", "KeyType": "HASH"},
                    {"AttributeName": f"{g}sk", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
            for g in ("gsi1", "gsi2", "gsi3")
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    boto3.client("s3", endpoint_url=moto_url).create_bucket(Bucket=BUCKET)
    sfn = boto3.client("stepfunctions", endpoint_url=moto_url)
    machines = {}
    for action, env in (
        ("COMPLETE", "BATCHGATE_COMPLETE_SM"),
        ("REVERT", "BATCHGATE_REVERT_SM"),
        ("ABORT", "BATCHGATE_ABORT_SM"),
    ):
        arn = sfn.create_state_machine(name=f"bg-{action.lower()}", definition=PASS, roleArn=ROLE)[
            "stateMachineArn"
        ]
        machines[action] = arn
        monkeypatch.setenv(env, arn)
    _refresh()
    yield Aws(moto_url, Store(TABLE), machines)
    _refresh()


@dataclass
class Creds:
    key_id: str
    token: str
    org: str
    sandbox: str

    def headers(self) -> dict[str, str]:
        return {
            "Authorization": f"Bearer {self.token}",
            "x-api-key": self.key_id,
            "x-gw-ims-org-id": self.org,
            "x-sandbox-name": self.sandbox,
        }


def _creds(key: NewKey) -> Creds:
    return Creds(key.key_id, key.token, key.record["org"], key.record["sandbox"])


@dataclass
class Resp:
    status: int
    headers: dict[str, str]
    body: bytes
    raw: dict[str, Any] = field(repr=False)

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def error_code(self) -> str:
        return str(self.json()["error"]["code"])


class LambdaContext:
    function_name = "batchgate-api"
    function_version = "$LATEST"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:batchgate-api"
    aws_request_id = "00000000-0000-0000-0000-000000000000"
    log_group_name = "/aws/lambda/batchgate-api"
    log_stream_name = "test"

    def get_remaining_time_in_millis(self) -> int:
        return 29_000


_FUNCTIONS: dict[str, ModuleType] = {}


def function(name: str) -> ModuleType:
    if name not in _FUNCTIONS:
        _FUNCTIONS[name] = load_module(f"bg_function_{name}", ROOT / "functions" / name / "app.py")
    return _FUNCTIONS[name]


def event_template(name: str = "request.json") -> dict[str, Any]:
    return dict(json.loads((EVENTS / name).read_text()))


class Api:
    """Calls the API function the way API Gateway does, authorizer first."""

    def __init__(self, creds: Creds) -> None:
        self.creds = creds
        self._n = 0

    def event(
        self,
        method: str,
        path: str,
        *,
        query: dict[str, str] | None = None,
        json_body: Any = None,
        data: bytes | None = None,
        headers: dict[str, str] | None = None,
        creds: Creds | None = None,
        template: str = "request.json",
    ) -> dict[str, Any]:
        ev = copy.deepcopy(event_template(template))
        self._n += 1
        ev["httpMethod"] = method
        ev["path"] = path
        ev["requestContext"]["requestId"] = f"req-{self._n:06d}"
        ev["requestContext"]["path"] = f"/prod{path}"
        ev["requestContext"]["httpMethod"] = method
        ev["queryStringParameters"] = query or None
        hdrs = (creds or self.creds).headers()
        if json_body is not None:
            ev["body"], ev["isBase64Encoded"] = json.dumps(json_body), False
            hdrs["Content-Type"] = "application/json"
        if data is not None:
            # API Gateway base64-encodes binary media types (template: BinaryMediaTypes */*).
            ev["body"], ev["isBase64Encoded"] = base64.b64encode(data).decode(), True
            hdrs["Content-Type"] = "application/octet-stream"
        hdrs.update(headers or {})
        ev["headers"] = {k: v for k, v in hdrs.items() if v is not None}
        return ev

    def call(self, method: str, path: str, **kwargs: Any) -> Resp:
        return self.invoke(self.event(method, path, **kwargs))

    def invoke(self, ev: dict[str, Any], *, authorize: bool = True) -> Resp:
        ev = copy.deepcopy(ev)
        if authorize:
            denied = self.authorize(ev)
            if denied is not None:
                return denied
        out = function("api").handler(ev, LambdaContext())
        body = out.get("body") or ""
        raw = base64.b64decode(body) if out.get("isBase64Encoded") else body.encode()
        headers = {k.lower(): v for k, v in (out.get("headers") or {}).items()}
        for k, values in (out.get("multiValueHeaders") or {}).items():
            headers[k.lower()] = ",".join(values)
        return Resp(out["statusCode"], headers, raw, out)

    def authorize(self, ev: dict[str, Any]) -> Resp | None:
        """Run the authorizer function; answer as API Gateway would on 401/403, else put its
        context into requestContext.authorizer."""
        req = event_template("authorizer_request.json")
        req["headers"] = dict(ev.get("headers") or {})
        req["path"], req["httpMethod"] = ev["path"], ev["httpMethod"]
        req["methodArn"] = (
            f"arn:aws:execute-api:us-east-1:123456789012:1234567890/prod/{ev['httpMethod']}{ev['path']}"
        )
        try:
            policy = function("authorizer").handler(req, LambdaContext())
        except Exception as exc:
            assert str(exc) == "Unauthorized"
            return Resp(401, {}, b'{"message":"Unauthorized"}', {})
        effect = policy["policyDocument"]["Statement"][0]["Effect"]
        if effect != "Allow":
            return Resp(403, {}, b'{"message":"User is not authorized to access this resource"}', {})
        ev["requestContext"]["authorizer"] = {"principalId": policy["principalId"], **policy["context"]}
        return None

    # -- conveniences ---------------------------------------------------------------------
    def create_dataset(self, **extra: Any) -> str:
        body = {
            "name": "profiles",
            "schema": {
                "fields": [
                    {"name": "id", "type": "string", "required": True},
                    {"name": "n", "type": "integer"},
                ]
            },
            **extra,
        }
        r = self.call("POST", "/data/foundation/catalog/dataSets", json_body=body)
        assert r.status == 201, r.body
        return str(r.json()[0].split("/")[-1])

    def create_batch(self, dataset_id: str, fmt: str = "json", **extra: Any) -> dict[str, Any]:
        body = {"datasetId": dataset_id, "inputFormat": {"format": fmt}, **extra}
        r = self.call("POST", "/data/foundation/import/batches", json_body=body)
        assert r.status == 201, r.body
        return dict(r.json())

    def file_path(self, batch_id: str, dataset_id: str, name: str) -> str:
        return f"/data/foundation/import/batches/{batch_id}/datasets/{dataset_id}/files/{name}"

    def put_file(self, batch_id: str, dataset_id: str, name: str, data: bytes, **kw: Any) -> Resp:
        return self.call("PUT", self.file_path(batch_id, dataset_id, name), data=data, **kw)

    def action(self, batch_id: str, action: str, **kw: Any) -> Resp:
        return self.call(
            "POST", f"/data/foundation/import/batches/{batch_id}", query={"action": action}, **kw
        )


def quoted(name: str) -> str:
    return quote(name, safe="/")


@pytest.fixture(scope="session")
def _session_keys() -> dict[str, NewKey]:
    # Hashed once per session (scrypt costs ~50 ms a key); re-stored after every moto reset, so
    # the authorizer's verified-key cache is warm from the second test on.
    return {
        "acme": new_key("acme", "prod", user="alice@acme"),
        "acme-dev": new_key("acme", "dev"),
        "other": new_key("other", "prod"),
    }


@pytest.fixture
def keys(aws: Aws, _session_keys: dict[str, NewKey]) -> dict[str, Creds]:
    for key in _session_keys.values():
        aws.store.put_api_key(key.key_id, key.record)
    return {name: _creds(key) for name, key in _session_keys.items()}


@pytest.fixture
def api(keys: dict[str, Creds]) -> Api:
    return Api(keys["acme"])


@pytest.fixture
def other_api(keys: dict[str, Creds]) -> Api:
    return Api(keys["other"])


os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "batchgate-test")
logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto server access log


class LambdaAdapter(requests.adapters.BaseAdapter):
    """A requests transport that hands each request to the API function through `Api.invoke`:
    the SDK and CLI run unchanged, with API Gateway's authorizer step and event shape."""

    def __init__(self, api: Api) -> None:
        super().__init__()
        self.api = api

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        from urllib.parse import parse_qsl, unquote, urlsplit

        url = urlsplit(request.url or "")
        body = request.body if isinstance(request.body, bytes) else (request.body or "").encode()
        ev = self.api.event(str(request.method), unquote(url.path), query=dict(parse_qsl(url.query)) or None)
        ev["headers"] = dict(request.headers)
        if body:
            ev["body"], ev["isBase64Encoded"] = base64.b64encode(body).decode(), True
        got = self.api.invoke(ev)
        resp = requests.Response()
        resp.status_code = got.status
        resp._content = got.body
        resp.headers = requests.structures.CaseInsensitiveDict(got.headers)
        resp.url = request.url or ""
        resp.request = request
        return resp

    def close(self) -> None:
        pass


API_URL = "http://api.test"


def sdk_session(api: Api) -> requests.Session:
    session = requests.Session()
    session.mount(API_URL, LambdaAdapter(api))
    return session
