"""The dashboard's page and files at ``/ui``: public (no caller; its data comes through the
API with the user's key), left out of the OpenAPI document (it is not an API)."""

from __future__ import annotations

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router

from batchgate.dashboard.assets import serve

router = Router()


def _send() -> Response[bytes]:
    event = router.current_event
    answer = serve(event.path, event.headers.get("if-none-match") or event.headers.get("If-None-Match"))
    return Response(answer.status, answer.content_type, answer.body, headers=answer.headers)


# powertools' path parameters match one segment each: one route per depth the app uses
# (/ui, a view, a view's item, a static file under static/views/).
@router.get("/ui", include_in_schema=False)
def ui() -> Response[bytes]:
    return _send()


@router.get("/ui/<a>", include_in_schema=False)
def ui_1(a: str) -> Response[bytes]:
    return _send()


@router.get("/ui/<a>/<b>", include_in_schema=False)
def ui_2(a: str, b: str) -> Response[bytes]:
    return _send()


@router.get("/ui/<a>/<b>/<c>", include_in_schema=False)
def ui_3(a: str, b: str, c: str) -> Response[bytes]:
    return _send()
