"""Scheduled jobs, their workflows and runs, as the API answers them."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field
from pydantic.json_schema import SkipJsonSchema

from batchgate.api.responses.common import STRICT, Page


class WorkflowAttribute(BaseModel):
    model_config = STRICT

    name: str
    type: Literal["string", "integer", "number", "boolean", "object"]
    required: bool
    default: Any = None
    description: str
    enum: list[str] | SkipJsonSchema[None] = None


class WorkflowKind(BaseModel):
    model_config = STRICT

    name: str
    description: str
    attributes: list[WorkflowAttribute]
    steps: list[str]


class Workflows(BaseModel):
    model_config = STRICT

    workflows: list[WorkflowKind]


class JobScheduleOut(BaseModel):
    model_config = STRICT

    expression: str
    start: str | SkipJsonSchema[None] = None
    end: str | SkipJsonSchema[None] = None
    timezone: str


class JobOut(BaseModel):
    """A scheduled job."""

    model_config = STRICT

    id: str
    name: str
    description: str
    workflow: str
    attributes: dict[str, Any]
    schedule: JobScheduleOut
    status: Literal["active", "inactive"]
    created: int
    updated: int
    created_user: str = Field(alias="createdUser")
    updated_user: str = Field(alias="updatedUser")
    last_run: str | None = Field(alias="lastRun")
    running_run: str | None = Field(alias="runningRun", description="the run going now, if any")
    next_fire: int | None = Field(
        alias="nextFire",
        description="when an active job's schedule fires next (epoch ms); null when inactive or over",
    )


class JobList(BaseModel):
    model_config = STRICT

    jobs: list[JobOut]
    page: Page = Field(alias="_page")


class RunStarted(BaseModel):
    model_config = STRICT

    run_id: str = Field(alias="runId")


class RunStepOut(BaseModel):
    model_config = STRICT

    name: str
    status: Literal["running", "success", "failed", "skipped"]
    started: int
    ended: int | None
    message: str
    metrics: dict[str, int]


class RunOut(BaseModel):
    """One run of a job, with its steps."""

    model_config = STRICT

    id: str
    job_id: str = Field(alias="jobId")
    job_name: str = Field(alias="jobName")
    workflow: str
    trigger: Literal["schedule", "manual"]
    status: Literal["running", "success", "failed", "skipped"]
    started: int
    ended: int | None
    scheduled_time: str | None = Field(alias="scheduledTime")
    message: str
    steps: list[RunStepOut]
    batches: list[str]
    errors: list[dict[str, Any]]


class RunList(BaseModel):
    model_config = STRICT

    runs: list[RunOut]
    page: Page = Field(alias="_page")
