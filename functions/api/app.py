"""API function: API Gateway REST proxy events → the batchgate API (routes in batchgate.api)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from batchgate.api.app import resolve
from batchgate.aws.clients import preload
from batchgate.observability import logger, metrics, tracer
from batchgate.settings import settings

preload("dynamodb", "s3", "stepfunctions")  # in the init phase, not the first event


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    settings()  # configuration first: a missing variable fails here, loudly, not mid-request
    response = resolve(event, context)
    metrics.add_metric(name=f"Http{response['statusCode'] // 100}xx", unit="Count", value=1)
    return response
