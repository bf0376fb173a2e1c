"""The answers every route shares: errors, paging, and the ``responses=`` declarations the routes
hand to powertools (``ok``, ``fails``, ``answers``)."""

from __future__ import annotations

from typing import Any, cast

from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse, OpenAPIResponseHeader
from pydantic import BaseModel, ConfigDict, Field, RootModel

JSON = "application/json"


OCTET_STREAM = "application/octet-stream"


# Strict wherever the shape is ours: a field added to an answer fails the contract test until it
# is documented here.
STRICT = ConfigDict(extra="forbid", populate_by_name=True)


class ErrorDetail(BaseModel):
    model_config = STRICT

    code: str = Field(
        pattern=r"^BG-[0-9]{3}-[A-Z0-9-]+$",
        description="Stable code, BG-<status>-<WHAT> (e.g. BG-409-BATCH-NOT-LOADING): branch on it.",
    )
    message: str = Field(description="What went wrong and what to do, for a person to read.")
    request_id: str = Field(alias="requestId", description="Quote it when reporting a problem.")


class Error(BaseModel):
    """Every error batchgate itself answers (``batchgate.api.error_map``)."""

    model_config = STRICT

    error: ErrorDetail


class GatewayMessage(BaseModel):
    """API Gateway's own answer when the authorizer refuses a request (401 / 403)."""

    message: str


class AuthError(RootModel[Error | GatewayMessage]):
    """401 / 403: API Gateway answers ``{"message"}`` when its authorizer refuses; the API
    function (an event without the authorizer's context) and the local stack answer ``Error``."""


class Page(BaseModel):
    model_config = STRICT

    limit: int
    start: int
    count: int


BINARY_SCHEMA: dict[str, Any] = {"type": "string", "format": "binary"}


Responses = dict[int, OpenAPIResponse]


def response_header(description: str) -> OpenAPIResponseHeader:
    """A response header the answer always carries."""
    # OpenAPI's header objects have 'required'; powertools' TypedDict leaves it out.
    return cast(
        OpenAPIResponseHeader, {"description": description, "required": True, "schema": {"type": "string"}}
    )


def ok(
    status: int,
    description: str,
    model: type[BaseModel] | None = None,
    *,
    content: dict[str, Any] | None = None,
    headers: dict[str, OpenAPIResponseHeader] | None = None,
) -> Responses:
    """A success answer: a JSON ``model``, other ``content``, or no body at all. An empty
    ``content`` is how "no body" is said: without one, powertools documents the route's return
    annotation."""
    if model is not None:
        content = {JSON: {"model": model}}
    response: OpenAPIResponse = {"description": description, "content": content or {}}
    if headers:
        response["headers"] = headers
    return {status: response}


def fails(
    status: int,
    description: str,
    model: type[BaseModel] = Error,
    *,
    headers: dict[str, OpenAPIResponseHeader] | None = None,
) -> Responses:
    """An error answer: the ``Error`` body (or ``model``) and what causes it, with its codes."""
    response: OpenAPIResponse = {"description": description, "content": {JSON: {"model": model}}}
    if headers:
        response["headers"] = headers
    return {status: response}


UNSUPPORTED = "the body is not sent as application/json (BG-415-CONTENT-TYPE)"


# What any route may answer, whatever it does.
COMMON: Responses = {
    **fails(
        401,
        "no or bad credentials: a missing Authorization bearer, x-api-key, x-gw-ims-org-id or x-sandbox-name "
        "header, an unknown or disabled key, a wrong token (BG-401-UNAUTHORIZED)",
        AuthError,
    ),
    **fails(
        403,
        "the key is valid but not for this org and sandbox (BG-403-WRONG-TENANT), or its role may not make "
        "this call (BG-403-ROLE)",
        AuthError,
    ),
    **fails(500, "an unexpected failure (BG-500-INTERNAL; no detail: the log has it under the requestId)"),
}


def answers(*declared: Responses, **errors: str) -> Responses:
    """A route's documented answers: ``declared`` ones (``ok``, ``fails``), its own errors given
    as ``e404="what causes it (codes)"``, and the ones every route shares (``COMMON``)."""
    out: Responses = {}
    for d in declared:
        out.update(d)
    for key, description in errors.items():
        out.update(fails(int(key.removeprefix("e")), description))
    for status, response in COMMON.items():
        out.setdefault(status, response)
    return dict(sorted(out.items()))
