"""The schema registry: ``/data/foundation/schemaregistry/tenant/schemas`` (AEP's shapes)."""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Body, Query

from batchgate.api.bodies import SchemaCreate
from batchgate.api.deps import principal, services
from batchgate.api.responses.catalog import RegistrySchema, RegistrySchemas
from batchgate.api.responses.common import answers, ok
from batchgate.api.services.schema_registry import schema_to_aep

router = Router()
BASE = "/data/foundation/schemaregistry/tenant/schemas"


@router.post(
    BASE,
    tags=["schemas"],
    summary="Register a schema",
    description="Body: a title (and description) with the schema as our fields or as a JSON Schema document.",
    responses=answers(
        ok(201, "Created: the registered schema", RegistrySchema),
        e400="an invalid body or schema (BG-400-INVALID, BG-400-SCHEMA, BG-400-LIMIT)",
        e415="the body is not sent as application/json (BG-415-CONTENT-TYPE)",
    ),
)
def create_schema(body: Annotated[SchemaCreate, Body()]) -> Response[dict[str, Any]]:
    registered = services().schemas.create(principal(router), body)
    return Response(201, "application/json", schema_to_aep(registered))


@router.get(
    BASE,
    tags=["schemas"],
    summary="List the registry's schemas, newest first",
    responses=answers(
        ok(200, "a page of the registry", RegistrySchemas),
        e400="limit or start out of range (BG-400-INVALID)",
    ),
)
def list_schemas(
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    start: Annotated[int, Query(ge=0)] = 0,
) -> dict[str, Any]:
    found = services().schemas.list(principal(router), limit=limit, start=start)
    return {
        "results": [schema_to_aep(s) for s in found],
        "_page": {"limit": limit, "start": start, "count": len(found)},
    }


@router.get(
    f"{BASE}/<schema_id>",
    tags=["schemas"],
    summary="Get a schema by its $id (URL-encoded), meta:altId or id",
    responses=answers(
        ok(200, "the schema", RegistrySchema),
        e400="not a schema id of this registry's form (BG-400-SCHEMA-REF)",
        e404="no such schema in this registry (BG-404-SCHEMA)",
    ),
)
def get_schema(schema_id: str) -> dict[str, Any]:
    return schema_to_aep(services().schemas.get(principal(router), schema_id))
