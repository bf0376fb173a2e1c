"""Jobs and runs as stored, and as the API shows them (DESIGN, "Scheduled jobs")."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

JobStatus = Literal["active", "inactive"]
RunStatus = Literal["running", "success", "failed", "skipped"]
StepStatus = Literal["running", "success", "failed", "skipped"]
Trigger = Literal["schedule", "manual"]


class JobSchedule(BaseModel):
    model_config = ConfigDict(extra="forbid")

    expression: str
    start: str | None = None  # ISO-8601 as given
    end: str | None = None
    timezone: str = "UTC"


class Job(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    id: str
    org: str
    sandbox: str
    name: str
    description: str = ""
    workflow: str
    attributes: dict[str, Any] = Field(default_factory=dict)
    schedule: JobSchedule
    status: JobStatus = "inactive"
    created: int
    updated: int
    created_user: str = Field(alias="createdUser")
    updated_user: str = Field(alias="updatedUser")
    # When the schedule was last switched on: a rate() schedule without a start ticks from it.
    activated: int | None = None
    # The run holding the job's lock: runs of one job never overlap.
    running: str | None = None
    last_run: str | None = Field(default=None, alias="lastRun")
    version: int = 0

    def to_api(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "description": self.description,
            "workflow": self.workflow,
            "attributes": self.attributes,
            "schedule": self.schedule.model_dump(exclude_none=True),
            "status": self.status,
            "created": self.created,
            "updated": self.updated,
            "createdUser": self.created_user,
            "updatedUser": self.updated_user,
            "lastRun": self.last_run,
            "runningRun": self.running,
            "nextFire": self._next_fire(),
        }

    def _next_fire(self) -> int | None:
        # Imported here: jobs.schedule imports this module (it reads a Job's schedule).
        from batchgate.jobs.schedule import next_fire

        return next_fire(self)


class RunStep(BaseModel):
    name: str
    status: StepStatus = "running"
    started: int
    ended: int | None = None
    message: str = ""
    metrics: dict[str, int] = Field(default_factory=dict)


class Run(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    id: str
    org: str
    sandbox: str
    job_id: str = Field(alias="jobId")
    job_name: str = Field(alias="jobName")
    workflow: str
    trigger: Trigger
    status: RunStatus = "running"
    started: int
    ended: int | None = None
    scheduled: str | None = None  # the schedule's tick this run is for (ISO-8601), when scheduled
    steps: list[RunStep] = Field(default_factory=list)
    batches: list[str] = Field(default_factory=list)
    errors: list[dict[str, Any]] = Field(default_factory=list)
    message: str = ""

    def to_api(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "jobId": self.job_id,
            "jobName": self.job_name,
            "workflow": self.workflow,
            "trigger": self.trigger,
            "status": self.status,
            "started": self.started,
            "ended": self.ended,
            "scheduledTime": self.scheduled,
            "message": self.message,
            "steps": [s.model_dump() for s in self.steps],
            "batches": self.batches,
            "errors": self.errors,
        }
