from __future__ import annotations

import json

import pytest
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from pydantic import ValidationError

from batchgate.api.bodies import BatchCreate, DatasetCreate, FileActionBody
from batchgate.api.error_map import classify, error_response
from batchgate.api.services.downloads import RangeNotSatisfiable
from batchgate.core.errors import Conflict, IllegalTransition, PayloadTooLarge, Unauthorized
from batchgate.ingest.batch_actions import NotConfigured


@pytest.mark.parametrize(
    ("exc", "status", "code"),
    [
        (Unauthorized("x"), 401, "BG-401-UNAUTHORIZED"),
        (Conflict("x", code="BG-409-FILE-EXISTS"), 409, "BG-409-FILE-EXISTS"),
        (IllegalTransition("x"), 409, "BG-409-ILLEGAL-TRANSITION"),
        (PayloadTooLarge("x"), 413, "BG-413-TOO-LARGE"),
        (NotConfigured("x"), 503, "BG-503-NOT-CONFIGURED"),
        (RangeNotSatisfiable("x", 10), 416, "BG-416-RANGE"),
        (NotFoundError(), 404, "BG-404-ROUTE"),
        (KeyError("boom"), 500, "BG-500-INTERNAL"),
    ],
)
def test_classify(exc: Exception, status: int, code: str) -> None:
    assert classify(exc)[:2] == (status, code)


def test_internal_errors_leak_nothing() -> None:
    resp = error_response(RuntimeError("secret table name in /var/task/x.py"), "req-1")
    body = json.loads(resp.body or "")
    assert resp.status_code == 500
    assert body == {
        "error": {"code": "BG-500-INTERNAL", "message": body["error"]["message"], "requestId": "req-1"}
    }
    assert "secret" not in resp.body and "x.py" not in resp.body


def test_validation_errors_name_the_field_not_the_input() -> None:
    with pytest.raises(ValidationError) as info:
        BatchCreate.model_validate(
            {"datasetId": "d", "inputFormat": {"format": "xml"}, "partialIngestionPercentage": 101}
        )
    status, code, message = classify(info.value)
    assert (status, code) == (400, "BG-400-INVALID")
    assert "inputFormat.format" in message and "partialIngestionPercentage" in message
    rve = RequestValidationError([{"loc": ("body", "name"), "msg": "Field required", "type": "missing"}])
    assert classify(rve)[2] == "invalid request: name: Field required"


def test_range_error_carries_content_range_header() -> None:
    resp = error_response(RangeNotSatisfiable("bad", 42), "r")
    assert resp.headers["Content-Range"] == "bytes */42"


def test_request_models() -> None:
    b = BatchCreate.model_validate(
        {
            "datasetId": "d",
            "inputFormat": {"format": "json", "isMultiLineJson": True},
            "replay": {"predecessors": ["a"]},
        }
    )
    assert b.input_format.is_multi_line_json and b.replay is not None and b.replay.reason == "replace"
    with pytest.raises(ValidationError):
        BatchCreate.model_validate({"datasetId": "d", "inputFormat": {"format": "json"}, "typo": 1})
    with pytest.raises(ValidationError):
        BatchCreate.model_validate(
            {"datasetId": "d", "inputFormat": {"format": "json"}, "replay": {"predecessors": []}}
        )
    # AEP's dataset bodies carry extra fields (fileDescription, …): ignored, not refused
    ds = DatasetCreate.model_validate(
        {"name": "n", "fileDescription": {"persisted": True}, "tags": {"unifiedProfile": ["isUpsert:true"]}}
    )
    assert ds.schema_ is None and ds.tags.is_upsert
    with pytest.raises(ValidationError):
        FileActionBody.model_validate({"size": 10, "partSize": 1024})  # below S3's 5 MiB part minimum
    with pytest.raises(ValidationError):
        FileActionBody.model_validate({"size": 0})


def test_undecodable_body_is_400() -> None:
    try:
        b"\x80".decode()
    except UnicodeDecodeError as exc:
        assert classify(exc)[:2] == (400, "BG-400-INVALID")
