"""The API: one powertools resolver with request validation, routes split by resource, one error
map, and the OpenAPI document generated from the routes' declarations (request models, the
``responses`` models, typed parameters), finished by ``openapi_fixups``."""

from __future__ import annotations

import base64
import json
import re
import threading
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote, unquote

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.event_handler.openapi.models import APIKey, APIKeyIn, HTTPBearer, OpenAPI
from aws_lambda_powertools.utilities.typing import LambdaContext

from batchgate.api.auth import check_role, principal_from_request_context
from batchgate.api.body_limits import check_json_body
from batchgate.api.error_map import error_body, error_response
from batchgate.api.openapi_fixups import finish
from batchgate.api.routes import (
    batches,
    bundles,
    dashboard,
    datasets,
    exports,
    feeds,
    files,
    jobs,
    keys,
    schemas,
)
from batchgate.api.services.file_upload.common import OCTET_STREAM
from batchgate.core.errors import BatchgateError, InvalidRequest

TITLE = "batchgate"
VERSION = "1.0.0"
DESCRIPTION = (
    "AEP Batch Ingestion API compatible batch ingestion into Apache Iceberg. Every call needs "
    "'Authorization: Bearer <token>', 'x-api-key', 'x-gw-ims-org-id' and 'x-sandbox-name' (the four "
    'security schemes). Errors are JSON: {"error": {"code", "message", "requestId"}} (the Error '
    "schema), with a stable code BG-<status>-<WHAT>; request validation errors are 400 BG-400-INVALID. "
    "When API Gateway's authorizer refuses a call, API Gateway itself answers 401 / 403 with "
    '{"message"}; it also answers throttling (429) and bodies above 10 MB (413) in that shape.'
)

# The four AEP headers, so Swagger UI's "Authorize" dialog can send them.
SECURITY_SCHEMES: dict[str, Any] = {
    "bearer": HTTPBearer(description="Authorization: Bearer <the key's token> (batchgate keys create)"),
    "apiKey": APIKey(name="x-api-key", description="the key's id", **{"in": APIKeyIn.header}),
    "org": APIKey(name="x-gw-ims-org-id", description="the key's org", **{"in": APIKeyIn.header}),
    "sandbox": APIKey(name="x-sandbox-name", description="a sandbox of the key", **{"in": APIKeyIn.header}),
}
SECURITY: list[dict[str, list[str]]] = [{"bearer": [], "apiKey": [], "org": [], "sandbox": []}]
_DOC: dict[str, Any] = {
    "title": TITLE,
    "version": VERSION,
    "description": DESCRIPTION,
    "security_schemes": SECURITY_SCHEMES,
    "security": SECURITY,
}
ROUTERS = (datasets, schemas, batches, files, exports, feeds, keys, jobs, bundles)
# Bodies and headers the routes read themselves: powertools cannot be told of them (openapi_fixups).
READ_BY_ROUTES = (
    *batches.READ_BY_ROUTES,
    *files.READ_BY_ROUTES,
    *exports.READ_BY_ROUTES,
    *bundles.READ_BY_ROUTES,
)


class _Resolver(APIGatewayRestResolver):
    """powertools' resolver, its OpenAPI document finished by ``openapi_fixups``: overriding the
    one method that /openapi.json and /swagger both read the document from."""

    def get_openapi_schema(self, **kwargs: Any) -> OpenAPI:
        return finish(super().get_openapi_schema(**kwargs), READ_BY_ROUTES)


app = _Resolver(enable_validation=True)
for _module in ROUTERS:
    app.include_router(_module.router)
# The Swagger UI's JS and CSS ship inside powertools and are inlined: it works offline.
app.enable_swagger(path="/swagger", **_DOC)


@app.get("/openapi.json", include_in_schema=False)
def openapi_json() -> Response[str]:
    return Response(200, "application/json", app.get_openapi_json_schema(**_DOC))


