"""SQS-delivered work: S3 object-created notifications for the validators, and workflow tasks.

Both run under powertools' BatchProcessor so one bad message is retried (and eventually parked
in the dead-letter queue) without failing its neighbours.
"""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from batchgate.aws.clients import client
from batchgate.ingest import Ingestor, ObjectEvent, s3_records
from batchgate.observability import logger, metrics
from batchgate.settings import settings
from batchgate.workflow import Workflow, task_failure


def validate_records(event: dict[str, Any], context: Any, fmt: str) -> dict[str, Any]:
    """Validator entry point: every S3 record in every SQS message, for one format."""
    ingestor = Ingestor(settings())

    def on_record(record: SQSRecord) -> None:
        for raw in s3_records(json.loads(record.body)):
            ev = ObjectEvent.from_record(raw)
            logger.append_keys(file_key=ev.key)
            outcome = ingestor.handle(ev, fmt)
            metrics.add_metric(name=f"Validation_{outcome.split(':')[0]}", unit="Count", value=1)
            logger.info("object handled", extra={"outcome": outcome})

    return dict(
        process_partial_response(
            event=event, record_handler=on_record, processor=BatchProcessor(EventType.SQS), context=context
        )
    )


def run_tasks(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Workflow worker: run the task a state machine sent, answer with its task token."""
    workflow = Workflow(settings())
    sfn = client("stepfunctions")

    def on_record(record: SQSRecord) -> None:
        message = json.loads(record.body)
        task, state, token = message["task"], message.get("input") or {}, message["taskToken"]
        logger.append_keys(batch_id=state.get("batchId"), task=task)
        try:
            output = workflow.run(task, state)
        except Exception as exc:
            error, cause = task_failure(exc)
            logger.warning("task failed", extra={"error": error, "cause": cause})
            workflow.note_failure(state, exc)
            _answer(sfn, lambda: sfn.send_task_failure(taskToken=token, error=error, cause=cause))
            return
        _answer(sfn, lambda: sfn.send_task_success(taskToken=token, output=json.dumps(output)))

    return dict(
        process_partial_response(
            event=event, record_handler=on_record, processor=BatchProcessor(EventType.SQS), context=context
        )
    )


def _answer(sfn: Any, send: Any) -> None:
    """Report a task's outcome. An execution that timed out, was stopped (ABORT) or no longer
    exists cannot take the answer: retrying the message would never help, so it is logged and
    dropped. Anything else (throttling, network) raises, and SQS delivers the task again."""
    gone = (sfn.exceptions.InvalidToken, sfn.exceptions.TaskTimedOut, sfn.exceptions.TaskDoesNotExist)
    try:
        send()
    except gone as exc:
        logger.warning("execution no longer waits for this task", extra={"error": str(exc)})
