"""Datasets as a use case: create one from a schema, evolve its schema, delete it, find it by
name. The API's catalog service (``api/services/dataset_catalog``) adds what only HTTP callers
need (``schemaRef`` to the registry, the answers' shape); a bundle import uses these directly."""

from __future__ import annotations

from batchgate.aws.store import Store
from batchgate.core.errors import Conflict
from batchgate.core.ids import new_id, now_ms
from batchgate.core.keys import table_identifier
from batchgate.core.models import Dataset, DatasetSchema, DatasetTags, ExtraColumnsPolicy
from batchgate.core.principal import Principal
from batchgate.core.schema_evolution import Evolution, evolve
from batchgate.core.schema_rules import check_new_schema

# Statuses in which a batch may still write to its dataset: the dataset cannot be deleted meanwhile.
BUSY = frozenset({"loading", "loaded", "staging", "retrying"})


class Datasets:
    def __init__(
        self, store: Store, *, commit_window_seconds: int = 900, database_prefix: str = "bg"
    ) -> None:
        self.store = store
        self.commit_window_seconds = commit_window_seconds
        self.database_prefix = database_prefix

    def create(
        self,
        p: Principal,
        *,
        name: str,
        schema: DatasetSchema,
        tags: DatasetTags | None = None,
        extra_columns: ExtraColumnsPolicy = "discard",
        schema_ref: dict[str, str] | None = None,
        dataset_id: str | None = None,
    ) -> Dataset:
        """A new dataset; ``dataset_id`` fixes its id (a retried import creates the same one, and
        gets a ``Conflict``)."""
        check_new_schema(schema)
        ts = now_ms()
        ds_id = dataset_id or new_id()
        ds = Dataset(
            id=ds_id,
            name=name,
            org=p.org,
            sandbox=p.sandbox,
            schema_=schema,
            schema_ref=schema_ref,
            tags=tags or DatasetTags(),
            extra_columns=extra_columns,
            created=ts,
            updated=ts,
            table=table_identifier(p.org, p.sandbox, ds_id, self.database_prefix),
        )
        self.store.put_dataset(ds)
        return ds

    @staticmethod
    def change_to(ds: Dataset, schema: DatasetSchema, tags: DatasetTags | None) -> Evolution:
        """What moving ``ds`` to ``schema`` (and ``tags``) changes; a 409 naming the field it
        refuses, or the upsert settings if they differ. Changes nothing."""
        check_new_schema(schema)
        change = evolve(ds.schema_, schema)
        tags = tags or ds.tags
        if (tags.is_upsert, tags.identity or schema.identity_fields) != (ds.tags.is_upsert, ds.tags.identity):
            raise Conflict(
                "the upsert settings of a dataset (isUpsert, identity) cannot change",
                code="BG-409-SCHEMA-CHANGE",
            )
        return change

    def evolve(
        self,
        ds: Dataset,
        *,
        schema: DatasetSchema | None = None,
        tags: DatasetTags | None = None,
        extra_columns: ExtraColumnsPolicy | None = None,
    ) -> Dataset:
        """Evolve the schema (added optional columns, relaxed rules) in one Iceberg schema change,
        then record it; a change rows already landed could break is a 409 naming the field."""
        from batchgate.lake.catalog import shared_catalog  # pyarrow: only for a schema change
        from batchgate.lake.tables import evolve_table

        schema = schema or ds.schema_
        change = self.change_to(ds, schema, tags)
        updated = ds.model_copy(
            update={
                "schema_": schema,
                "tags": tags or ds.tags,
                "extra_columns": extra_columns or ds.extra_columns,
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

    def named(self, p: Principal, name: str) -> list[Dataset]:
        """The sandbox's datasets called ``name`` (names are not unique: callers decide)."""
        return [ds for ds in self.store.list_datasets(p.org, p.sandbox, limit=1 << 30) if ds.name == name]
