"""Batches: create, read, list (AEP catalog filters) and the COMPLETE / ABORT / REVERT actions."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Body, Query

from batchgate.api.bodies import BatchActionBody, BatchCreate
from batchgate.api.deps import json_model, principal, services
from batchgate.api.openapi_fixups import RawBody
from batchgate.api.responses.batches import Batch, BatchesById, BatchStatsOut
from batchgate.api.responses.common import answers, ok
from batchgate.aws.batch_queries import BatchQuery
from batchgate.core.batch_stats import MAX_UTC_OFFSET_MINUTES, Window
from batchgate.core.models import BatchStatus
from batchgate.core.status import BatchAction

router = Router()
IMPORT = "/data/foundation/import/batches"
CATALOG = "/data/foundation/catalog/batches"
# Not under CATALOG: there a segment after /batches/ is a batch id.
STATS = "/data/foundation/stats/batches"
NOT_FOUND = "no such batch in this org and sandbox (BG-404-BATCH)"

# Read by the route itself, whatever its Content-Type (see openapi_fixups).
READ_BY_ROUTES = (
    RawBody(
        "POST",
        f"{IMPORT}/<batch_id>",
        'optional; REVERT only: {"purge": true} also removes the reverted rows from storage now',
        BatchActionBody,
    ),
)


@router.post(
    IMPORT,
    tags=["batches"],
    summary="Create a batch",
    responses=answers(
        ok(201, "Created: the batch, 'loading'", Batch),
        e400="an invalid body (BG-400-INVALID), datasetId names no dataset of this tenant "
        "(BG-400-UNKNOWN-DATASET), a bad replay (BG-400-REPLAY)",
        e415="the body is not sent as application/json (BG-415-CONTENT-TYPE)",
    ),
)
def create_batch(body: Annotated[BatchCreate, Body()]) -> Response[dict[str, Any]]:
    batch = services().batches.create(
        principal(router),
        dataset_id=body.dataset_id,
        input_format=body.input_format,
        enable_error_diagnostics=body.enable_error_diagnostics,
        partial_ingestion_percentage=body.partial_ingestion_percentage,
        replay=body.replay,
    )
    return Response(201, "application/json", batch.to_aep())


@router.get(
    f"{IMPORT}/<batch_id>",
    tags=["batches"],
    summary="Get a batch",
    responses=answers(ok(200, "the batch", Batch), e404=NOT_FOUND),
)
def get_batch(batch_id: str) -> dict[str, Any]:
    return services().batches.answer(principal(router), batch_id)


@router.post(
    f"{IMPORT}/<batch_id>",
    tags=["batches"],
    summary="COMPLETE, ABORT or REVERT a batch",
    description='REVERT takes an optional JSON body {"purge": true}: the reverted rows are also removed '
    "from storage now (every snapshot that still reads them is expired) instead of at the GC after the "
    "retention; also for a batch reverted before.",
    responses=answers(
        ok(200, "the batch after the action (a repeated COMPLETE changes nothing)", Batch),
        e400="an unknown action or an invalid body (BG-400-INVALID), purge on another action than "
        "REVERT (BG-400-PURGE), more files than maxFilesPerBatch (BG-400-LIMIT)",
        e404=NOT_FOUND,
        e409="the action is not allowed from the batch's status (BG-409-{ACTION}-NOT-ALLOWED), a racing "
        "action won (BG-409-CONCURRENT-CHANGE), files without data (BG-409-FILES-INCOMPLETE), the dataset "
        "was deleted (BG-409-DATASET-DELETED), a revert is running (BG-409-REVERT-RUNNING)",
        e503="the action's state machine is not configured (BG-503-NOT-CONFIGURED: nothing changed) or "
        "could not be started (BG-503-START-FAILED: repeat the action)",
    ),
)
def batch_action(batch_id: str, action: Annotated[BatchAction, Query()]) -> dict[str, Any]:
    body = json_model(router, BatchActionBody)
    purge = body.purge if body is not None else False
    return services().batches.act(principal(router), batch_id, action, purge=purge).to_aep()


@router.get(
    CATALOG,
    tags=["batches"],
    summary="List batches (AEP catalog: {id: batch, ...})",
    responses=answers(
        ok(200, "{id: batch, ...}", BatchesById), e400="a filter out of range (BG-400-INVALID)"
    ),
)
def list_batches(
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    start: Annotated[int, Query(ge=0)] = 0,
    order_by: Annotated[Literal["desc:created", "asc:created"], Query(alias="orderBy")] = "desc:created",
    created_after: Annotated[int | None, Query(alias="createdAfter", ge=0)] = None,
    created_before: Annotated[int | None, Query(alias="createdBefore", ge=0)] = None,
    data_set: Annotated[str | None, Query(alias="dataSet", min_length=1)] = None,
    status: Annotated[BatchStatus | None, Query()] = None,
) -> dict[str, Any]:
    q = BatchQuery(
        limit=limit,
        start=start,
        order_desc=order_by == "desc:created",
        created_after=created_after,
        created_before=created_before,
        dataset_id=data_set,
        status=status,
    )
    return {b.id: b.to_aep() for b in services().batches.list(principal(router), q)}


@router.get(
    f"{CATALOG}/<batch_id>",
    tags=["batches"],
    summary="Get a batch (AEP catalog: {id: batch})",
    responses=answers(ok(200, "{id: batch}", BatchesById), e404=NOT_FOUND),
)
def get_catalog_batch(batch_id: str) -> dict[str, Any]:
    return {batch_id: services().batches.answer(principal(router), batch_id)}


@router.get(
    STATS,
    tags=["batches"],
    summary="Rows ingested and failed per hour (24 h) or per day (30 d), batches by status",
    description="batchgate extension for dashboards: one query of the window's batches, aggregated on the "
    "server. Bins start at the caller's local hour or midnight (utcOffset, minutes east of UTC).",
    responses=answers(
        ok(200, "the window's bins, oldest first, and its batches by status", BatchStatsOut),
        e400="an unknown window or an offset out of range (BG-400-INVALID)",
    ),
)
def batch_stats(
    window: Annotated[Window, Query()] = "24h",
    data_set: Annotated[str | None, Query(alias="dataSet", min_length=1)] = None,
    utc_offset: Annotated[
        int, Query(alias="utcOffset", ge=-MAX_UTC_OFFSET_MINUTES, le=MAX_UTC_OFFSET_MINUTES)
    ] = 0,
) -> dict[str, Any]:
    return services().stats.stats(
        principal(router), window, dataset_id=data_set, utc_offset_minutes=utc_offset
    )
