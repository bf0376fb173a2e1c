"""openapi_fixups on a resolver of its own: what powertools generates, and what finish() changes."""

from __future__ import annotations

from typing import Annotated, Any

import pytest
from aws_lambda_powertools.event_handler import APIGatewayRestResolver
from aws_lambda_powertools.event_handler.openapi.params import Body
from pydantic import BaseModel

from batchgate.api.openapi_fixups import RawBody, RawHeader, finish


class Options(BaseModel):
    fast: bool = False


def _app() -> APIGatewayRestResolver:
    app = APIGatewayRestResolver(enable_validation=True)

    @app.put("/things/<name>")
    def put_thing(name: str) -> dict[str, Any]:
        return {}

    @app.post("/things")
    def post_thing(options: Annotated[Options, Body()]) -> dict[str, Any]:
        return {}

    return app


def _doc(*parts: RawBody | RawHeader) -> dict[str, Any]:
    finished = finish(_app().get_openapi_schema(), parts)
    return finished.model_dump(mode="json", by_alias=True, exclude_none=True)


def test_powertools_adds_the_422_and_finish_removes_it_with_its_schemas() -> None:
    generated = _app().get_openapi_schema().model_dump(mode="json", by_alias=True, exclude_none=True)
    assert "422" in generated["paths"]["/things/{name}"]["put"]["responses"]  # why the fixup exists
    doc = _doc()
    assert "422" not in doc["paths"]["/things/{name}"]["put"]["responses"]
    assert "HTTPValidationError" not in doc.get("components", {}).get("schemas", {})


def test_bodies_and_headers_the_route_reads_itself_are_declared() -> None:
    doc = _doc(
        RawBody("PUT", "/things/<name>", "the bytes"),
        RawHeader("PUT", "/things/<name>", "Content-Range", "which bytes"),
    )
    op = doc["paths"]["/things/{name}"]["put"]
    assert op["requestBody"] == {
        "description": "the bytes",
        "required": True,
        "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
    }
    assert {"name": "Content-Range", "in": "header", "required": False}.items() <= op["parameters"][
        -1
    ].items()
    optional = _doc(RawBody("PUT", "/things/<name>", "options", Options))
    body = optional["paths"]["/things/{name}"]["put"]["requestBody"]
    assert body["required"] is False
    assert body["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Options"}
    assert "fast" in optional["components"]["schemas"]["Options"]["properties"]


def test_a_body_model_named_as_another_schema_is_refused() -> None:
    class Options(BaseModel):  # not the Options the POST route's body already documents
        slow: bool = True

    with pytest.raises(ValueError, match="two different schemas are named Options"):
        _doc(RawBody("PUT", "/things/<name>", "options", Options))
