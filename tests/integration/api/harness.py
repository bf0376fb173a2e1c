"""What the API tests drive the API with: the API function called the way API Gateway calls it
(authorizer first, REST proxy events from events/api/), credentials, and a requests transport
so the SDK and CLI run unchanged against it."""

from __future__ import annotations

import base64
import copy
import importlib.util
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import quote

import requests

from batchgate.api.auth import NewKey
from batchgate.aws.store import Store
from batchgate_tools.template import LocalNames, Resolver, load_template
from tests.conftest import TemplateAws

ROOT = Path(__file__).resolve().parents[3]
EVENTS = ROOT / "events" / "api"
_NAMES = Resolver(load_template(), LocalNames())
TABLE, BUCKET = _NAMES.physical_name("StateTable"), _NAMES.physical_name("UploadBucket")
# Above S3's 5 MiB part minimum, so a single chunk can exercise the server-side copy path.
SINGLE_PUT_MAX = 6 * 1024 * 1024
# Which environment variable carries each state machine's ARN (template.yaml).
MACHINE_ENV = {
    "COMPLETE": ("CompleteStateMachine", "BATCHGATE_COMPLETE_SM"),
    "REVERT": ("RevertStateMachine", "BATCHGATE_REVERT_SM"),
    "ABORT": ("AbortStateMachine", "BATCHGATE_ABORT_SM"),
}


def load_module(name: str, path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@dataclass
class Aws:
    """The template's resources, with the state machines the API starts (none of them runs)."""

    template: TemplateAws
    machines: dict[str, str]

    @property
    def store(self) -> Store:
        return self.template.store

    @property
    def s3(self) -> Any:
        return self.template.client("s3")

    @property
    def sfn(self) -> Any:
        return self.template.client("stepfunctions")

    def executions(self, action: str) -> list[dict[str, Any]]:
        return list(self.sfn.list_executions(stateMachineArn=self.machines[action])["executions"])


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


def creds_of(key: NewKey) -> Creds:
    return Creds(key.key_id, key.token, key.record["org"], key.record["sandboxes"][0])


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
# API Gateway's own answers (its default gateway responses) are JSON.
GATEWAY_HEADERS = {"content-type": "application/json"}


def function(name: str) -> ModuleType:
    if name not in _FUNCTIONS:
        _FUNCTIONS[name] = load_module(f"bg_function_{name}", ROOT / "functions" / name / "app.py")
    return _FUNCTIONS[name]


def event_template(name: str = "request.json") -> dict[str, Any]:
    """A sample of events/api/, or of another folder of events/ when ``name`` has a folder."""
    path = EVENTS.parent / name if "/" in name else EVENTS / name
    return dict(json.loads(path.read_text()))


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
        query: dict[str, str | list[str]] | None = None,
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
        # API Gateway's REST proxy sends the last value of a repeated parameter alone, and all of
        # them in multiValueQueryStringParameters.
        multi = {k: v if isinstance(v, list) else [v] for k, v in (query or {}).items()}
        ev["queryStringParameters"] = {k: v[-1] for k, v in multi.items() if v} or None
        ev["multiValueQueryStringParameters"] = multi or None
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
        req = event_template("authorizer/request.json")
        req["headers"] = dict(ev.get("headers") or {})
        req["path"], req["httpMethod"] = ev["path"], ev["httpMethod"]
        req["methodArn"] = (
            f"arn:aws:execute-api:us-east-1:123456789012:1234567890/prod/{ev['httpMethod']}{ev['path']}"
        )
        try:
            policy = function("authorizer").handler(req, LambdaContext())
        except Exception as exc:
            assert str(exc) == "Unauthorized"
            return Resp(401, GATEWAY_HEADERS, b'{"message":"Unauthorized"}', {})
        effect = policy["policyDocument"]["Statement"][0]["Effect"]
        if effect != "Allow":
            return Resp(
                403, GATEWAY_HEADERS, b'{"message":"User is not authorized to access this resource"}', {}
            )
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


class LambdaAdapter(requests.adapters.BaseAdapter):
    """A requests transport that hands each request to the API function through `Api.invoke`:
    the SDK and CLI run unchanged, with API Gateway's authorizer step and event shape."""

    def __init__(self, api: Api) -> None:
        super().__init__()
        self.api = api

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        from urllib.parse import parse_qsl, urlsplit

        url = urlsplit(request.url or "")
        body = request.body if isinstance(request.body, bytes) else (request.body or "").encode()
        # API Gateway's REST events keep the path percent-encoded, as the client sent it.
        ev = self.api.event(str(request.method), url.path, query=dict(parse_qsl(url.query)) or None)
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
