"""File uploads into a batch: single PUT, AEP chunks (PATCH + Content-Range) and presigned URLs.

File names are the rest of the path after ``/files/`` (they may contain '/'); ``app.resolve``
percent-encodes that rest into one segment so the resolver can match it, and routes decode it.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import unquote

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Body, Query

from batchgate.api.deps import header, principal, raw_body, services
from batchgate.api.models import FileAction, FileActionBody

router = Router()
FILES = "/data/foundation/import/batches/<batch_id>/datasets/<dataset_id>/files/<name>"


@router.put(FILES, tags=["uploads"], summary="Upload a file in one request (application/octet-stream)")
def put_file(batch_id: str, dataset_id: str, name: str) -> Response[Any]:
    up = services().uploads
    up.check_media_type(header(router, "content-type"))
    up.put(principal(router), batch_id, dataset_id, unquote(name), raw_body(router))
    return Response(200)


@router.patch(FILES, tags=["uploads"], summary="Upload one chunk of a large file (Content-Range)")
def patch_file(batch_id: str, dataset_id: str, name: str) -> Response[Any]:
    up = services().uploads
    up.check_media_type(header(router, "content-type"))
    body = raw_body(router)
    up.patch(principal(router), batch_id, dataset_id, unquote(name), header(router, "content-range"), body)
    return Response(200)


@router.post(FILES, tags=["uploads"], summary="INITIALIZE / COMPLETE a large file, or PRESIGN upload URLs")
def file_action(
    batch_id: str,
    dataset_id: str,
    name: str,
    action: Annotated[FileAction, Query()],
    body: Annotated[FileActionBody | None, Body()] = None,
) -> Response[Any]:
    up, p, file_name = services().uploads, principal(router), unquote(name)
    if action == "INITIALIZE":
        up.initialize(p, batch_id, dataset_id, file_name)
        return Response(201)
    if action == "PRESIGN":
        return Response(201, "application/json", up.presign(p, batch_id, dataset_id, file_name, body))
    up.complete(p, batch_id, dataset_id, file_name, body)
    return Response(201)
