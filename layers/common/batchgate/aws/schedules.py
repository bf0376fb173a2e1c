"""EventBridge Scheduler: one schedule per active job, in the deployment's schedule group, that
starts the job-run state machine with the run's id and the tick it is for."""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import ClientError

from batchgate.aws.clients import client
from batchgate.jobs.models import Job

# EventBridge Scheduler fills these in at each invocation (its "context attributes").
SCHEDULED_RUN_INPUT = {
    "trigger": "schedule",
    "runId": "<aws.scheduler.execution-id>",
    "scheduledTime": "<aws.scheduler.scheduled-time>",
}


def schedule_name(job_id: str) -> str:
    return f"job-{job_id}"


class Schedules:
    def __init__(self, group: str) -> None:
        self.group = group

    @property
    def scheduler(self) -> Any:
        return client("scheduler")

    def put(
        self,
        job_id: str,
        arguments: dict[str, Any],
        *,
        target_arn: str,
        role_arn: str,
        payload: dict[str, Any],
        description: str,
    ) -> None:
        """Create the job's schedule, or replace it (an ACTIVATE repeated after a partial one)."""
        request = {
            "Name": schedule_name(job_id),
            "GroupName": self.group,
            "Description": description[:512],
            "State": "ENABLED",
            "FlexibleTimeWindow": {"Mode": "OFF"},
            "Target": {
                "Arn": target_arn,
                "RoleArn": role_arn,
                "Input": json.dumps({**payload, **SCHEDULED_RUN_INPUT}),
                # A run that could not start is retried by Scheduler, then dropped: the run
                # history shows the gap, the next tick runs anyway.
                "RetryPolicy": {"MaximumRetryAttempts": 3, "MaximumEventAgeInSeconds": 3600},
            },
            **arguments,
        }
        try:
            self.scheduler.create_schedule(**request)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ConflictException":
                raise
            self.scheduler.update_schedule(**request)

    def put_job(self, job: Job, arguments: dict[str, Any], *, target_arn: str, role_arn: str) -> None:
        """The job's schedule: its run input names the tenant and the job."""
        self.put(
            job.id,
            arguments,
            target_arn=target_arn,
            role_arn=role_arn,
            payload={"org": job.org, "sandbox": job.sandbox, "jobId": job.id},
            description=f"batchgate job {job.name} ({job.workflow})",
        )

    def delete(self, job_id: str) -> None:
        try:
            self.scheduler.delete_schedule(Name=schedule_name(job_id), GroupName=self.group)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ResourceNotFoundException":
                raise
