"""SQS event sources, as Lambda's poller runs them: receive, invoke the handler with an SQS
event, delete what succeeded, let the failures come back (and reach the DLQ through redrive)."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Any

from batchgate.aws.clients import client
from batchgate_tools.local.functions import Invoker, LocalFunctions
from batchgate_tools.local.hold import PollerHold

logger = logging.getLogger(__name__)

# Locally a failed message comes back after this many seconds instead of the queue's
# visibility timeout (16 minutes in AWS), so retries are visible while someone watches.
LOCAL_RETRY_SECONDS = 2


@dataclass(frozen=True)
class EventSource:
    function: str
    queue_url: str
    queue_arn: str
    batch_size: int


def sqs_event_sources(functions: LocalFunctions) -> list[EventSource]:
    out = []
    r = functions.resolver
    for name in functions.names():
        for ev in (r.resource(name)["Properties"].get("Events") or {}).values():
            if ev.get("Type") != "SQS":
                continue
            props = ev["Properties"]
            queue_logical = props["Queue"]["Fn::GetAtt"][0]
            out.append(
                EventSource(
                    function=name,
                    queue_url=r.ref(queue_logical),
                    queue_arn=r.get_att(queue_logical, "Arn"),
                    batch_size=int(props.get("BatchSize", 10)),
                )
            )
    return out


class Poller(threading.Thread):
    def __init__(
        self,
        source: EventSource,
        functions: Invoker,
        stop: threading.Event,
        *,
        worker: int = 0,
        hold: PollerHold | None = None,
    ) -> None:
        super().__init__(name=f"poll-{source.function}-{worker}", daemon=True)
        self.source = source
        self.functions = functions
        self.stop_event = stop
        self.worker = str(worker)
        self.hold = hold  # `batchgate invoke --put-objects` asks the pollers to stand aside
        self.handled = 0

    def run(self) -> None:
        sqs = client("sqs")
        while not self.stop_event.is_set():
            if self.hold is not None and self.hold.held(self.source.function, self.worker):
                self.stop_event.wait(0.1)
                continue
            try:
                resp = sqs.receive_message(
                    QueueUrl=self.source.queue_url,
                    MaxNumberOfMessages=min(self.source.batch_size, 10),
                    WaitTimeSeconds=1,
                    AttributeNames=["All"],
                )
            except Exception as exc:
                if self.stop_event.is_set():
                    return
                logger.warning("poll failed", extra={"queue": self.source.queue_url, "error": str(exc)})
                time.sleep(1)
                continue
            messages = resp.get("Messages", [])
            if messages:
                self._deliver(sqs, messages)

    def _deliver(self, sqs: Any, messages: list[dict[str, Any]]) -> None:
        event = {
            "Records": [
                {
                    "messageId": m["MessageId"],
                    "receiptHandle": m["ReceiptHandle"],
                    "body": m["Body"],
                    "attributes": m.get("Attributes", {}),
                    "messageAttributes": {},
                    "md5OfBody": m.get("MD5OfBody", ""),
                    "eventSource": "aws:sqs",
                    "eventSourceARN": self.source.queue_arn,
                    "awsRegion": "us-east-1",
                }
                for m in messages
            ]
        }
        try:
            result = self.functions.invoke(self.source.function, event) or {}
            failed = {f["itemIdentifier"] for f in result.get("batchItemFailures", [])}
        except Exception as exc:  # the whole invocation failed: every message comes back
            logger.exception("handler crashed", extra={"function": self.source.function, "error": str(exc)})
            failed = {m["MessageId"] for m in messages}
        for m in messages:
            if m["MessageId"] in failed:
                sqs.change_message_visibility(
                    QueueUrl=self.source.queue_url,
                    ReceiptHandle=m["ReceiptHandle"],
                    VisibilityTimeout=LOCAL_RETRY_SECONDS,
                )
            else:
                sqs.delete_message(QueueUrl=self.source.queue_url, ReceiptHandle=m["ReceiptHandle"])
                self.handled += 1
