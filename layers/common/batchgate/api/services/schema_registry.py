"""The tenant's schema registry (AEP's ``/data/foundation/schemaregistry/tenant/schemas``): schemas
kept once and named by datasets through ``schemaRef``. A schema is our ``fields`` or a JSON
Schema document; XDM's composition (classes, field groups, ``allOf``) is not modelled."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import unquote

from batchgate.api.bodies import SchemaCreate
from batchgate.aws.store import Store
from batchgate.core.errors import InvalidRequest
from batchgate.core.ids import new_id, now_ms
from batchgate.core.json_schema import is_json_schema
from batchgate.core.models import DatasetSchema, RegisteredSchema
from batchgate.core.principal import Principal
from batchgate.core.schema_rules import check_new_schema

# An id as a schemaRef may spell it: the $id URL, the meta:altId, or the bare id.
_ID = re.compile(r"(?:/schemas/|\.schemas\.|^)([0-9a-f]{24})$")


def schema_to_aep(s: RegisteredSchema) -> dict[str, Any]:
    body: dict[str, Any] = {
        "$id": s.ref,
        "meta:altId": s.alt_id,
        "version": "1.0",
        "title": s.title,
        "description": s.description,
        "type": "object",
        "fields": s.schema_.model_dump(by_alias=True, exclude_none=True)["fields"],
        "created": s.created,
        "updated": s.updated,
    }
    if s.document is not None:
        body["jsonSchema"] = s.document
    return body


def schema_id(ref: str) -> str:
    """The registry id in a ``$id``, ``meta:altId`` or bare id (URL-encoded or not)."""
    m = _ID.search(unquote(ref).strip())
    if not m:
        raise InvalidRequest(
            f"schema id {ref!r} is not a schema of this registry (its $id, meta:altId or id)",
            code="BG-400-SCHEMA-REF",
        )
    return m.group(1)


class SchemaRegistry:
    def __init__(self, store: Store) -> None:
        self.store = store

    def create(self, p: Principal, body: SchemaCreate) -> RegisteredSchema:
        document = body.document()
        schema = DatasetSchema.model_validate(document)  # SchemaError / ValidationError: a 400 naming it
        check_new_schema(schema)
        ts = now_ms()
        registered = RegisteredSchema(
            id=new_id(),
            org=p.org,
            sandbox=p.sandbox,
            title=body.title,
            description=body.description,
            schema_=schema,
            document=document if is_json_schema(document) else None,
            created=ts,
            updated=ts,
        )
        self.store.put_schema(registered)
        return registered

    def get(self, p: Principal, ref: str) -> RegisteredSchema:
        return self.store.get_schema(p.org, p.sandbox, schema_id(ref))

    def list(self, p: Principal, *, limit: int, start: int) -> list[RegisteredSchema]:
        return self.store.list_schemas(p.org, p.sandbox, limit=limit, start=start)
