"""The validator functions' work: every S3 record of every SQS message, for one format.

Powertools' ``BatchProcessor`` parses each message into :class:`ObjectCreatedMessage` and reports
failures per message, so one bad message is retried (and eventually parked in the dead-letter
queue) without failing its neighbours.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.typing import LambdaContext

from batchgate.ingest.messages import ObjectCreatedMessage
from batchgate.ingest.router import Ingestor
from batchgate.observability import logger, metrics
from batchgate.settings import settings


def handle_object_messages(event: dict[str, Any], context: LambdaContext, fmt: str) -> dict[str, Any]:
    ingestor = Ingestor(settings())
    # One processor per invocation: it keeps per-batch state, and the local stack runs the
    # validator functions side by side in one process.
    processor = BatchProcessor(event_type=EventType.SQS, model=ObjectCreatedMessage)

    def on_record(record: ObjectCreatedMessage) -> None:
        for ev in record.object_events():
            logger.append_keys(file_key=ev.key)
            outcome = ingestor.handle(ev, fmt)
            metrics.add_metric(name=f"Validation_{outcome.split(':')[0]}", unit="Count", value=1)
            logger.info("object handled", extra={"outcome": outcome})

    return dict(
        process_partial_response(event=event, record_handler=on_record, processor=processor, context=context)
    )