@app.get("/health", include_in_schema=False)
def health() -> dict[str, str]:
    """Liveness for the local stack and load balancers: no caller needed, touches nothing."""
    return {"status": "ok"}


@app.exception_handler(Exception)
def handle_error(exc: Exception) -> Response[str]:
    ctx = app.current_event.get("requestContext") or {}
    return error_response(exc, ctx.get("requestId"))


_FILE_PATH = re.compile(r"^(/data/foundation/import/batches/[^/]+/datasets/[^/]+/files/)(.+)$")
# powertools keeps the current event on a class attribute: one request at a time per process.
# Lambda never runs two at once; the lock makes a threaded local server safe too.
_lock = threading.Lock()


def _encode_file_name(event: Mapping[str, Any]) -> dict[str, Any]:
    """A file name may contain '/': fold the rest of the path into one percent-encoded segment.
    API Gateway's REST ``path`` keeps the client's percent-encoding (``my%20file.json``): it is
    decoded exactly once here, so the name the routes see and check is the name the client meant."""
    out = dict(event)
    m = _FILE_PATH.match(str(event.get("path") or ""))
    if m:
        try:
            name = unquote(m.group(2), errors="strict")
        except UnicodeDecodeError as exc:
            raise InvalidRequest(
                "the file name's percent-encoding is not UTF-8", code="BG-400-FILE-NAME"
            ) from exc
        out["path"] = m.group(1) + quote(name, safe="")
    return out


def _check_json_body(event: Mapping[str, Any]) -> None:
    """Refuse a JSON body that must not reach a parser (see ``body_limits``). File bytes
    (``application/octet-stream``) are never inspected here: they are the user's data."""
    headers = {str(k).lower(): str(v) for k, v in (event.get("headers") or {}).items() if v is not None}
    body = event.get("body")
    if not body or headers.get("content-type", "").split(";")[0].strip().lower() == OCTET_STREAM:
        return
    encoded = event.get("isBase64Encoded")
    check_json_body(base64.b64decode(body) if encoded else str(body).encode("utf-8", "surrogatepass"))


def _refusal(event: Mapping[str, Any], exc: BatchgateError) -> dict[str, Any]:
    """An error answer given before the resolver runs, in the REST proxy shape it answers with."""
    request_id = (event.get("requestContext") or {}).get("requestId")
    return {
        "statusCode": exc.status,
        "body": json.dumps(error_body(exc.status, exc.code, exc.message, request_id)),
        "isBase64Encoded": False,
        "multiValueHeaders": {"Content-Type": ["application/json"]},
    }


def _upper_case_action(event: dict[str, Any]) -> dict[str, Any]:
    """``?action=complete`` works as ``COMPLETE`` (one line of AEP's guide writes it so)."""
    for field in ("queryStringParameters", "multiValueQueryStringParameters"):
        params = event.get(field)
        if isinstance(params, dict) and "action" in params:
            value = params["action"]
            upper = [str(v).upper() for v in value] if isinstance(value, list) else str(value).upper()
            event[field] = {**params, "action": upper}
    return event


def _check_role(event: Mapping[str, Any]) -> None:
    """The key's role against the call, before any route runs (routes without an authorizer
    context, such as /health, are left to answer or refuse themselves)."""
    request_context = event.get("requestContext") or {}
    if not request_context.get("authorizer"):
        return
    check_role(
        principal_from_request_context(request_context),
        str(event.get("httpMethod") or "GET"),
        str(event.get("path") or "/"),
    )


def resolve(event: Mapping[str, Any], context: LambdaContext) -> dict[str, Any]:
    if dashboard.is_dashboard(event):
        return dashboard.answer(event)
    try:
        _check_role(event)
        _check_json_body(event)
        prepared = _upper_case_action(_encode_file_name(event))
    except BatchgateError as exc:
        return _refusal(event, exc)
    with _lock:
        return app.resolve(prepared, context)
