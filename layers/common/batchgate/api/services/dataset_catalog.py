"""Datasets: create, read and list them, and their AEP catalog shape."""

from __future__ import annotations

from typing import Any

from batchgate.api.auth import Principal
from batchgate.api.bodies import DatasetCreate
from batchgate.api.services.schema_registry import SchemaRegistry
from batchgate.aws.store import Store
from batchgate.core.errors import InvalidRequest
from batchgate.core.ids import new_id, now_ms
from batchgate.core.keys import table_identifier
from batchgate.core.models import Dataset
from batchgate.core.schema_rules import check_new_schema


def dataset_to_aep(ds: Dataset) -> dict[str, Any]:
    return {
        "id": ds.id,
        "name": ds.name,
        "imsOrg": ds.org,
        "sandboxName": ds.sandbox,
        "schema": ds.schema_.model_dump(by_alias=True, exclude_none=True),
        "tags": ds.tags.model_dump(by_alias=True),
        "created": ds.created,
        "updated": ds.updated,
        "table": ds.table,
        "version": "1.0.0",
        **({"schemaRef": ds.schema_ref} if ds.schema_ref else {}),
    }


class DatasetCatalog:
    def __init__(self, store: Store, registry: SchemaRegistry) -> None:
        self.store = store
        self.registry = registry

    def create(self, p: Principal, body: DatasetCreate) -> Dataset:
        schema, schema_ref = body.schema_, None
        if schema is None and body.schema_ref is not None:
            ref = body.schema_ref.get("id")
            if not isinstance(ref, str) or not ref:
                raise InvalidRequest(
                    "'schemaRef' needs the schema's 'id' (its $id)", code="BG-400-SCHEMA-REF"
                )
            registered = self.registry.get(p, ref)
            schema = registered.schema_
            schema_ref = {
                "id": registered.ref,
                "contentType": str(
                    body.schema_ref.get("contentType") or "application/vnd.adobe.xed+json;version=1"
                ),
            }
        if schema is None:
            raise InvalidRequest(
                '\'schema\' is required: {"fields": [{"name", "type"}, ...]} or a JSON Schema document, '
                "or 'schemaRef' naming a schema of the registry"
            )
        check_new_schema(schema)
        ts = now_ms()
        ds_id = new_id()
        ds = Dataset(
            id=ds_id,
            name=body.name,
            org=p.org,
            sandbox=p.sandbox,
            schema_=schema,
            schema_ref=schema_ref,
            tags=body.tags,
            created=ts,
            updated=ts,
            table=table_identifier(p.org, p.sandbox, ds_id),
        )
        self.store.put_dataset(ds)
        return ds

    def get(self, p: Principal, dataset_id: str) -> Dataset:
        return self.store.get_dataset(p.org, p.sandbox, dataset_id)

    def list(self, p: Principal, *, limit: int, start: int) -> list[Dataset]:
        return self.store.list_datasets(p.org, p.sandbox, limit=limit, start=start)
