"""Datasets: create, read and list them, and their AEP catalog shape."""

from __future__ import annotations

from typing import Any

from batchgate.api.auth import Principal
from batchgate.api.bodies import DatasetCreate
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
    }


class DatasetCatalog:
    def __init__(self, store: Store) -> None:
        self.store = store

    def create(self, p: Principal, body: DatasetCreate) -> Dataset:
        if body.schema_ is None:
            if body.schema_ref is not None:
                raise InvalidRequest(
                    "'schemaRef' (an XDM schema id) is not supported: give the dataset's columns in "
                    "'schema': {\"fields\": [...]} (see docs/api.md)",
                    code="BG-400-SCHEMA-REF",
                )
            raise InvalidRequest('\'schema\' is required: {"fields": [{"name", "type"}, ...]}')
        check_new_schema(body.schema_)
        ts = now_ms()
        ds_id = new_id()
        ds = Dataset(
            id=ds_id,
            name=body.name,
            org=p.org,
            sandbox=p.sandbox,
            schema_=body.schema_,
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
