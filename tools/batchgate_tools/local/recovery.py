"""After a restart with ``--data-dir``: executions and queued events did not survive, batches did.

Completions of batches in ``loaded`` / ``staging`` / ``retrying``, reverts of batches a REVERT was
answered for, and cleanups of aborted batches that still have files are started again (under new
execution names: the old ones are gone with moto's memory), and object-created events are sent
again for files that were never validated, for bucket drops whose batch is still ``loading`` and
for bucket drops that have no batch yet: every drop S3 acknowledged ends in a final batch.

Scheduled jobs: moto's schedules did not survive either, so active jobs get theirs put back (the
local scheduler fires them from then on), and every run still ``running`` gets its execution started
again under its own run id; the run's tasks are idempotent per run (the batch id, the ledger claims
and the job's lock all carry it), so it finishes without taking a file twice or losing one. Feed
syncs still ``running`` are started again the same way, under their own sync id, and so are bundle
exports and imports still ``running``.
"""

from __future__ import annotations

import json
import logging
import time

from batchgate.aws.bundle_store import BundleStore
from batchgate.aws.clients import client
from batchgate.aws.executions import Executions, batch_input
from batchgate.aws.feed_store import FeedStore
from batchgate.aws.job_store import JobStore
from batchgate.aws.objects import Objects
from batchgate.aws.schedules import Schedules
from batchgate.aws.store import Store
from batchgate.bundles.start import execution_input
from batchgate.core import keys
from batchgate.core.keys import execution_name
from batchgate.core.models import Batch, BatchStatus
from batchgate.core.status import PENDING_FILES
from batchgate.ingest.drop import drops_without_batch, start_completion
from batchgate.jobs.schedule import job_schedule_arguments
from batchgate.settings import settings
from batchgate_tools.local.provision import Provisioner

logger = logging.getLogger(__name__)
RESUMABLE: tuple[BatchStatus, ...] = ("loaded", "staging", "retrying")


class Recovery:
    def __init__(self, provisioner: Provisioner, state_machines: dict[str, str]) -> None:
        self.provisioner = provisioner
        self.machines = state_machines
        self.complete_arn = state_machines["CompleteStateMachine"]
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
        resumed += self._restart_reverts() + self._restart_abort_cleanups()
        self._restore_job_schedules()
        resumed += self._restart_job_runs() + self._restart_feed_syncs() + self._restart_bundles()
        logger.warning("recovered after restart: %d executions resumed", resumed)
        return resumed

    def _restart_reverts(self) -> int:
        """A REVERT answered 200 leaves the batch ``success`` with its revert execution recorded
        until that execution moves it: such batches get their revert run again."""
        count = 0
        for batch in self.store.batches_in_status("success"):
            if batch.execution_arn and f":revert-{batch.id}" in batch.execution_arn:
                payload = {**batch_input(batch), **({"purge": True} if batch.purge_requested else {})}
                name = execution_name(
                    "REVERT", batch.id, version=batch.version, suffix=f"-r{int(time.time())}"
                )
                Executions().start(self.machines["RevertStateMachine"], name, payload)
                count += 1
        return count

    def _restart_abort_cleanups(self) -> int:
        """An aborted batch whose cleanup was cut off still has staged or failed-records files."""
        count = 0
        for batch in self.store.batches_in_status("aborted"):
            leftovers = self.objects.keys_under(keys.batch_staged_prefix(batch)) or self.objects.keys_under(
                keys.batch_failed_prefix(batch)
            )
            if leftovers:
                name = execution_name("ABORT", batch.id, suffix=f"-r{int(time.time())}")
                Executions().start(self.machines["AbortStateMachine"], name, batch_input(batch))
                count += 1
        return count

    def _restore_job_schedules(self) -> None:
        cfg = settings()
        if not (cfg.schedule_group and cfg.job_run_state_machine_arn and cfg.scheduler_role_arn):
            return
        for job in JobStore(cfg.table_name).active_jobs():
            Schedules(cfg.schedule_group).put_job(
                job,
                job_schedule_arguments(job),
                target_arn=cfg.job_run_state_machine_arn,
                role_arn=cfg.scheduler_role_arn,
            )

    def _restart_job_runs(self) -> int:
        count = 0
        for run in JobStore(settings().table_name).runs_in_status("running"):
            payload = {
                "org": run.org,
                "sandbox": run.sandbox,
                "jobId": run.job_id,
                "runId": run.id,
                "trigger": run.trigger,
                **({"scheduledTime": run.scheduled} if run.scheduled else {}),
            }
            name = f"run-{run.id}-r{int(time.time())}"
            Executions().start(self.machines["JobRunStateMachine"], name, payload)
            count += 1
        return count

    def _restart_feed_syncs(self) -> int:
        """A sync cut off mid-way runs again under its own id: its plan is reused, items already
        sent are skipped, and only its end moves the watermark."""
        count = 0
        for sync in FeedStore(settings().table_name).syncs_in_status("running"):
            payload = {"org": sync.org, "sandbox": sync.sandbox, "feedId": sync.feed_id, "syncId": sync.id}
            Executions().start(
                self.machines["FeedSyncStateMachine"], f"sync-{sync.id}-r{int(time.time())}", payload
            )
            count += 1
        return count

    def _restart_bundles(self) -> int:
        """An export or import cut off mid-way runs again under its own id: every task is safe to
        repeat (an export writes its bundle again from the start; an import finds the datasets,
        batches and parts its ids derive from). A bundle drop whose event was lost is found by
        the inbox sweep above."""
        count = 0
        for record in BundleStore(settings().table_name).records_in_status("running"):
            machine = self.machines[f"Bundle{record.kind.title()}StateMachine"]
            Executions().start(
                machine, f"bundle-{record.kind}-{record.id}-r{int(time.time())}", execution_input(record)
            )
            count += 1
        return count

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
