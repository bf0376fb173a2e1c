"""File uploads into a batch: single PUT, AEP chunks (PATCH + Content-Range) and presigned URLs.

File names are the rest of the path after ``/files/`` (they may contain '/'); ``app.resolve``
percent-encodes that rest into one segment so the resolver can match it, and routes decode it.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import unquote

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.models import Example
from aws_lambda_powertools.event_handler.openapi.params import Path, Query

from batchgate.api.bodies import FileAction, FileActionBody
from batchgate.api.deps import header, json_model, principal, raw_body, services
from batchgate.api.openapi_fixups import RawBody, RawHeader
from batchgate.api.responses.batches import UploadPlan
from batchgate.api.responses.common import answers, ok

router = Router()
FILES = "/data/foundation/import/batches/<batch_id>/datasets/<dataset_id>/files/<name>"

# OpenAPI's path templates match one segment; this parameter takes the rest of the path, as API
# Gateway's greedy {name+} does. The description says so to people, the extension to tools.
REST_OF_PATH = {"x-batchgate-rest-of-path": "name"}
FileName = Annotated[
    str,
    Path(
        description="The file's name: the rest of the path after /files/, '/' included "
        "(2026/11/day.json), so it may span several segments; '/' may also be sent as %2F. "
        "Percent-encoding is decoded once. 1..255 characters, no '.', '..' or empty segment, "
        "no '\\', no control characters.",
        openapi_examples={
            "flat": Example(value="profiles.json"),
            "nested": Example(value="2026/11/day.json"),
        },
    ),
]
# Read by the routes themselves (see openapi_fixups).
READ_BY_ROUTES = (
    RawBody("PUT", FILES, "the file's bytes, at most the single-request limit (default 4.5 MiB)"),
    RawBody("PATCH", FILES, "one chunk's bytes: exactly the bytes Content-Range announces"),
    RawBody(
        "POST",
        FILES,
        "optional, any Content-Type: PRESIGN {size, partSize?, expiresIn?}; COMPLETE of a presigned "
        "multipart upload {uploadId, parts}; nothing for INITIALIZE and a chunked COMPLETE",
        FileActionBody,
    ),
    RawHeader(
        "PATCH",
        FILES,
        "Content-Range",
        "Needed: 'bytes <first>-<last>/<total>', inclusive offsets; the total may be '*' or left out (as "
        "AEP's guide sends it). Without it the answer is 400 BG-400-CONTENT-RANGE.",
    ),
)
_ERRORS = {
    "e404": "no such batch (BG-404-BATCH), the batch has no such dataset (BG-404-DATASET), no such file "
    "(BG-404-FILE)",
    "e409": "the batch is not 'loading' (BG-409-BATCH-NOT-LOADING), the name is taken by other bytes or "
    "another upload (BG-409-FILE-EXISTS)",
}
_BYTES_ERRORS = {
    **_ERRORS,
    "e413": "the body is above the single-request limit (BG-413-TOO-LARGE): use ?action=PRESIGN",
    "e415": "the body is not sent as application/octet-stream (BG-415-CONTENT-TYPE)",
}


@router.put(
    FILES,
    tags=["uploads"],
    summary="Upload a file in one request",
    description="Body: the file's bytes with Content-Type: application/octet-stream, at most the "
    "single-request limit (default 4.5 MiB). Same name + same bytes again is a 200 retry.",
    responses=answers(
        ok(200, "stored (no body)"), e400="a bad file name (BG-400-FILE-NAME)", **_BYTES_ERRORS
    ),
    openapi_extensions=REST_OF_PATH,
)
def put_file(batch_id: str, dataset_id: str, name: FileName) -> Response[Any]:
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
    responses=answers(
        ok(200, "chunk stored (no body)"),
        e400="a bad file name (BG-400-FILE-NAME), a missing or bad Content-Range (BG-400-CONTENT-RANGE)",
        **{
            **_BYTES_ERRORS,
            "e409": "the batch is not 'loading' (BG-409-BATCH-NOT-LOADING), the file was not started with "
            "INITIALIZE (BG-409-NOT-CHUNKED) or is complete (BG-409-FILE-COMPLETE)",
        },
    ),
    openapi_extensions=REST_OF_PATH,
)
def patch_file(batch_id: str, dataset_id: str, name: FileName) -> Response[Any]:
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
    responses=answers(
        ok(201, "done: PRESIGN answers the upload plan; INITIALIZE and COMPLETE answer no body", UploadPlan),
        e400="an unknown action or invalid body (BG-400-INVALID), a bad file name (BG-400-FILE-NAME), "
        "PRESIGN without a size (BG-400-PRESIGN), chunks with gaps or overlaps (BG-400-CHUNKS), parts that "
        "do not match (BG-400-PRESIGN)",
        **{
            **_ERRORS,
            "e409": "the batch is not 'loading' (BG-409-BATCH-NOT-LOADING), the name is taken "
            "(BG-409-FILE-EXISTS), COMPLETE of a presigned file with no data yet (BG-409-FILE-INCOMPLETE)",
        },
    ),
    openapi_extensions=REST_OF_PATH,
)
def file_action(
    batch_id: str,
    dataset_id: str,
    name: FileName,
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
