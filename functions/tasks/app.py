"""Runs the tasks the complete / abort / revert / gc / validate-large state machines hand out
through SQS (task name, state and task token in each message)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from batchgate.aws.clients import preload
from batchgate.observability import logger, metrics, tracer
from batchgate.workflow.entry import handle_task_messages

preload("dynamodb", "s3", "stepfunctions", "events")  # in the init phase, not the first event


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return handle_task_messages(event, context)
