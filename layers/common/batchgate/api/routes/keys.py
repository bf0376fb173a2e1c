"""API keys: ``/data/foundation/keys`` (admin only, like every route without a role rule)."""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Body

from batchgate.api.bodies import KeyCreate
from batchgate.api.deps import principal, services
from batchgate.api.responses.catalog import Key, KeyCreated, KeyList
from batchgate.api.responses.common import UNSUPPORTED, AuthError, answers, fails, ok

router = Router()
BASE = "/data/foundation/keys"


@router.post(
    BASE,
    tags=["keys"],
    summary="Create an API key",
    description='Body: {"role": "admin" | "writer" | "reader", "sandboxes": [...], "description"?}. '
    "The token is in this answer only; only its hash is stored.",
    responses=answers(
        ok(201, "the key, with its token", KeyCreated),
        # API Gateway's own 403 (a key of another tenant) stays possible: AuthError, not Error.
        fails(
            403,
            "another tenant's key (BG-403-WRONG-TENANT), the caller's role is not admin (BG-403-ROLE), or "
            "it grants a sandbox the caller may not use (BG-403-SANDBOX)",
            AuthError,
        ),
        e400="an invalid body: an unknown role, no sandbox (BG-400-INVALID, BG-400-KEY)",
        e415=UNSUPPORTED,
    ),
)
def create_key(body: Annotated[KeyCreate, Body()]) -> Response[dict[str, Any]]:
    key, token = services().keys.create(principal(router), body)
    return Response(201, "application/json", {**key, "token": token})


@router.get(
    BASE,
    tags=["keys"],
    summary="List the org's keys (never their tokens)",
    responses=answers(ok(200, "the org's keys, newest first", KeyList)),
)
def list_keys() -> dict[str, Any]:
    return {"keys": services().keys.list(principal(router))}


@router.delete(
    f"{BASE}/<key_id>",
    tags=["keys"],
    summary="Disable a key",
    description="The key stops working at once; it stays listed as disabled.",
    responses=answers(
        ok(200, "the key, disabled", Key),
        e404="no such key in this org (BG-404-KEY)",
        e409="a key cannot disable itself (BG-409-OWN-KEY)",
    ),
)
def disable_key(key_id: str) -> dict[str, Any]:
    return services().keys.disable(principal(router), key_id)
