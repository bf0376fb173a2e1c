"""Datasets: create, read and list them, and their AEP catalog shape."""

from __future__ import annotations

from typing import Any

from batchgate.api.bodies import DatasetCreate, DatasetPatch
from batchgate.api.services.schema_registry import SchemaRegistry
from batchgate.aws.store import Store
from batchgate.core.errors import Conflict, InvalidRequest
from batchgate.core.ids import new_id, now_ms
from batchgate.core.keys import table_identifier
from batchgate.core.models import Dataset
from batchgate.core.principal import Principal
from batchgate.core.schema_evolution import evolve
from batchgate.core.schema_rules import check_new_schema
from batchgate.observability import logger

# Statuses in which a batch may still write to its dataset: the dataset cannot be deleted meanwhile.
BUSY = frozenset({"loading", "loaded", "staging", "retrying"})


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
        self.commit_window_seconds = commit_window_seconds
        self.database_prefix = database_prefix

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
            extra_columns=body.extra_columns,
            created=ts,
            updated=ts,
            table=table_identifier(p.org, p.sandbox, ds_id, self.database_prefix),
        )
        self.store.put_dataset(ds)
        return ds

    def patch(self, p: Principal, dataset_id: str, body: DatasetPatch) -> Dataset:
        """Evolve the schema (added optional columns, relaxed rules) in one Iceberg schema change,
        then record it; a change rows already landed could break is a 409 naming the field."""
        from batchgate.lake.catalog import shared_catalog  # pyarrow: only for a schema change
        from batchgate.lake.tables import evolve_table

        ds = self.store.get_dataset(p.org, p.sandbox, dataset_id)
        schema = body.schema_ or ds.schema_
        if body.schema_ is not None:
            check_new_schema(schema)
        change = evolve(ds.schema_, schema)
        tags = body.tags or ds.tags
        if (tags.is_upsert, tags.identity or schema.identity_fields) != (ds.tags.is_upsert, ds.tags.identity):
            raise Conflict(
                "the upsert settings of a dataset (isUpsert, identity) cannot change",
                code="BG-409-SCHEMA-CHANGE",
            )
        updated = ds.model_copy(
            update={
                "schema_": schema,
                "tags": tags,
                "extra_columns": body.extra_columns or ds.extra_columns,
                "updated": max(now_ms(), ds.updated + 1),
            }
        )
        Dataset.model_validate(updated.model_dump(by_alias=True))  # the identity still names fields
        if change.added:
            evolve_table(shared_catalog(), updated)
        self.store.replace_dataset(updated, expected_updated=ds.updated)
        return updated

    def delete(self, p: Principal, dataset_id: str) -> None:
        """Refused while a batch of the dataset is completing; the table is dropped from the
        catalog now, its files and the batches' files are deleted by the GC sweep."""
        from batchgate.lake.catalog import shared_catalog
        from batchgate.lake.tables import drop_table

        ds = self.store.get_dataset(p.org, p.sandbox, dataset_id)
        window_ms = self.commit_window_seconds * 1000
        busy = [
            b.id
            for b in self.store.all_batches_of_dataset(p.org, p.sandbox, ds.id)
            if b.status in BUSY
            # An ABORT that won during a landing: that commit may still be running for a while.
            or (
                b.status == "aborted"
                and b.commit_started is not None
                and now_ms() - b.commit_started < window_ms
            )
        ]
        if busy:
            raise Conflict(
                f"dataset {ds.id} has batch(es) still open or completing ({', '.join(busy[:5])}); ABORT the "
                "open ones, wait until the others are final, then delete again",
                code="BG-409-DATASET-BUSY",
            )
        location = drop_table(shared_catalog(), ds)
        self.store.delete_dataset(ds, table_location=location)

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
