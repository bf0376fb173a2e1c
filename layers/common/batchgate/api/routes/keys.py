"""API keys: ``/data/foundation/keys`` (admin only, like every route without a role rule)."""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Body

from batchgate.api.bodies import KeyCreate
from batchgate.api.deps import principal, services

router = Router()
BASE = "/data/foundation/keys"


@router.post(
    BASE,
    tags=["keys"],
    summary="Create an API key",
    description='Body: {"role": "admin" | "writer" | "reader", "sandboxes": [...], "description"?}. '
    "The token is in this answer only; only its hash is stored.",
    responses={201: {"description": "Created"}},
)
def create_key(body: Annotated[KeyCreate, Body()]) -> Response[dict[str, Any]]:
    key, token = services().keys.create(principal(router), body)
    return Response(201, "application/json", {**key, "token": token})


@router.get(BASE, tags=["keys"], summary="List the org's keys (never their tokens)")
def list_keys() -> dict[str, Any]:
    return {"keys": services().keys.list(principal(router))}


@router.delete(
    f"{BASE}/<key_id>",
    tags=["keys"],
    summary="Disable a key",
    description="The key stops working at once; it stays listed as disabled.",
)
def disable_key(key_id: str) -> dict[str, Any]:
    return services().keys.disable(principal(router), key_id)
