"""Scheduled jobs through the API (admin): create, edit while inactive, switch the schedule on and
off, run now, delete; and the run history. The runs themselves are ``workflow/job_run.py``."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from batchgate.api.bodies import JobCreate, JobPatch, JobScheduleBody
from batchgate.aws.executions import ExecutionNotStarted, Executions
from batchgate.aws.feed_store import FeedStore
from batchgate.aws.job_store import JobStore
from batchgate.aws.objects import Objects
from batchgate.aws.schedules import Schedules
from batchgate.core.errors import BatchgateError, Conflict, InvalidRequest, NotFound, Transient
from batchgate.core.ids import new_id, now_ms
from batchgate.core.principal import Principal
from batchgate.jobs.models import Job, JobSchedule, Run
from batchgate.jobs.schedule import job_schedule_arguments, parse_schedule
from batchgate.jobs.workflows import WORKFLOWS, Workflow, workflow
from batchgate.settings import Settings

RUN_STATUSES = ("running", "success", "failed", "skipped")


class JobsNotConfigured(BatchgateError):
    code = "BG-503-NOT-CONFIGURED"
    status = 503


class JobAdmin:
    def __init__(self, store: JobStore, cfg: Settings) -> None:
        self.store = store
        self.cfg = cfg
        self.executions = Executions()

    # -- the registry -----------------------------------------------------------------------
    @staticmethod
    def workflows() -> list[dict[str, Any]]:
        return [w.to_api() for w in WORKFLOWS.values()]

    # -- jobs -------------------------------------------------------------------------------
    def create(self, p: Principal, body: JobCreate) -> Job:
        flow = workflow(body.workflow)
        attributes = self._checked(p, flow, body.attributes)
        schedule = _schedule(body.schedule)
        ts = now_ms()
        job = Job(
            id=new_id(),
            org=p.org,
            sandbox=p.sandbox,
            name=body.name,
            description=body.description,
            workflow=flow.name,
            attributes=attributes,
            schedule=schedule,
            created=ts,
            updated=ts,
            created_user=p.user,
            updated_user=p.user,
        )
        self.store.create_job(job)
        return job

    def get(self, p: Principal, job_id: str) -> Job:
        return self.store.get_job(p.org, p.sandbox, job_id)

    def find(
        self, p: Principal, *, name: str | None, status: str | None, workflow_name: str | None
    ) -> list[Job]:
        return [
            j
            for j in self.store.list_jobs(p.org, p.sandbox)
            if (name is None or j.name == name)
            and (status is None or j.status == status)
            and (workflow_name is None or j.workflow == workflow_name)
        ]

    def patch(self, p: Principal, job_id: str, body: JobPatch) -> Job:
        job = self.get(p, job_id)
        for fixed in ("name", "workflow"):
            sent = getattr(body, fixed)
            if sent is not None and sent != getattr(job, fixed):
                raise InvalidRequest(
                    f"a job's {fixed} cannot change (it is {getattr(job, fixed)!r}): create another job",
                    code="BG-400-JOB-FIXED",
                )
        if job.status == "active":
            raise Conflict(
                f"job {job.id} is active: DEACTIVATE it, edit it, then ACTIVATE it again",
                code="BG-409-JOB-ACTIVE",
            )
        update: dict[str, Any] = {"updated": now_ms(), "updated_user": p.user}
        if body.description is not None:
            update["description"] = body.description
        if body.attributes is not None:
            update["attributes"] = self._checked(p, workflow(job.workflow), body.attributes)
        if body.schedule is not None:
            update["schedule"] = _schedule(body.schedule)
        return self.store.save_job(job.model_copy(update=update), expected_version=job.version)

    def delete(self, p: Principal, job_id: str) -> None:
        job = self.get(p, job_id)
        if job.status == "active":
            raise Conflict(f"job {job.id} is active: DEACTIVATE it first", code="BG-409-JOB-ACTIVE")
        self.store.delete_job(job)

    # -- actions ----------------------------------------------------------------------------
    def activate(self, p: Principal, job_id: str) -> Job:
        job = self.get(p, job_id)
        flow = workflow(job.workflow)
        if job.status == "active":
            return job
        self._checked(p, flow, job.attributes)  # the dataset or bucket may have gone meanwhile
        group, role, target = self._scheduling()
        activated = now_ms()
        schedule = parse_schedule(job.schedule.model_dump())
        now = datetime.fromtimestamp(activated / 1000, UTC)
        if schedule.next_tick(now, anchor=now) is None:
            # EventBridge Scheduler refuses an EndDate in the past (a ValidationException, a 500
            # here), and a schedule whose at() or end has passed would never fire: say so.
            raise InvalidRequest(
                f"schedule {job.schedule.expression} has no tick after now (its end or its at() time "
                "has passed): PATCH the schedule, then ACTIVATE",
                code="BG-400-SCHEDULE",
            )
        update = {"status": "active", "activated": activated, "updated": activated, "updated_user": p.user}
        active = job.model_copy(update=update)
        Schedules(group).put_job(active, job_schedule_arguments(active), target_arn=target, role_arn=role)
        return self.store.save_job(active, expected_version=job.version)

    def deactivate(self, p: Principal, job_id: str) -> Job:
        job = self.get(p, job_id)
        if job.status == "inactive":
            return job
        group, _, _ = self._scheduling()
        Schedules(group).delete(job.id)
        update = {"status": "inactive", "updated": now_ms(), "updated_user": p.user}
        return self.store.save_job(job.model_copy(update=update), expected_version=job.version)

    def run(self, p: Principal, job_id: str) -> str:
        """Start a run now (trigger ``manual``); its id. A run already going makes this one
        ``skipped``: the job-run machine decides, so two RUNs at one instant cannot both run."""
        job = self.get(p, job_id)
        arn = self.cfg.job_run_state_machine_arn
        if not arn:
            raise JobsNotConfigured("RUN needs the job-run state machine: BATCHGATE_JOB_RUN_SM is not set")
        run_id = new_id()
        # Recorded before the execution starts, so GET …/runs/{runId} answers from the 202 on.
        run = Run(
            id=run_id, org=job.org, sandbox=job.sandbox, job_id=job.id, job_name=job.name,
            workflow=job.workflow, trigger="manual", started=now_ms(),
        )  # fmt: skip
        self.store.create_run(run)
        payload = {
            "org": job.org,
            "sandbox": job.sandbox,
            "jobId": job.id,
            "runId": run_id,
            "trigger": "manual",
        }
        try:
            self.executions.start(arn, f"run-{run_id}", payload)
        except ExecutionNotStarted as exc:
            failed = {"status": "failed", "ended": now_ms(), "message": f"could not start: {exc.aws_code}"}
            self.store.put_run(run.model_copy(update=failed))
            raise Transient(
                f"the run of job {job.id} could not be started ({exc.aws_code}); RUN again", code=exc.code
            ) from exc
        return run_id

    # -- runs -------------------------------------------------------------------------------
    def runs(
        self,
        p: Principal,
        *,
        job_id: str | None,
        job_name: str | None,
        status: str | None,
        limit: int,
        start: int,
    ) -> list[Run]:
        if status is not None and status not in RUN_STATUSES:
            raise InvalidRequest(f"status must be one of {list(RUN_STATUSES)}, not {status!r}")
        # By name, the tenant's whole history is read (not the runs of the job that has the name
        # now): a deleted job's runs stay in the history under its name, even once a new job
        # has taken the name.
        out: list[Run] = []
        skipped = 0
        for run in self.store.list_runs(p.org, p.sandbox, job_id):
            if (job_name is not None and run.job_name != job_name) or (
                status is not None and run.status != status
            ):
                continue
            if skipped < start:
                skipped += 1
                continue
            out.append(run)
            if len(out) >= limit:
                break
        return out

    def get_run(self, p: Principal, run_id: str) -> Run:
        return self.store.get_run(p.org, p.sandbox, run_id)

    # -- checks -----------------------------------------------------------------------------
    def _checked(self, p: Principal, flow: Workflow, values: dict[str, Any]) -> dict[str, Any]:
        """Types first (the registry), then the world: the dataset is the tenant's, the bucket
        can be read."""
        checked = flow.check(values)
        if "datasetId" in checked:
            try:
                ds = self.store.get_dataset(p.org, p.sandbox, checked["datasetId"])
            except NotFound as exc:
                raise InvalidRequest(
                    f"attribute datasetId: dataset {checked['datasetId']!r} not found in this sandbox",
                    code="BG-400-JOB-ATTRIBUTES",
                ) from exc
            del ds
        if "feedId" in checked:
            try:
                FeedStore(self.cfg.table_name).get_feed(p.org, p.sandbox, checked["feedId"])
            except NotFound as exc:
                raise InvalidRequest(
                    f"attribute feedId: feed {checked['feedId']!r} not found in this sandbox",
                    code="BG-400-JOB-ATTRIBUTES",
                ) from exc
        if "bucket" in checked and (problem := Objects(checked["bucket"]).bucket_problem()):
            raise InvalidRequest(f"attribute bucket: {problem}", code="BG-400-JOB-ATTRIBUTES")
        return checked

    def _scheduling(self) -> tuple[str, str, str]:
        missing = [
            env
            for env, value in (
                ("BATCHGATE_SCHEDULE_GROUP", self.cfg.schedule_group),
                ("BATCHGATE_SCHEDULER_ROLE_ARN", self.cfg.scheduler_role_arn),
                ("BATCHGATE_JOB_RUN_SM", self.cfg.job_run_state_machine_arn),
            )
            if not value
        ]
        if missing:
            raise JobsNotConfigured(f"schedules need {', '.join(missing)} in this deployment")
        assert self.cfg.schedule_group and self.cfg.scheduler_role_arn and self.cfg.job_run_state_machine_arn
        return self.cfg.schedule_group, self.cfg.scheduler_role_arn, self.cfg.job_run_state_machine_arn


def _schedule(body: JobScheduleBody) -> JobSchedule:
    """Checked now (a 400 saying what is wrong), stored as given."""
    parse_schedule(body.model_dump())
    return JobSchedule.model_validate(body.model_dump())
