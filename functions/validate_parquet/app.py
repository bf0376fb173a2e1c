"""Validates PARQUET files: S3 object-created events, delivered through SQS."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from batchgate.aws.clients import preload
from batchgate.ingest.entry import handle_object_messages
from batchgate.observability import logger, metrics, tracer

preload("dynamodb", "s3", "stepfunctions", "events")  # in the init phase, not the first event


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return handle_object_messages(event, context, "parquet")
