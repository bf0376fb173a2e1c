"""Portable bundles: ``/data/foundation/bundles`` (exports and imports are admin-only, reading
them is open to every role; see core/roles.py)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Query

from batchgate.api.bodies import BundleActionBody, BundleExportBody, BundleImportBody
from batchgate.api.deps import header, json_model, principal, raw_body, services
from batchgate.api.openapi_fixups import RawBody
from batchgate.api.responses.bundles import BundleList, BundleOut, BundleStarted, BundleUpload
from batchgate.api.responses.common import OCTET_STREAM, answers, ok
from batchgate.api.services.file_upload.common import UnsupportedMediaType
from batchgate.core.errors import InvalidRequest

router = Router()
BUNDLES = "/data/foundation/bundles"
NOT_FOUND = "no such export or import in this sandbox (BG-404-BUNDLE)"
READ_BY_ROUTES = (
    RawBody(
        "POST",
        BUNDLES,
        'EXPORT: {"datasetIds", "includeData"?, "asOfBatch"?}. IMPORT: the .bgbundle\'s bytes as '
        'application/octet-stream (small bundles), or {"uploadId"} of a bundle PUT to the URL PRESIGN gave. '
        "PRESIGN: no body.",
        BundleActionBody,
        bytes_too=True,
    ),
)


@router.post(
    BUNDLES,
    tags=["bundles"],
    summary="Export datasets into a bundle, import a bundle, or presign a bundle's upload",
    description="EXPORT and IMPORT answer 202 with the id to follow at GET /data/foundation/bundles/{id}; "
    "the work runs in a state machine. An import is verified whole before anything is written, lands "
    "each dataset's rows as one ordinary batch, and is idempotent by the bundle's id.",
    responses=answers(
        ok(202, "started: follow it at GET /data/foundation/bundles/{id}", BundleStarted),
        ok(201, 'PRESIGN: where to PUT the bundle, then IMPORT {"uploadId"}', BundleUpload),
        e400="an unknown action or an invalid body (BG-400-INVALID), a dataset not in this sandbox "
        "(BG-400-BUNDLE-DATASET), an asOfBatch not of the exported datasets (BG-400-AS-OF-BATCH), an "
        "empty bundle body (BG-400-BUNDLE-CORRUPT), an uploadId with nothing uploaded (BG-400-BUNDLE-UPLOAD)",
        e415="IMPORT's body is neither application/octet-stream nor application/json (BG-415-CONTENT-TYPE)",
        e503="the export or import state machine is not configured (BG-503-NOT-CONFIGURED)",
    ),
)
def bundle_action(
    action: Annotated[Literal["EXPORT", "IMPORT", "PRESIGN"], Query()],
) -> Response[dict[str, Any]]:
    bundles, p = services().bundles, principal(router)
    if action == "PRESIGN":
        return Response(201, "application/json", bundles.presign(p))
    if action == "EXPORT":
        body = json_model(router, BundleExportBody)
        if body is None:
            raise InvalidRequest('EXPORT needs a body: {"datasetIds": [...]}')
        record = bundles.export(p, body)
    else:
        kind = (header(router, "content-type") or "").split(";")[0].strip().lower()
        if kind == OCTET_STREAM:
            record = bundles.import_bytes(p, raw_body(router))
        elif kind == "application/json":
            upload = json_model(router, BundleImportBody)
            if upload is None:
                raise InvalidRequest('IMPORT with JSON needs {"uploadId"}')
            record = bundles.import_upload(p, upload)
        else:
            raise UnsupportedMediaType(
                f'IMPORT takes the bundle as {OCTET_STREAM}, or application/json {{"uploadId"}} (got {kind or "none"!r})'
            )
    return Response(202, "application/json", {"id": record.id})


@router.get(
    BUNDLES,
    tags=["bundles"],
    summary="List exports and imports, newest first",
    responses=answers(
        ok(200, "the exports and imports", BundleList), e400="a parameter out of range (BG-400-INVALID)"
    ),
)
def list_bundles(
    kind: Annotated[Literal["export", "import"] | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    start: Annotated[int, Query(ge=0)] = 0,
) -> dict[str, Any]:
    bundles, p = services().bundles, principal(router)
    page = bundles.find(p, kind)[start : start + limit]
    return {
        "bundles": [bundles.show(r) for r in page],
        "_page": {"limit": limit, "start": start, "count": len(page)},
    }


@router.get(
    f"{BUNDLES}/<bundle_id>",
    tags=["bundles"],
    summary="An export or an import: status, datasets, errors, and an export's download URL",
    responses=answers(ok(200, "the export or import", BundleOut), e404=NOT_FOUND),
)
def get_bundle(bundle_id: str) -> dict[str, Any]:
    bundles, p = services().bundles, principal(router)
    return bundles.show(bundles.get(p, bundle_id))
