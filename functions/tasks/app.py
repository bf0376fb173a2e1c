"""Runs the tasks the complete / abort / revert / gc state machines hand out through SQS."""

from typing import Any

from batchgate.events import run_tasks
from batchgate.observability import logger, metrics, tracer


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return run_tasks(event, context)
