"""Validates JSON files: S3 object-created events, delivered through SQS."""

from typing import Any

from batchgate.events import validate_records
from batchgate.observability import logger, metrics, tracer


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return validate_records(event, context, "json")
