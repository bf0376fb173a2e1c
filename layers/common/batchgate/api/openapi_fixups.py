"""The two things in the OpenAPI document that powertools has no option for, fixed on the document
it generates. Everything else comes from the routes' own declarations (``responses=``,
``openapi_extensions``, typed parameters) and :mod:`batchgate.api.responses`.

1. With validation on, powertools adds a 422 "Validation Error" (``HTTPValidationError``) to
   every operation, and that schema and ``ResponseValidationError`` to the components, whatever
   the route declares (aws-powertools/powertools-lambda-python#4928 is open on it). batchgate
   answers validation errors with a 400 and its own ``Error`` body (``error_map``), so they go.
2. Request bodies a route reads itself: file bytes (PUT, chunk PATCH) and the optional JSON body
   of the ``?action=`` POSTs, which any Content-Type may carry. Declared as a ``Body()`` parameter,
   powertools would parse them before the route runs (and refuse an octet-stream body with 415),
   so they are declared here instead, from :class:`RawBody` entries the route modules keep.
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

    @property
    def openapi_path(self) -> str:
        return re.sub(r"<(\w+)>", r"{\1}", self.path)


def finish(document: OpenAPI, bodies: Iterable[RawBody]) -> OpenAPI:
    doc = document.model_dump(mode="json", by_alias=True, exclude_none=True)
    _drop_validation_422(doc)
    _declare_bodies(doc, list(bodies))
    return OpenAPI.model_validate(doc)


def _operations(doc: dict[str, Any]) -> Iterable[dict[str, Any]]:
    for item in doc.get("paths", {}).values():
        for method, operation in item.items():
            if method in ("get", "put", "post", "delete", "patch", "head", "options", "trace"):
                yield operation


def _drop_validation_422(doc: dict[str, Any]) -> None:
    for operation in _operations(doc):
        operation.get("responses", {}).pop("422", None)
    schemas = doc.get("components", {}).get("schemas", {})
    for name in POWERTOOLS_VALIDATION_SCHEMAS:
        others = {k: v for k, v in schemas.items() if k not in POWERTOOLS_VALIDATION_SCHEMAS}
        if f'"{REF_TEMPLATE.format(model=name)}"' not in json.dumps([doc.get("paths"), others]):
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
        operation = doc["paths"][body.openapi_path][body.method.lower()]
        if body.model is None:
            content = {"application/octet-stream": {"schema": BINARY_BODY}}
        else:
            content = {"application/json": {"schema": refs[(body.model, "validation")]}}
        operation["requestBody"] = {
            "description": body.description,
            "required": body.model is None,
            "content": content,
        }
