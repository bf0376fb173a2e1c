"""Reading back: a batch's uploaded files, its failed-records files, and file downloads."""

from __future__ import annotations

import base64
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Query

from batchgate.api.deps import header, principal, services
from batchgate.api.openapi_fixups import RawHeader
from batchgate.api.responses.batches import FileList, RowsPage
from batchgate.api.responses.common import BINARY_SCHEMA, OCTET_STREAM, answers, fails, ok, response_header
from batchgate.api.services.downloads import ExportFile

router = Router()
EXPORT = "/data/foundation/export"
BATCH_NOT_FOUND = "no such batch in this org and sandbox (BG-404-BATCH)"
PAGE_INVALID = "limit or start out of range (BG-400-INVALID)"
# Read by the route itself (see openapi_fixups).
READ_BY_ROUTES = (
    RawHeader(
        "GET",
        f"{EXPORT}/files/<file_id>",
        "Range",
        "One range: 'bytes=<first>-<last>', 'bytes=<first>-' or 'bytes=-<suffix length>' (206); several "
        "ranges are refused (416).",
    ),
)
_DOWNLOAD_HEADERS = {
    "Accept-Ranges": response_header("always 'bytes'"),
    "Content-Disposition": response_header('attachment; filename="<the file\'s last name segment>"'),
}


def _listing(files: list[ExportFile], limit: int, start: int) -> dict[str, Any]:
    page = files[start : start + limit]
    return {
        "data": [
            {
                "dataSetFileId": f.file_id,
                "dataSetViewId": f.dataset_id,
                "version": "1.0.0",
                "created": f.created,
                "updated": f.updated,
                "isValid": f.is_valid,
                "name": f.name,
                "size": f.size,
                "_links": {"self": {"href": f"{EXPORT}/files/{f.file_id}"}},
            }
            for f in page
        ],
        "_page": {"limit": limit, "start": start, "count": len(page), "total": len(files)},
    }


@router.get(
    f"{EXPORT}/batches/<batch_id>/files",
    tags=["exports"],
    summary="The files uploaded to a batch",
    responses=answers(ok(200, "a page of the files", FileList), e400=PAGE_INVALID, e404=BATCH_NOT_FOUND),
)
def batch_files(
    batch_id: str,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    start: Annotated[int, Query(ge=0)] = 0,
) -> dict[str, Any]:
    files = services().downloads.files(principal(router), batch_id, failed=False)
    return _listing(files, limit, start)


@router.get(
    f"{EXPORT}/batches/<batch_id>/failed",
    tags=["exports"],
    summary="A batch's failed-records files",
    responses=answers(
        ok(200, "a page of the failed-records files (one per part of a file validated in parts)", FileList),
        e400=PAGE_INVALID,
        e404=BATCH_NOT_FOUND,
        e409="the batch was created with enableErrorDiagnostics: false (BG-409-DIAGNOSTICS-OFF)",
    ),
)
def batch_failed(
    batch_id: str,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    start: Annotated[int, Query(ge=0)] = 0,
) -> dict[str, Any]:
    files = services().downloads.files(principal(router), batch_id, failed=True)
    return _listing(files, limit, start)


@router.get(
    f"{EXPORT}/datasets/<dataset_id>/rows",
    tags=["exports"],
    summary="A page of a dataset's rows",
    description="filter= (repeatable, all apply): `column op value` with op = != < <= > >=, "
    "`column in (a,b)`, `column is [not] null`; values are read as the column's type, 'quoted' when "
    "they hold commas or surrounding spaces. A page token is bound to the filters of its first page.",
    responses=answers(
        ok(200, "a page of rows, each with its _batch_id; an empty page before any batch landed", RowsPage),
        e400="a parameter out of range (BG-400-INVALID), a bad filter (BG-400-FILTER), a page token of other filters (BG-400-PAGE-TOKEN), asOfBatch of a batch with no snapshot in the "
        "history or reverted (BG-400-AS-OF-BATCH), a batch of another dataset (BG-400-BATCH-DATASET)",
        e404="no such dataset (BG-404-DATASET), no such batch (BG-404-BATCH)",
        e409="the rows moved since the page token was issued (BG-409-ROWS-CHANGED: start again), or the "
        "snapshot asked for held a since-reverted upsert batch (BG-409-SNAPSHOT-HAS-REVERTED)",
    ),
)
def dataset_rows(
    dataset_id: str,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 100,
    start: Annotated[str | None, Query(max_length=200)] = None,
    as_of_batch: Annotated[str | None, Query(alias="asOfBatch", min_length=1)] = None,
    batch_id: Annotated[str | None, Query(alias="batchId", min_length=1)] = None,
    filter: Annotated[
        list[str] | None, Query(alias="filter")
    ] = None,  # shadows the builtin: the query parameter's name
) -> dict[str, Any]:
    rows, nxt = services().rows.read(
        principal(router),
        dataset_id,
        limit=limit,
        start=start,
        as_of_batch=as_of_batch,
        batch_id=batch_id,
        filters=filter or (),
    )
    return {"data": rows, "page": {"limit": limit, "count": len(rows), "next": nxt}}


@router.get(
    f"{EXPORT}/files/<file_id>",
    tags=["exports"],
    summary="Download a file (Range supported)",
    responses=answers(
        ok(
            200,
            "the file's bytes",
            content={OCTET_STREAM: {"schema": BINARY_SCHEMA}},
            headers=_DOWNLOAD_HEADERS,
        ),
        ok(
            206,
            "the range's bytes",
            content={OCTET_STREAM: {"schema": BINARY_SCHEMA}},
            headers={**_DOWNLOAD_HEADERS, "Content-Range": response_header("bytes <first>-<last>/<size>")},
        ),
        ok(
            307,
            "the bytes to send are above the inline limit: GET Location, a presigned S3 URL valid for 15 "
            "minutes (repeat the Range header there)",
            headers={"Location": response_header("the presigned S3 URL")},
        ),
        fails(
            416,
            "the Range cannot be satisfied or is not one 'bytes=' range (BG-416-RANGE)",
            headers={"Content-Range": response_header("bytes */<size>")},
        ),
        e404="no such file, or it has no data yet (BG-404-FILE); its batch is unknown (BG-404-BATCH)",
    ),
)
def download(file_id: str) -> Response[Any]:
    svc = services()
    got = svc.downloads.download(
        principal(router), file_id, header(router, "range"), inline_max=svc.cfg.single_put_max_bytes
    )
    if got.redirect is not None:
        return Response(got.status, headers=got.headers)
    return binary_response(got.status, got.body, got.headers)


def binary_response(status: int, body: bytes, headers: dict[str, str]) -> Response[Any]:
    """Bytes, base64-encoded here: with enable_validation powertools runs a route's return value
    through its JSON encoder, which decodes a bytes body as UTF-8 (and fails on binary data)."""
    response: Response[Any] = Response(
        status, "application/octet-stream", base64.b64encode(body).decode(), headers=headers
    )
    response.base64_encoded = True
    return response
