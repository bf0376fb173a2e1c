"""Datasets: ``/data/foundation/catalog/dataSets`` (AEP's catalog shapes)."""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Body, Query

from batchgate.api.bodies import DatasetCreate
from batchgate.api.deps import principal, services
from batchgate.api.services.dataset_catalog import dataset_to_aep

router = Router()
BASE = "/data/foundation/catalog/dataSets"


@router.post(BASE, tags=["datasets"], summary="Create a dataset", responses={201: {"description": "Created"}})
def create_dataset(body: Annotated[DatasetCreate, Body()]) -> Response[list[str]]:
    ds = services().datasets.create(principal(router), body)
    return Response(201, "application/json", [f"@/dataSets/{ds.id}"])


@router.get(BASE, tags=["datasets"], summary="List datasets, newest first")
def list_datasets(
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    start: Annotated[int, Query(ge=0)] = 0,
) -> dict[str, Any]:
    found = services().datasets.list(principal(router), limit=limit, start=start)
    return {ds.id: dataset_to_aep(ds) for ds in found}


@router.get(f"{BASE}/<dataset_id>", tags=["datasets"], summary="Get a dataset")
def get_dataset(dataset_id: str) -> dict[str, Any]:
    ds = services().datasets.get(principal(router), dataset_id)
    return {ds.id: dataset_to_aep(ds)}
