"""The two things in the OpenAPI document that powertools has no option for, fixed on the document
it generates. Everything else comes from the routes' own declarations (``responses=``,
``openapi_extensions``, typed parameters) and :mod:`batchgate.api.responses`.

1. With validation on, powertools adds a 422 "Validation Error" (``HTTPValidationError``) to
   every operation, and that schema and ``ResponseValidationError`` to the components, whatever
   the route declares (aws-powertools/powertools-lambda-python#4928 is open on it). batchgate
   answers validation errors with a 400 and its own ``Error`` body (``error_map``), so they go.
2. Parts of a request the route reads itself: file bytes (PUT, chunk PATCH), the optional JSON
   body of the ``?action=`` POSTs (any Content-Type may carry it), and the ``Range`` /
   ``Content-Range`` headers. As ``Body()`` / ``Header()`` parameters powertools would parse them
   before the route runs: it refuses an octet-stream body (415) and a header sent twice (400, from
   API Gateway's multi-value headers), where the routes answer as they always did. So they are
   declared here, from the :class:`RawBody` / :class:`RawHeader` entries the route modules keep.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools.event_handler.openapi.models import OpenAPI
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

REF_TEMPLATE = "#/components/schemas/{model}"
POWERTOOLS_VALIDATION_SCHEMAS = ("HTTPValidationError", "ValidationError", "ResponseValidationError")
BINARY_BODY: dict[str, Any] = {"type": "string", "format": "binary"}


@dataclass(frozen=True)
class RawBody:
    """A request body the route reads itself: JSON of ``model`` (optional), or bytes when
    ``model`` is None (required, ``application/octet-stream``)."""

    method: str
    path: str  # as the route is declared: /a/<b>
    description: str
    model: type[BaseModel] | None = None
    # JSON of ``model`` or bytes, as the Content-Type says (a bundle IMPORT takes either).
    bytes_too: bool = False


@dataclass(frozen=True)
class RawHeader:
    """An optional request header the route reads itself."""

    method: str
    path: str  # as the route is declared: /a/<b>
    name: str
    description: str


def finish(document: OpenAPI, read_by_routes: Iterable[RawBody | RawHeader]) -> OpenAPI:
    doc = document.model_dump(mode="json", by_alias=True, exclude_none=True)
    parts = list(read_by_routes)
    _drop_validation_422(doc)
    _declare_bodies(doc, [p for p in parts if isinstance(p, RawBody)])
    for h in parts:
        if isinstance(h, RawHeader):
            parameter = {"name": h.name, "in": "header", "required": False, "description": h.description}
            _operation(doc, h.method, h.path).setdefault("parameters", []).append(
                {**parameter, "schema": {"type": "string"}}
            )
    return OpenAPI.model_validate(doc)


def _operation(doc: dict[str, Any], method: str, path: str) -> dict[str, Any]:
    operation: dict[str, Any] = doc["paths"][re.sub(r"<(\w+)>", r"{\1}", path)][method.lower()]
    return operation


def _operations(doc: dict[str, Any]) -> Iterable[dict[str, Any]]:
    for item in doc.get("paths", {}).values():
        for method, operation in item.items():
            if method in ("get", "put", "post", "delete", "patch", "head", "options", "trace"):
                yield operation


def _drop_validation_422(doc: dict[str, Any]) -> None:
    for operation in _operations(doc):
        operation.get("responses", {}).pop("422", None)
    schemas = doc.get("components", {}).get("schemas", {})
    others = {k: v for k, v in schemas.items() if k not in POWERTOOLS_VALIDATION_SCHEMAS}
    used = json.dumps([doc.get("paths"), others])
    for name in POWERTOOLS_VALIDATION_SCHEMAS:
        if f'"{REF_TEMPLATE.format(model=name)}"' not in used:
            schemas.pop(name, None)


def _declare_bodies(doc: dict[str, Any], bodies: list[RawBody]) -> None:
    models = sorted({b.model for b in bodies if b.model is not None}, key=lambda m: m.__name__)
    refs, defs = models_json_schema([(m, "validation") for m in models], ref_template=REF_TEMPLATE)
    schemas = doc.setdefault("components", {}).setdefault("schemas", {})
    for name, schema in defs.get("$defs", {}).items():
        if name in schemas and schemas[name] != schema:
            raise ValueError(f"two different schemas are named {name} in the OpenAPI document")
        schemas[name] = schema
    for body in bodies:
        operation = _operation(doc, body.method, body.path)
        if body.model is None:
            content = {"application/octet-stream": {"schema": BINARY_BODY}}
        else:
            content = {"application/json": {"schema": refs[(body.model, "validation")]}}
            if body.bytes_too:
                content["application/octet-stream"] = {"schema": BINARY_BODY}
        operation["requestBody"] = {
            "description": body.description,
            "required": body.model is None,
            "content": content,
        }
