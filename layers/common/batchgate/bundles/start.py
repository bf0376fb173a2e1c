"""Recording an export or an import and starting its state machine: shared by the API (EXPORT,
IMPORT) and by bucket drops at ``inbox/{org}/{sandbox}/_bundles/``."""

from __future__ import annotations

from batchgate.aws.bundle_store import BundleStore
from batchgate.aws.executions import ExecutionNotStarted, Executions
from batchgate.bundles.records import BundleRecord
from batchgate.core.errors import BatchgateError, Transient
from batchgate.core.ids import now_ms


class BundlesNotConfigured(BatchgateError):
    code = "BG-503-NOT-CONFIGURED"
    status = 503


def execution_input(record: BundleRecord) -> dict[str, str]:
    return {"org": record.org, "sandbox": record.sandbox, "id": record.id, "kind": record.kind}


def start(store: BundleStore, machine_arn: str | None, record: BundleRecord) -> BundleRecord:
    """Record ``record`` and start its execution (named after it, so a repeat starts nothing
    twice); a record with this id already there (a repeated S3 event) is returned as it is."""
    if not machine_arn:
        variable = f"BATCHGATE_BUNDLE_{record.kind.upper()}_SM"
        raise BundlesNotConfigured(f"bundle {record.kind}s need their state machine: {variable} is not set")
    if not store.create_record(record):
        return store.get_record(record.org, record.sandbox, record.id)
    try:
        Executions().start(machine_arn, f"bundle-{record.kind}-{record.id}", execution_input(record))
    except ExecutionNotStarted as exc:
        failed = record.model_copy(
            update={"status": "failed", "ended": now_ms(), "message": f"not started: {exc.aws_code}"}
        )
        store.put_record(failed)
        raise Transient(
            f"the {record.kind} could not be started ({exc.aws_code}); try again", code=exc.code
        ) from exc
    return record
