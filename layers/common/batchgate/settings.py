"""Configuration from environment variables, parsed once and failing fast.

In AWS the variables come from template.yaml (Globals / function Environment); in the local stack
the same template is read and the same names are set, so handlers cannot tell the two apart.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import lru_cache

# API Gateway refuses a request body above 10 MB and Lambda a payload above 6 MB; base64 for
# binary bodies costs a third, so the largest body the API route can carry is ~4.5 MB raw.
API_GATEWAY_MAX_BODY = 10 * 1024 * 1024
SINGLE_PUT_MAX_BYTES = 4 * 1024 * 1024 + 512 * 1024


def _env(name: str, default: str | None = None) -> str:
    value = os.environ.get(name, default)
    if value is None or value == "":
        raise RuntimeError(f"environment variable {name} is required (set by template.yaml)")
    return value


@dataclass(frozen=True)
class Settings:
    table_name: str
    bucket: str
    region: str
    endpoint_url: str | None
    complete_state_machine_arn: str | None
    revert_state_machine_arn: str | None
    abort_state_machine_arn: str | None
    gc_state_machine_arn: str | None
    validate_large_state_machine_arn: str | None
    event_bus_name: str | None
    loading_ttl_seconds: int
    single_put_max_bytes: int
    split_bytes: int
    # How long a landing can go on after it began: a completion task's timeout. ABORT's cleanup
    # waits this long before deleting what a commit may still register (workflow.abort).
    commit_window_seconds: int = 900
    # The first part of every Glue database this deployment creates ({prefix}_{org}_{sandbox}).
    glue_database_prefix: str = "bg"
    # Scheduled jobs: the job-run state machine, the schedule group their schedules live in and
    # the role EventBridge Scheduler assumes to start a run.
    job_run_state_machine_arn: str | None = None
    feed_sync_state_machine_arn: str | None = None
    bundle_export_state_machine_arn: str | None = None
    bundle_import_state_machine_arn: str | None = None
    schedule_group: str | None = None
    scheduler_role_arn: str | None = None
    extra: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_env(cls) -> Settings:
        return cls(
            table_name=_env("BATCHGATE_TABLE"),
            bucket=_env("BATCHGATE_BUCKET"),
            region=os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1",
            endpoint_url=os.environ.get("AWS_ENDPOINT_URL") or None,
            complete_state_machine_arn=os.environ.get("BATCHGATE_COMPLETE_SM") or None,
            revert_state_machine_arn=os.environ.get("BATCHGATE_REVERT_SM") or None,
            abort_state_machine_arn=os.environ.get("BATCHGATE_ABORT_SM") or None,
            gc_state_machine_arn=os.environ.get("BATCHGATE_GC_SM") or None,
            validate_large_state_machine_arn=os.environ.get("BATCHGATE_VALIDATE_LARGE_SM") or None,
            event_bus_name=os.environ.get("BATCHGATE_EVENT_BUS") or None,
            loading_ttl_seconds=int(os.environ.get("BATCHGATE_LOADING_TTL_SECONDS", str(7 * 24 * 3600))),
            single_put_max_bytes=int(os.environ.get("BATCHGATE_SINGLE_PUT_MAX", str(SINGLE_PUT_MAX_BYTES))),
            split_bytes=int(os.environ.get("BATCHGATE_SPLIT_BYTES", str(256 * 1024 * 1024))),
            commit_window_seconds=int(os.environ.get("BATCHGATE_COMMIT_WINDOW_SECONDS", "900")),
            glue_database_prefix=os.environ.get("BATCHGATE_GLUE_DATABASE_PREFIX") or "bg",
            job_run_state_machine_arn=os.environ.get("BATCHGATE_JOB_RUN_SM") or None,
            feed_sync_state_machine_arn=os.environ.get("BATCHGATE_FEED_SYNC_SM") or None,
            bundle_export_state_machine_arn=os.environ.get("BATCHGATE_BUNDLE_EXPORT_SM") or None,
            bundle_import_state_machine_arn=os.environ.get("BATCHGATE_BUNDLE_IMPORT_SM") or None,
            schedule_group=os.environ.get("BATCHGATE_SCHEDULE_GROUP") or None,
            scheduler_role_arn=os.environ.get("BATCHGATE_SCHEDULER_ROLE_ARN") or None,
        )


@lru_cache(maxsize=1)
def settings() -> Settings:
    return Settings.from_env()
