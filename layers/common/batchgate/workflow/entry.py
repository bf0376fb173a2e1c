"""The tasks function's work: run the task a state machine sent through the task queue and answer
its task token (``sqs:sendMessage.waitForTaskToken``, the portable pattern of the design)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.parser.models import SqsRecordModel
from aws_lambda_powertools.utilities.parser.types import Json
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, ConfigDict, Field

from batchgate.observability import logger
from batchgate.settings import settings
from batchgate.workflow.context import Parked, TaskContext
from batchgate.workflow.tasks import note_failure, run_task, task_failure


class TaskMessage(BaseModel):
    """What the ASL's task states send: the task name, the execution's state, the token."""

    model_config = ConfigDict(populate_by_name=True)

    task: str
    input: dict[str, Any] | None = None
    task_token: str = Field(alias="taskToken")


class TaskQueueMessage(SqsRecordModel):
    body: Json[TaskMessage]


def handle_task_messages(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    ctx = TaskContext.create(settings())
    processor = BatchProcessor(event_type=EventType.SQS, model=TaskQueueMessage)

    def on_record(record: TaskQueueMessage) -> None:
        message = record.body
        state = message.input or {}
        logger.append_keys(batch_id=state.get("batchId"), task=message.task)
        try:
            output = run_task(ctx, message.task, state)
        except Exception as exc:
            error, cause = task_failure(exc)
            logger.warning("task failed", extra={"error": error, "cause": cause})
            note_failure(ctx, state, exc)
            ctx.executions.task_failed(message.task_token, error=error, cause=cause)
            return
        if isinstance(output, Parked):
            logger.info("task parked: answered later, or its state times out")
            return
        # The task's answer in the log too: the execution's history holds it for 90 days, the log
        # is where an operator (and `batchgate invoke`) sees it beside the task's other lines.
        logger.info("task done", extra={"output": output})
        ctx.executions.task_succeeded(message.task_token, output)

    return dict(
        process_partial_response(event=event, record_handler=on_record, processor=processor, context=context)
    )
