"""One map from exceptions to JSON error responses: ``{"error": {code, message, requestId}}``.

Every failure a client can see goes through :func:`error_response`; nothing else formats errors,
and no stack trace or Python detail ever reaches the body (it is logged with the request id).
"""

from __future__ import annotations

import json
import logging
from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.event_handler.openapi.exceptions import (
    RequestUnsupportedContentType,
    RequestValidationError,
)
from pydantic import ValidationError

from batchgate.core.errors import BatchgateError
from batchgate.core.models import SchemaError

logger = logging.getLogger(__name__)

JSON = "application/json"


def _loc(loc: Any) -> str:
    parts = [str(p) for p in (loc or ()) if p not in ("body",)]
    return ".".join(parts) or "body"


def _validation_messages(errors: list[Any]) -> str:
    # pydantic's messages name the field and the rule; the offending input is left out on purpose
    # (it may be large or sensitive).
    msgs = []
    for e in errors[:10]:
        msg = str(e.get("msg") or e.get("type") or "invalid")
        ctx = e.get("ctx") or {}
        if e.get("type") == "json_invalid" and ctx.get("error"):
            msg = f"body is not valid JSON: {ctx['error']}"
        msgs.append(f"{_loc(e.get('loc'))}: {msg}")
    more = len(errors) - 10
    return "; ".join(msgs) + (f"; and {more} more" if more > 0 else "")


def classify(exc: BaseException) -> tuple[int, str, str]:
    """(HTTP status, stable code, message) for any exception."""
    if isinstance(exc, BatchgateError):
        return exc.status, exc.code, exc.message
    if isinstance(exc, RequestUnsupportedContentType):
        return (
            415,
            "BG-415-CONTENT-TYPE",
            "this route takes a JSON body: send 'Content-Type: application/json'",
        )
    if isinstance(exc, RequestValidationError):
        return 400, "BG-400-INVALID", f"invalid request: {_validation_messages(list(exc.errors()))}"
    if isinstance(exc, ValidationError):
        errs = [dict(e) for e in exc.errors(include_url=False, include_input=False)]
        return 400, "BG-400-INVALID", f"invalid request: {_validation_messages(errs)}"
    if isinstance(exc, UnicodeDecodeError):
        # The resolver decodes JSON bodies as UTF-8 before any route runs.
        return 400, "BG-400-INVALID", "the request body is not valid UTF-8 JSON"
    if isinstance(exc, SchemaError):
        return 400, "BG-400-SCHEMA", str(exc)
    if isinstance(exc, NotFoundError):
        return 404, "BG-404-ROUTE", "no such route; see /openapi.json for the API's paths and methods"
    return 500, "BG-500-INTERNAL", "internal error; quote the request id when reporting it"


def error_body(status: int, code: str, message: str, request_id: str | None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "requestId": request_id or "unknown"}}


def error_response(exc: BaseException, request_id: str | None) -> Response[str]:
    status, code, message = classify(exc)
    if status >= 500:
        logger.exception("request failed", extra={"code": code, "request_id": request_id})
    headers: dict[str, str] = {}
    extra = getattr(exc, "headers", None)
    if isinstance(extra, dict):
        headers.update(extra)
    return Response(
        status_code=status,
        content_type=JSON,
        body=json.dumps(error_body(status, code, message, request_id)),
        headers=headers,
    )
