"""The batch status model (from AEP) and the batch success rule, as pure functions.

    loading --COMPLETE--> loaded --> staging --> success | failed
    staging --> retrying --> staging | stalled          (transient errors)
    stalled --COMPLETE--> loaded                         (try again)
    loading | loaded | staging | retrying | stalled --ABORT--> aborted
    loading --(past its TTL)--> abandoned
    success --REVERT / replaced by a replay--> inactive --GC--> deleted

Every change is applied with a conditional write on the status the caller read, so of two racing
actions exactly one wins and the other sees ``IllegalTransition`` (HTTP 409).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from batchgate.core.errors import IllegalTransition
from batchgate.core.models import BatchFile, BatchStatus, ErrorEntry, FileStatus, Metrics

# What a caller may ask of a batch (the API's ?action=, a job run's COMPLETE).
BatchAction = Literal["COMPLETE", "ABORT", "REVERT"]

Event = Literal[
    "COMPLETE",
    "ABORT",
    "REVERT",
    "STAGE",
    "SUCCEED",
    "FAIL",
    "RETRY",
    "STALL",
    "ABANDON",
    "REPLACE",
    "DELETE",
]

TRANSITIONS: dict[Event, dict[BatchStatus, BatchStatus]] = {
    # COMPLETE on a stalled batch tries the completion again (a stalled batch is not a dead end)
    "COMPLETE": {"loading": "loaded", "stalled": "loaded"},
    "ABORT": {
        "loading": "aborted",
        "loaded": "aborted",
        "staging": "aborted",
        "retrying": "aborted",
        "stalled": "aborted",
    },
    "REVERT": {"success": "inactive"},
    "STAGE": {"loaded": "staging", "retrying": "staging"},
    "SUCCEED": {"staging": "success"},
    "FAIL": {"loaded": "failed", "staging": "failed", "retrying": "failed"},
    "RETRY": {"staging": "retrying"},
    "STALL": {"retrying": "stalled", "staging": "stalled"},
    "ABANDON": {"loading": "abandoned"},
    "REPLACE": {"success": "inactive"},
    "DELETE": {"inactive": "deleted"},
}

# A repeat of these actions on these states is answered 200 and changes nothing.
IDEMPOTENT: dict[Event, frozenset[BatchStatus]] = {
    "COMPLETE": frozenset({"loaded", "staging", "retrying", "success", "failed"}),
    "ABORT": frozenset({"aborted"}),
    "REVERT": frozenset({"inactive", "deleted"}),
}

ROW_ERROR_SAMPLE = 10  # row errors copied onto the batch; all of them are in the failed records
FINAL: frozenset[BatchStatus] = frozenset(
    {"success", "failed", "aborted", "abandoned", "inactive", "deleted"}
)
ACCEPTS_UPLOADS: frozenset[BatchStatus] = frozenset({"loading"})
# Files in these statuses have not reached their validation result yet: a completing batch waits.
PENDING_FILES: frozenset[FileStatus] = frozenset({"uploading", "validating"})
ALL_STATUSES: tuple[BatchStatus, ...] = (
    "loading", "loaded", "staging", "retrying", "stalled", "success",
    "failed", "aborted", "abandoned", "inactive", "deleted",
)  # fmt: skip


def next_status(current: BatchStatus, event: Event) -> BatchStatus | None:
    """The status ``event`` leads to from ``current``; None when it is an idempotent repeat.

    Raises IllegalTransition, with a message saying what is allowed, for anything else.
    """
    target = TRANSITIONS[event].get(current)
    if target is not None:
        return target
    if current in IDEMPOTENT.get(event, frozenset()):
        return None
    allowed = ", ".join(sorted(TRANSITIONS[event])) or "no state"
    raise IllegalTransition(
        f"cannot {event} a batch in status '{current}'; {event} is allowed from: {allowed}",
        code=f"BG-409-{event}-NOT-ALLOWED",
    )


@dataclass(frozen=True)
class Outcome:
    """What the files of a batch add up to, and whether the batch succeeds."""

    succeeded: bool
    metrics: Metrics
    errors: list[ErrorEntry]


# A warning, not an error: the batch's outcome does not depend on it.
WARN_EXTRA_COLUMNS = "BG-WARN-EXTRA-COLUMNS"


def decide(
    files: Iterable[BatchFile], partial_ingestion_percentage: float, *, diagnostics: bool = True
) -> Outcome:
    """AEP's rule: no file-level error, and failed rows / input rows ≤ the allowed percentage.

    With ``diagnostics`` (the batch's ``enableErrorDiagnostics``) the outcome also carries a
    sample of the row errors; without it, only the summary."""
    files = list(files)
    metrics = Metrics(
        inputByteSize=sum(f.size for f in files),
        inputFileCount=len(files),
        inputRecordCount=sum(f.input_record_count for f in files),
        outputRecordCount=sum(f.output_record_count for f in files),
        failedRecordCount=sum(f.failed_record_count for f in files),
    )
    errors: list[ErrorEntry] = []
    for f in files:
        if f.input_record_count != f.output_record_count + f.failed_record_count:
            raise AssertionError(f"record conservation broken for {f.name}: {f}")
        if f.file_error is not None:
            errors.append(f.file_error.model_copy(update={"file": f.name}))
    if not files:
        errors.append(ErrorEntry(code="BG-BATCH-EMPTY", description="the batch has no files"))
    failed, total = metrics.failed_record_count, metrics.input_record_count
    if failed:
        pct = 100.0 * failed / total if total else 100.0
        errors.append(
            ErrorEntry(
                code="BG-BATCH-ROW-ERRORS",
                description=(
                    f"{failed} of {total} records failed validation ({pct:.2f}%), "
                    f"{metrics.output_record_count} records ingested; "
                    f"allowed: {partial_ingestion_percentage:g}%"
                ),
                recordCount=failed,
            )
        )
        too_many = pct > partial_ingestion_percentage
        # a sample of the row errors themselves (file, row, field), so the batch says what to fix
        if diagnostics:
            sample = [e.model_copy(update={"file": e.file or f.name}) for f in files for e in f.errors]
            errors.extend(sample[:ROW_ERROR_SAMPLE])
    else:
        too_many = False
    for f in files:
        if f.extra_columns:
            shown = ", ".join(f"{path} ({rows} rows)" for path, rows in sorted(f.extra_columns.items()))
            errors.append(
                ErrorEntry(
                    code=WARN_EXTRA_COLUMNS,
                    description=f"columns not in the dataset schema were dropped (extraColumns: discard): {shown}",
                    file=f.name,
                    recordCount=max(f.extra_columns.values()),
                )
            )
    has_file_errors = any(f.file_error is not None for f in files)
    succeeded = bool(files) and not has_file_errors and not too_many
    return Outcome(succeeded=succeeded, metrics=metrics, errors=errors)
