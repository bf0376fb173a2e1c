"""Datasets: ``/data/foundation/catalog/dataSets`` (AEP's catalog shapes)."""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Body, Query

from batchgate.api.bodies import DatasetCreate, DatasetPatch
from batchgate.api.deps import principal, services
from batchgate.api.responses.catalog import DatasetCreated, DatasetsById
from batchgate.api.responses.common import UNSUPPORTED, answers, ok
from batchgate.api.services.dataset_catalog import dataset_to_aep

router = Router()
BASE = "/data/foundation/catalog/dataSets"
NOT_FOUND = "no such dataset in this org and sandbox (BG-404-DATASET)"


@router.post(
    BASE,
    tags=["datasets"],
    summary="Create a dataset",
    responses=answers(
        ok(201, 'Created: AEP\'s ["@/dataSets/{id}"]', DatasetCreated),
        e400="an invalid body or schema (BG-400-INVALID, BG-400-SCHEMA, BG-400-LIMIT, BG-400-SCHEMA-REF)",
        e404="schemaRef names no schema of this registry (BG-404-SCHEMA)",
        e415=UNSUPPORTED,
    ),
)
def create_dataset(body: Annotated[DatasetCreate, Body()]) -> Response[list[str]]:
    ds = services().datasets.create(principal(router), body)
    return Response(201, "application/json", [f"@/dataSets/{ds.id}"])


@router.get(
    BASE,
    tags=["datasets"],
    summary="List datasets, newest first",
    responses=answers(
        ok(200, "{id: dataset, ...}", DatasetsById), e400="limit or start out of range (BG-400-INVALID)"
    ),
)
def list_datasets(
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    start: Annotated[int, Query(ge=0)] = 0,
) -> dict[str, Any]:
    found = services().datasets.list(principal(router), limit=limit, start=start)
    return {ds.id: dataset_to_aep(ds) for ds in found}


@router.patch(
    f"{BASE}/<dataset_id>",
    tags=["datasets"],
    summary="Evolve a dataset's schema",
    description='Body: {"schema": <the whole new schema>, "tags"?: ...}. Added optional columns, relaxed '
    "required, added enum values and relaxed constraints are applied in one Iceberg schema change; anything "
    "landed rows could break (a removed column, a new required one, a narrowed type or rule) is a 409 naming it.",
    responses=answers(
        ok(200, "{id: dataset}, as changed", DatasetsById),
        e400="an invalid body or schema (BG-400-INVALID, BG-400-SCHEMA, BG-400-LIMIT)",
        e404=NOT_FOUND,
        e409="a change landed rows could break (BG-409-SCHEMA-CHANGE, naming the field), or a "
        "concurrent change (BG-409-CONCURRENT-CHANGE: read it again and retry)",
        e415=UNSUPPORTED,
    ),
)
def patch_dataset(dataset_id: str, body: Annotated[DatasetPatch, Body()]) -> dict[str, Any]:
    ds = services().datasets.patch(principal(router), dataset_id, body)
    return {ds.id: dataset_to_aep(ds)}


@router.delete(
    f"{BASE}/<dataset_id>",
    tags=["datasets"],
    summary="Delete a dataset",
    description="Refused (409) while one of its batches is completing. The table is dropped now; its files "
    "and the batches' files are deleted by the next GC sweep.",
    responses=answers(
        ok(204, "Deleted"),
        e404=NOT_FOUND,
        e409="a batch of the dataset is open or completing (BG-409-DATASET-BUSY, naming them)",
    ),
)
def delete_dataset(dataset_id: str) -> Response[None]:
    services().datasets.delete(principal(router), dataset_id)
    return Response(204)


@router.get(
    f"{BASE}/<dataset_id>",
    tags=["datasets"],
    summary="Get a dataset",
    description="With iceberg: {catalog, identifier, database, table, metadataLocation}, how other "
    "engines (pyiceberg, DuckDB, Athena) read the dataset's table; metadataLocation is null until "
    "the first batch lands.",
    responses=answers(ok(200, "{id: dataset}", DatasetsById), e404=NOT_FOUND),
)
def get_dataset(dataset_id: str) -> dict[str, Any]:
    datasets = services().datasets
    ds = datasets.get(principal(router), dataset_id)
    return {ds.id: {**dataset_to_aep(ds), "iceberg": datasets.iceberg_table(ds)}}
