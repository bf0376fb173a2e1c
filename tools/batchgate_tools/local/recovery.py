"""After a restart with ``--data-dir``: executions and queued events did not survive, batches did.

Completions of batches in ``loaded`` / ``staging`` / ``retrying`` are started again (under a new
execution name: the old ones are gone with moto's memory), and object-created events are sent
again for files that were never validated, for bucket drops whose batch is still ``loading`` and
for bucket drops that have no batch yet: every drop S3 acknowledged ends in a final batch.
"""

from __future__ import annotations

import json
import logging
import time

from batchgate.aws.clients import client
from batchgate.aws.executions import Executions
from batchgate.aws.objects import Objects
from batchgate.aws.store import Store
from batchgate.core.models import Batch, BatchStatus
from batchgate.core.status import PENDING_FILES
from batchgate.ingest.drop import drops_without_batch, start_completion
from batchgate.settings import settings
from batchgate_tools.local.provision import Provisioner

logger = logging.getLogger(__name__)
RESUMABLE: tuple[BatchStatus, ...] = ("loaded", "staging", "retrying")


class Recovery:
    def __init__(self, provisioner: Provisioner, complete_state_machine_arn: str) -> None:
        self.provisioner = provisioner
        self.complete_arn = complete_state_machine_arn
        self.store = Store(settings().table_name)
        self.objects = Objects(settings().bucket)

    def run(self) -> int:
        """Pick up what the previous run acknowledged; how many completions were restarted."""
        resumed = 0
        for status in RESUMABLE:
            for batch in self.store.batches_in_status(status):
                self._resend_pending_files(batch)
                start_completion(Executions(), self.complete_arn, batch, suffix=f"-r{int(time.time())}")
                resumed += 1
        for batch in self.store.batches_in_status("loading"):
            if batch.source == "inbox" and batch.source_key:
                # A drop whose validation or completion was cut off: its event again finishes it
                # (a file already validated is a duplicate, and the batch completes).
                self.resend_event(batch.source_key)
            else:
                self._resend_pending_files(batch)
        for ev in drops_without_batch(self.store, self.objects, int(time.time() * 1000)):
            self.resend_event(ev.key)
        logger.warning("recovered after restart: %d completions resumed", resumed)
        return resumed

    def _resend_pending_files(self, batch: Batch) -> None:
        for f in self.store.list_files(batch.org, batch.sandbox, batch.id):
            if f.status in PENDING_FILES:
                self.resend_event(f.key)

    def resend_event(self, key: str) -> None:
        """Send an object-created event for ``key`` to the queue its notification rule routes it to."""
        head = self.objects.head(key)
        if head is None:
            return
        for bucket, prefix, suffix, queue in self.provisioner.queue_routes():
            if bucket != self.objects.bucket or not (key.startswith(prefix) and key.endswith(suffix)):
                continue
            record = {
                "eventName": "ObjectCreated:Put",
                "s3": {
                    "bucket": {"name": bucket},
                    "object": {
                        "key": key,
                        "size": head["ContentLength"],
                        "eTag": head["ETag"].strip('"'),
                        "versionId": head.get("VersionId"),
                        "sequencer": format(int(head["LastModified"].timestamp() * 1e6), "X"),
                    },
                },
            }
            client("sqs").send_message(
                QueueUrl=self.provisioner.resolver.ref(queue), MessageBody=json.dumps({"Records": [record]})
            )
            return
