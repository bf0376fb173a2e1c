"""Scheduled jobs and their runs: ``/data/foundation/schedules/...`` (management is admin-only,
reading is open to every role; see core/roles.py)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Body, Query

from batchgate.api.bodies import JobCreate, JobPatch
from batchgate.api.deps import principal, services
from batchgate.api.responses.common import UNSUPPORTED, answers, ok
from batchgate.api.responses.jobs import JobList, JobOut, RunList, RunOut, RunStarted, Workflows

router = Router()
BASE = "/data/foundation/schedules"
JOBS = f"{BASE}/jobs"
NOT_FOUND = "no such job in this sandbox (BG-404-JOB)"


@router.get(
    f"{BASE}/workflows",
    tags=["jobs"],
    summary="The workflows a job can run, with their attributes",
    responses=answers(ok(200, "each workflow with its typed attributes and steps", Workflows)),
)
def list_workflows() -> dict[str, Any]:
    # The registry is the same for everyone, but like every route it answers only a caller the
    # authorizer established (401 without one, as the other routes do).
    principal(router)
    return {"workflows": services().jobs.workflows()}


@router.post(
    JOBS,
    tags=["jobs"],
    summary="Create a job (inactive)",
    description='Body: {"name", "description"?, "workflow", "attributes": {...}, "schedule": {"expression", '
    '"start"?, "end"?, "timezone"?}}; expression is EventBridge Scheduler\'s: rate(15 minutes), '
    "cron(0 3 * * ? *), at(2026-12-01T03:00:00).",
    responses=answers(
        ok(201, "the job, inactive", JobOut),
        e400="an unknown workflow (BG-400-WORKFLOW), attributes that fail their types or name what does "
        "not exist (BG-400-JOB-ATTRIBUTES), a bad schedule (BG-400-SCHEDULE), an invalid body (BG-400-INVALID)",
        e409="a job of that name exists (BG-409-JOB-NAME)",
        e415=UNSUPPORTED,
    ),
)
def create_job(body: Annotated[JobCreate, Body()]) -> Response[dict[str, Any]]:
    job = services().jobs.create(principal(router), body)
    return Response(201, "application/json", job.to_api())


@router.get(
    JOBS,
    tags=["jobs"],
    summary="List jobs, newest first",
    responses=answers(ok(200, "the jobs", JobList), e400="a parameter out of range (BG-400-INVALID)"),
)
def list_jobs(
    name: Annotated[str | None, Query()] = None,
    status: Annotated[Literal["active", "inactive"] | None, Query()] = None,
    workflow: Annotated[str | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    start: Annotated[int, Query(ge=0)] = 0,
) -> dict[str, Any]:
    found = services().jobs.find(principal(router), name=name, status=status, workflow_name=workflow)
    page = found[start : start + limit]
    return {"jobs": [j.to_api() for j in page], "_page": {"limit": limit, "start": start, "count": len(page)}}


@router.get(
    f"{JOBS}/<job_id>",
    tags=["jobs"],
    summary="Get a job",
    responses=answers(ok(200, "the job", JobOut), e404=NOT_FOUND),
)
def get_job(job_id: str) -> dict[str, Any]:
    return services().jobs.get(principal(router), job_id).to_api()


@router.patch(
    f"{JOBS}/<job_id>",
    tags=["jobs"],
    summary="Edit an inactive job",
    description="description, attributes and schedule; name and workflow are fixed.",
    responses=answers(
        ok(200, "the job as changed", JobOut),
        e400="name or workflow changed (BG-400-JOB-FIXED), bad attributes or schedule",
        e404=NOT_FOUND,
        e409="the job is active (BG-409-JOB-ACTIVE: DEACTIVATE it first), or changed concurrently",
        e415=UNSUPPORTED,
    ),
)
def patch_job(job_id: str, body: Annotated[JobPatch, Body()]) -> dict[str, Any]:
    return services().jobs.patch(principal(router), job_id, body).to_api()


@router.delete(
    f"{JOBS}/<job_id>",
    tags=["jobs"],
    summary="Delete an inactive job (its runs stay in the history)",
    responses=answers(ok(204, "Deleted"), e404=NOT_FOUND, e409="the job is active (BG-409-JOB-ACTIVE)"),
)
def delete_job(job_id: str) -> Response[None]:
    services().jobs.delete(principal(router), job_id)
    return Response(204)


@router.post(
    f"{JOBS}/<job_id>",
    tags=["jobs"],
    summary="ACTIVATE / DEACTIVATE the job's schedule, or RUN it now",
    responses=answers(
        ok(200, "ACTIVATE / DEACTIVATE: the job", JobOut),
        ok(202, "RUN: the run started (it is 'skipped' if another run of the job is going)", RunStarted),
        e400="an unknown action (BG-400-INVALID), attributes no longer valid (BG-400-JOB-ATTRIBUTES), "
        "ACTIVATE of a schedule whose end or at() has passed (BG-400-SCHEDULE)",
        e404=NOT_FOUND,
        e503="the deployment lacks the job-run machine or schedule group (BG-503-NOT-CONFIGURED), or the "
        "run's execution could not be started (BG-503-START-FAILED: RUN again)",
    ),
)
def job_action(
    job_id: str, action: Annotated[Literal["ACTIVATE", "DEACTIVATE", "RUN"], Query()]
) -> Response[dict[str, Any]]:
    jobs, p = services().jobs, principal(router)
    if action == "RUN":
        return Response(202, "application/json", {"runId": jobs.run(p, job_id)})
    job = jobs.activate(p, job_id) if action == "ACTIVATE" else jobs.deactivate(p, job_id)
    return Response(200, "application/json", job.to_api())


@router.get(
    f"{BASE}/runs",
    tags=["jobs"],
    summary="Run history, newest first",
    responses=answers(ok(200, "the runs", RunList), e400="a parameter out of range (BG-400-INVALID)"),
)
def list_runs(
    jobId: Annotated[str | None, Query()] = None,
    jobName: Annotated[str | None, Query()] = None,
    status: Annotated[Literal["running", "success", "failed", "skipped"] | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    start: Annotated[int, Query(ge=0)] = 0,
) -> dict[str, Any]:
    found = services().jobs.runs(
        principal(router), job_id=jobId, job_name=jobName, status=status, limit=limit, start=start
    )
    return {
        "runs": [r.to_api() for r in found],
        "_page": {"limit": limit, "start": start, "count": len(found)},
    }


@router.get(
    f"{BASE}/runs/<run_id>",
    tags=["jobs"],
    summary="One run, with its steps",
    responses=answers(ok(200, "the run", RunOut), e404="no such run (BG-404-RUN)"),
)
def get_run(run_id: str) -> dict[str, Any]:
    return services().jobs.get_run(principal(router), run_id).to_api()
