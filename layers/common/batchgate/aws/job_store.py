"""DynamoDB repository of scheduled jobs, their runs and the ledger of what ingest-s3 jobs took.

Same table and conventions as :mod:`batchgate.aws.store`: one JSON ``doc`` per item beside the
attributes keys, indexes and conditions need; every change of a job is conditional on the
``version`` read, and the run lock (``running``) is taken and released with a condition, so two
runs of one job can never both hold it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from batchgate.aws.dynamo import _conditional_failed, _n, _s
from batchgate.aws.store import Store
from batchgate.core import keys
from batchgate.core.errors import Conflict, NotFound
from batchgate.jobs.models import Job, Run


@dataclass(frozen=True)
class Claim:
    """An object an ingest-s3 job took: by which run, for which batch, and what became of it
    (``claimed`` → ``ingested`` | ``failed``; claims of an aborted batch are released)."""

    key: str
    etag: str
    run_id: str
    batch_id: str
    status: str


class JobStore(Store):
    # -- jobs -------------------------------------------------------------------------------
    def _job_item(self, job: Job) -> dict[str, Any]:
        item = {
            "pk": _s(keys.job_pk(job.org, job.sandbox, job.id)),
            "sk": _s(keys.JOB_SK),
            "gsi1pk": _s(keys.jobs_of_tenant(job.org, job.sandbox)),
            "gsi1sk": _s(keys.time_order(job.created, job.id)),
            "version": _n(job.version),
            "running": _s(job.running or ""),
            "doc": _s(job.model_dump_json(by_alias=True)),
        }
        if job.status == "active":
            item |= {"gsi2pk": _s(keys.jobs_in_status("active")), "gsi2sk": _s(job.id)}
        return item

    def create_job(self, job: Job) -> None:
        """The job and its name's claim in one transaction: names are unique in a tenant."""
        name_item = {
            "pk": _s(keys.job_name_pk(job.org, job.sandbox, job.name)),
            "sk": _s(keys.JOB_NAME_SK),
            "jobId": _s(job.id),
        }
        try:
            self.ddb.transact_write_items(
                TransactItems=[
                    {
                        "Put": {
                            "TableName": self.table,
                            "Item": name_item,
                            "ConditionExpression": "attribute_not_exists(pk)",
                        }
                    },
                    {
                        "Put": {
                            "TableName": self.table,
                            "Item": self._job_item(job),
                            "ConditionExpression": "attribute_not_exists(pk)",
                        }
                    },
                ]
            )
        except ClientError as exc:
            if _conditional_failed(exc):
                raise Conflict(f"a job named {job.name!r} already exists", code="BG-409-JOB-NAME") from exc
            raise

    def get_job(self, org: str, sandbox: str, job_id: str) -> Job:
        item = self._get(keys.job_pk(org, sandbox, job_id), keys.JOB_SK)
        if item is None:
            raise NotFound(f"job {job_id} not found", code="BG-404-JOB")
        return Job.model_validate_json(item["doc"]["S"])

    def save_job(self, job: Job, *, expected_version: int) -> Job:
        """Write ``job`` if it still has the version read; Conflict (409) otherwise."""
        stored = job.model_copy(update={"version": expected_version + 1})
        try:
            self.ddb.put_item(
                TableName=self.table,
                Item=self._job_item(stored),
                ConditionExpression="#v = :v",
                ExpressionAttributeNames={"#v": "version"},
                ExpressionAttributeValues={":v": _n(expected_version)},
            )
        except ClientError as exc:
            if _conditional_failed(exc):
                raise Conflict(
                    f"job {job.id} changed concurrently; read it again and retry",
                    code="BG-409-CONCURRENT-CHANGE",
                ) from exc
            raise
        return stored

    def delete_job(self, job: Job) -> None:
        try:
            self.ddb.transact_write_items(
                TransactItems=[
                    {
                        "Delete": {
                            "TableName": self.table,
                            "Key": {
                                "pk": _s(keys.job_pk(job.org, job.sandbox, job.id)),
                                "sk": _s(keys.JOB_SK),
                            },
                            "ConditionExpression": "#v = :v",
                            "ExpressionAttributeNames": {"#v": "version"},
                            "ExpressionAttributeValues": {":v": _n(job.version)},
                        }
                    },
                    {
                        "Delete": {
                            "TableName": self.table,
                            "Key": {
                                "pk": _s(keys.job_name_pk(job.org, job.sandbox, job.name)),
                                "sk": _s(keys.JOB_NAME_SK),
                            },
                        }
                    },
                ]
            )
        except ClientError as exc:
            if _conditional_failed(exc):
                raise Conflict(
                    f"job {job.id} changed concurrently; read it again and retry",
                    code="BG-409-CONCURRENT-CHANGE",
                ) from exc
            raise

    def list_jobs(self, org: str, sandbox: str) -> Iterator[Job]:
        for item in self._query_index("gsi1", keys.jobs_of_tenant(org, sandbox), desc=True):
            yield Job.model_validate_json(item["doc"]["S"])

    def active_jobs(self) -> list[Job]:
        """Every tenant's active jobs."""
        return [
            Job.model_validate_json(i["doc"]["S"])
            for i in self._query_index("gsi2", keys.jobs_in_status("active"), desc=False)
        ]

    def take_run_lock(self, job: Job, run_id: str) -> bool:
        """Make ``run_id`` the job's running run unless another run holds it."""
        return self._set_running(job, run_id, condition="attribute_not_exists(#r) OR #r = :none OR #r = :run")

    def release_run_lock(self, job: Job, run_id: str) -> bool:
        return self._set_running(job, None, condition="#r = :run", run_id=run_id)

    def _set_running(self, job: Job, value: str | None, *, condition: str, run_id: str | None = None) -> bool:
        run = run_id or value or ""
        for _ in range(5):
            current = self.get_job(job.org, job.sandbox, job.id)
            updated = current.model_copy(
                update={"running": value, "last_run": run or current.last_run, "version": current.version + 1}
            )
            item = self._job_item(updated)
            try:
                self.ddb.put_item(
                    TableName=self.table,
                    Item=item,
                    ConditionExpression=f"#v = :v AND ({condition})",
                    ExpressionAttributeNames={"#v": "version", "#r": "running"},
                    ExpressionAttributeValues={":v": _n(current.version), ":run": _s(run), ":none": _s("")},
                )
                return True
            except ClientError as exc:
                if not _conditional_failed(exc):
                    raise
                latest = self.get_job(job.org, job.sandbox, job.id)
                if latest.version == current.version:
                    return False  # the version held: the lock condition is what failed
        return False

    def http_validators(self, job: Job) -> dict[str, str]:
        item = self._get(keys.job_pk(job.org, job.sandbox, job.id), keys.JOB_HTTP_SK)
        return {} if item is None else dict(json.loads(item["doc"]["S"]))

    def put_http_validators(self, job: Job, validators: dict[str, str]) -> None:
        self.ddb.put_item(
            TableName=self.table,
            Item={
                "pk": _s(keys.job_pk(job.org, job.sandbox, job.id)),
                "sk": _s(keys.JOB_HTTP_SK),
                "doc": _s(json.dumps(validators)),
            },
        )

    # -- runs -------------------------------------------------------------------------------
    def _run_item(self, run: Run) -> dict[str, Any]:
        order = keys.time_order(run.started, run.id)
        return {
            "pk": _s(keys.run_pk(run.org, run.sandbox, run.id)),
            "sk": _s(keys.RUN_SK),
            "status": _s(run.status),
            "gsi1pk": _s(keys.runs_of_tenant(run.org, run.sandbox)),
            "gsi1sk": _s(order),
            "gsi2pk": _s(keys.runs_in_status(run.status)),
            "gsi2sk": _s(order),
            "gsi3pk": _s(keys.runs_of_job(run.org, run.sandbox, run.job_id)),
            "gsi3sk": _s(order),
            "doc": _s(run.model_dump_json(by_alias=True)),
        }

    def create_run(self, run: Run) -> bool:
        """Record a new run; False when a run with this id exists (a retried start)."""
        return self._applied(
            "put_item", Item=self._run_item(run), ConditionExpression="attribute_not_exists(pk)"
        )

    def put_run(self, run: Run) -> None:
        """One writer per run (its execution's tasks, in order): a plain put."""
        self.ddb.put_item(TableName=self.table, Item=self._run_item(run))

    def get_run(self, org: str, sandbox: str, run_id: str) -> Run:
        item = self._get(keys.run_pk(org, sandbox, run_id), keys.RUN_SK)
        if item is None:
            raise NotFound(f"run {run_id} not found", code="BG-404-RUN")
        return Run.model_validate_json(item["doc"]["S"])

    def list_runs(self, org: str, sandbox: str, job_id: str | None = None) -> Iterator[Run]:
        """Newest first, of one job or of the tenant."""
        if job_id:
            items = self._query_index("gsi3", keys.runs_of_job(org, sandbox, job_id), desc=True)
        else:
            items = self._query_index("gsi1", keys.runs_of_tenant(org, sandbox), desc=True)
        for item in items:
            yield Run.model_validate_json(item["doc"]["S"])

    def runs_in_status(self, status: str) -> list[Run]:
        return [
            Run.model_validate_json(i["doc"]["S"])
            for i in self._query_index("gsi2", keys.runs_in_status(status), desc=False)
        ]

    # -- the ledger of ingest-s3 jobs ---------------------------------------------------------
    def claims(self, job: Job, objects: list[tuple[str, str]]) -> dict[tuple[str, str], Claim]:
        """The ledger entries of ``(key, etag)`` pairs, those that have one."""
        pk = keys.ledger_pk(job.org, job.sandbox, job.id)
        found: dict[tuple[str, str], Claim] = {}
        unique = list(dict.fromkeys(objects))
        for i in range(0, len(unique), 100):
            request: dict[str, Any] = {
                self.table: {
                    "Keys": [
                        {"pk": _s(pk), "sk": _s(keys.ledger_sk(etag, key))}
                        for key, etag in unique[i : i + 100]
                    ],
                    "ConsistentRead": True,
                }
            }
            while request:
                resp = self.ddb.batch_get_item(RequestItems=request)
                for item in resp.get("Responses", {}).get(self.table, []):
                    claim = _claim(item)
                    found[(claim.key, claim.etag)] = claim
                request = resp.get("UnprocessedKeys") or {}
        return found

    def claim(self, job: Job, key: str, etag: str, *, run_id: str, batch_id: str) -> bool:
        """Take an object for ``run_id`` unless another run has it; True when it is this run's."""
        item = {
            "pk": _s(keys.ledger_pk(job.org, job.sandbox, job.id)),
            "sk": _s(keys.ledger_sk(etag, key)),
            "key": _s(key),
            "etag": _s(etag),
            "runId": _s(run_id),
            "batchId": _s(batch_id),
            "status": _s("claimed"),
        }
        return self._applied(
            "put_item",
            Item=item,
            ConditionExpression="attribute_not_exists(pk) OR runId = :run",
            ExpressionAttributeValues={":run": _s(run_id)},
        )

    def settle_claim(self, job: Job, claim: Claim, status: str | None) -> None:
        """Mark a claim ``ingested`` / ``failed``, or release it (``None``: the object may be taken
        again by a later run)."""
        key = {
            "pk": _s(keys.ledger_pk(job.org, job.sandbox, job.id)),
            "sk": _s(keys.ledger_sk(claim.etag, claim.key)),
        }
        if status is None:
            self.ddb.delete_item(
                TableName=self.table, Key=key, ConditionExpression="runId = :run",
                ExpressionAttributeValues={":run": _s(claim.run_id)},
            )  # fmt: skip
            return
        self.ddb.update_item(
            TableName=self.table, Key=key, UpdateExpression="SET #s = :s", ConditionExpression="runId = :run",
            ExpressionAttributeNames={"#s": "status"}, ExpressionAttributeValues={":s": _s(status), ":run": _s(claim.run_id)},
        )  # fmt: skip

    def release_claim(self, job: Job, key: str, etag: str, *, run_id: str) -> bool:
        """Release ``run_id``'s claim of an object so a later run may take it; False when the
        run holds none (no claim, or another run's, which stays)."""
        try:
            self.settle_claim(job, Claim(key, etag, run_id, "", "claimed"), None)
        except ClientError as exc:
            if _conditional_failed(exc):
                return False
            raise
        return True


def _claim(item: dict[str, Any]) -> Claim:
    return Claim(
        key=item["key"]["S"],
        etag=item["etag"]["S"],
        run_id=item["runId"]["S"],
        batch_id=item["batchId"]["S"],
        status=item["status"]["S"],
    )
