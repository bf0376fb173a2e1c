"""Datasets: create, read and list them, and their AEP catalog shape."""

from __future__ import annotations

from typing import Any

from batchgate.api.bodies import DatasetCreate, DatasetPatch
from batchgate.api.services.schema_registry import SchemaRegistry
from batchgate.aws.store import Store
from batchgate.core.errors import InvalidRequest
from batchgate.core.models import Dataset
from batchgate.core.principal import Principal
from batchgate.ingest.datasets import Datasets
from batchgate.observability import logger


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
        "extraColumns": ds.extra_columns,
        **({"schemaRef": ds.schema_ref} if ds.schema_ref else {}),
    }


class DatasetCatalog:
    def __init__(
        self,
        store: Store,
        registry: SchemaRegistry,
        *,
        commit_window_seconds: int = 900,
        database_prefix: str = "bg",
    ) -> None:
        self.store = store
        self.registry = registry
        self.lifecycle = Datasets(
            store, commit_window_seconds=commit_window_seconds, database_prefix=database_prefix
        )

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
        return self.lifecycle.create(
            p,
            name=body.name,
            schema=schema,
            tags=body.tags,
            extra_columns=body.extra_columns,
            schema_ref=schema_ref,
        )

    def patch(self, p: Principal, dataset_id: str, body: DatasetPatch) -> Dataset:
        """Evolve the schema in one Iceberg schema change (see ``ingest.datasets``)."""
        ds = self.store.get_dataset(p.org, p.sandbox, dataset_id)
        return self.lifecycle.evolve(
            ds, schema=body.schema_, tags=body.tags, extra_columns=body.extra_columns
        )

    def delete(self, p: Principal, dataset_id: str) -> None:
        self.lifecycle.delete(p, dataset_id)

    def get(self, p: Principal, dataset_id: str) -> Dataset:
        return self.store.get_dataset(p.org, p.sandbox, dataset_id)

    def iceberg_table(self, ds: Dataset) -> dict[str, Any]:
        """How other engines find the dataset's table: the catalog, the identifier (Glue database
        and table) and the current metadata file (``null`` until the first batch lands).

        Only a single dataset's GET shows it: the location costs one catalog lookup (a Glue
        GetTable, tens of milliseconds, no S3 read), too much for a listing of 100. A failed
        lookup leaves ``metadataLocation`` null and is logged, rather than failing the GET.
        """
        from batchgate.lake.catalog import shared_catalog
        from batchgate.lake.tables import identifier_of, metadata_location

        identifier = identifier_of(ds)
        database, table = identifier.rsplit(".", 1)
        catalog = shared_catalog()
        try:
            location = metadata_location(catalog, ds)
        except Exception:  # the catalog is a remote service: the rest of the answer stands without it
            logger.warning("metadata location lookup failed", extra={"dataset": ds.id}, exc_info=True)
            location = None
        kind = "glue" if type(catalog).__name__ == "GlueCatalog" else "sql"
        return {
            "catalog": kind,
            "identifier": identifier,
            "database": database,
            "table": table,
            "metadataLocation": location,
        }

    def list(self, p: Principal, *, limit: int, start: int) -> list[Dataset]:
        return self.store.list_datasets(p.org, p.sandbox, limit=limit, start=start)
