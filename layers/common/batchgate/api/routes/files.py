"""File uploads into a batch: single PUT, AEP chunks (PATCH + Content-Range) and presigned URLs.

File names are the rest of the path after ``/files/`` (they may contain '/'); ``app.resolve``
percent-encodes that rest into one segment so the resolver can match it, and routes decode it.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import unquote

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse

from batchgate.api.bodies import FileAction, FileActionBody
from batchgate.api.deps import header, json_model, principal, raw_body, services

router = Router()
FILES = "/data/foundation/import/batches/<batch_id>/datasets/<dataset_id>/files/<name>"


ERRORS: dict[int, OpenAPIResponse] = {
    400: {"description": "bad file name (BG-400-FILE-NAME) or request"},
    404: {"description": "no such batch or dataset for this tenant"},
    409: {"description": "batch not loading, or another file with this name"},
    413: {"description": "body above the single-request limit: use ?action=PRESIGN"},
    415: {"description": "Content-Type is not application/octet-stream"},
}


@router.put(
    FILES,
    tags=["uploads"],
    summary="Upload a file in one request",
    description="Body: the file's bytes with Content-Type: application/octet-stream, at most the "
    "single-request limit (default 4.5 MiB). Same name + same bytes again is a 200 retry.",
    responses={200: {"description": "stored"}, **ERRORS},
)
def put_file(batch_id: str, dataset_id: str, name: str) -> Response[Any]:
    up = services().uploads
    up.check_media_type(header(router, "content-type"))
    up.put(principal(router), batch_id, dataset_id, unquote(name), raw_body(router))
    return Response(200)


@router.patch(
    FILES,
    tags=["uploads"],
    summary="Upload one chunk of a large file",
    description="After ?action=INITIALIZE. Header Content-Range: bytes <first>-<last>/<total or *> "
    "(inclusive); body: the chunk's bytes as application/octet-stream. Gaps and overlaps are "
    "reported at ?action=COMPLETE.",
    responses={200: {"description": "chunk stored"}, **ERRORS},
)
def patch_file(batch_id: str, dataset_id: str, name: str) -> Response[Any]:
    up = services().uploads
    up.check_media_type(header(router, "content-type"))
    body = raw_body(router)
    up.patch(principal(router), batch_id, dataset_id, unquote(name), header(router, "content-range"), body)
    return Response(200)


@router.post(
    FILES,
    tags=["uploads"],
    summary="INITIALIZE / COMPLETE a large file, or PRESIGN upload URLs",
    description="INITIALIZE starts a chunked upload. PRESIGN {size, partSize?, expiresIn?} returns a "
    "presigned PUT or an S3 multipart plan (batchgate extension). COMPLETE assembles the chunks, or "
    "finishes a presigned multipart upload with {uploadId, parts: [{partNumber, etag}]}. "
    "The optional JSON body is the FileActionBody schema; any Content-Type is accepted.",
    responses={201: {"description": "done; PRESIGN returns the upload plan"}, **ERRORS},
)
def file_action(
    batch_id: str,
    dataset_id: str,
    name: str,
    action: Annotated[FileAction, Query()],
) -> Response[Any]:
    up, p, file_name = services().uploads, principal(router), unquote(name)
    body = json_model(router, FileActionBody)
    if action == "INITIALIZE":
        up.initialize(p, batch_id, dataset_id, file_name)
        return Response(201)
    if action == "PRESIGN":
        return Response(201, "application/json", up.presign(p, batch_id, dataset_id, file_name, body))
    up.complete(p, batch_id, dataset_id, file_name, body)
    return Response(201)
