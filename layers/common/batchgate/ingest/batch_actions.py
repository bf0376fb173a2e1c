"""Batches: create, read and list them, and the COMPLETE / ABORT / REVERT actions.

Every status change goes through :func:`batchgate.core.status.next_status` and is written with
``Store.save_batch``'s conditional write, so of two racing actions exactly one wins and the
other gets a 409; nothing half-applies. State machine executions get deterministic names
(``complete-{batchId}`` …), so repeating an action can never start a second run.
"""

from __future__ import annotations

from typing import Any

from batchgate.aws.batch_queries import BatchQuery
from batchgate.aws.executions import ExecutionNotStarted, Executions, batch_input, execution_arn
from batchgate.aws.objects import Objects
from batchgate.aws.store import Store
from batchgate.core import limits
from batchgate.core.errors import (
    BatchgateError,
    Conflict,
    IllegalTransition,
    InvalidRequest,
    NotFound,
    Transient,
)
from batchgate.core.ids import new_id, now_ms
from batchgate.core.keys import execution_name
from batchgate.core.models import Batch, InputFormat, Replay
from batchgate.core.principal import Principal
from batchgate.core.status import BatchAction, next_status
from batchgate.core.timeline import batch_timeline
from batchgate.observability import tracer
from batchgate.settings import Settings


class NotConfigured(BatchgateError):
    """A state machine ARN the action needs is not set: say so instead of pretending it ran."""

    code = "BG-503-NOT-CONFIGURED"
    status = 503


class BatchActions:
    def __init__(self, store: Store, cfg: Settings) -> None:
        self.store = store
        self.cfg = cfg
        self.executions = Executions()
        self.objects = Objects(cfg.bucket)

    # -- batches --------------------------------------------------------------------------
    def create(
        self,
        p: Principal,
        *,
        dataset_id: str,
        input_format: InputFormat,
        enable_error_diagnostics: bool = True,
        partial_ingestion_percentage: float = 0,
        replay: Replay | None = None,
        batch_id: str | None = None,
        tags: dict[str, list[str]] | None = None,
    ) -> Batch:
        """A new ``loading`` batch; ``batch_id`` fixes its id (a job run's retry creates the same
        batch again, and finds it)."""
        try:
            self.store.get_dataset(p.org, p.sandbox, dataset_id)
        except NotFound as exc:
            raise InvalidRequest(
                f"dataset {dataset_id!r} not found; create it first or check the id",
                code="BG-400-UNKNOWN-DATASET",
            ) from exc
        if replay is not None:
            self._check_predecessors(p, dataset_id, replay.predecessors)
        ts = now_ms()
        batch = Batch(
            id=batch_id or new_id(),
            org=p.org,
            sandbox=p.sandbox,
            dataset_id=dataset_id,
            input_format=input_format,
            enable_error_diagnostics=enable_error_diagnostics,
            partial_ingestion_percentage=partial_ingestion_percentage,
            replay=replay,
            created=ts,
            updated=ts,
            created_user=p.user,
            updated_user=p.user,
            tags=tags or {},
        )
        self.store.create_batch(batch)
        return batch

    def _check_predecessors(self, p: Principal, dataset_id: str, predecessors: list[str]) -> None:
        if len(set(predecessors)) != len(predecessors):
            raise InvalidRequest("replay.predecessors lists a batch twice", code="BG-400-REPLAY")
        for pred_id in predecessors:
            try:
                pred = self.store.get_batch(p.org, p.sandbox, pred_id)
            except NotFound as exc:
                raise InvalidRequest(
                    f"replay predecessor {pred_id!r} not found", code="BG-400-REPLAY"
                ) from exc
            if pred.dataset_id != dataset_id:
                raise InvalidRequest(
                    f"replay predecessor {pred_id!r} belongs to dataset {pred.dataset_id!r}, not {dataset_id!r}",
                    code="BG-400-REPLAY",
                )
            if pred.status != "success":
                raise InvalidRequest(
                    f"replay predecessor {pred_id!r} is '{pred.status}'; only 'success' batches can be replaced",
                    code="BG-400-REPLAY",
                )

    def get(self, p: Principal, batch_id: str) -> Batch:
        return self.store.get_batch(p.org, p.sandbox, batch_id)

    def answer(self, p: Principal, batch_id: str) -> dict[str, Any]:
        """One batch as its GET answers: AEP's fields and the batch's ``timeline``."""
        batch = self.get(p, batch_id)
        files = self.store.list_files(p.org, p.sandbox, batch_id)
        return {**batch.to_aep(), "timeline": batch_timeline(batch, files)}

    def list(self, p: Principal, q: BatchQuery) -> list[Batch]:
        return self.store.list_batches(p.org, p.sandbox, q)

    # -- actions --------------------------------------------------------------------------
    @tracer.capture_method
    def act(self, p: Principal, batch_id: str, action: BatchAction, *, purge: bool = False) -> Batch:
        """COMPLETE / ABORT / REVERT (``purge``: REVERT only). Returns the batch as it is after."""
        b = self.store.get_batch(p.org, p.sandbox, batch_id)
        if purge and action != "REVERT":
            raise InvalidRequest("'purge' applies to REVERT only", code="BG-400-PURGE")
        if action in ("COMPLETE", "REVERT"):
            self._check_dataset_exists(b)
        if purge and b.status == "inactive":
            return self._purge_reverted(b)
        if purge and self._is_repeat(b, action):
            # The run already started did not ask for a purge, and it cannot be told now.
            raise Conflict(
                f"batch {b.id} is being reverted without purge; repeat REVERT with purge once it is 'inactive'",
                code="BG-409-REVERT-RUNNING",
            )
        if self._is_repeat(b, action):
            return self._ensure_started(b, action, purge=purge)
        next_status(b.status, action)  # raises IllegalTransition (409) naming what is allowed
        arn = self._machine(action)
        if action == "COMPLETE":
            self._check_files_landed(p, b)
        new = self._apply(b, action, p.user, arn, purge=purge)
        try:
            stored = self.store.save_batch(new, expected_status=b.status, expected_version=b.version)
        except IllegalTransition:
            # Lost a race. Only a repeat of the same action turns into success; anything else
            # (COMPLETE vs ABORT) is the loser's 409, even if its action would now be allowed.
            current = self.store.get_batch(p.org, p.sandbox, batch_id)
            if self._is_repeat(current, action) and current.execution_arn == new.execution_arn:
                return self._ensure_started(current, action)
            raise
        if action == "ABORT" and b.execution_arn:
            self.executions.stop(b.execution_arn, cause="batch aborted")
        return self._ensure_started(stored, action, purge=purge)

    def _check_dataset_exists(self, b: Batch) -> None:
        try:
            self.store.get_dataset(b.org, b.sandbox, b.dataset_id)
        except NotFound as exc:
            raise Conflict(
                f"dataset {b.dataset_id} of batch {b.id} was deleted; its batches can no longer change",
                code="BG-409-DATASET-DELETED",
            ) from exc

    def _purge_reverted(self, b: Batch) -> Batch:
        """REVERT with purge on a batch reverted before: a run of the revert machine that only
        purges (its revert step finds the batch reverted)."""
        if b.successor is not None:
            raise Conflict(
                f"batch {b.id} was replaced by replay {b.successor}, not reverted; purge applies to reverted batches",
                code="BG-409-PURGE-NOT-REVERTED",
            )
        arn = self._machine("REVERT")
        assert arn is not None
        self._start(
            b, "REVERT", arn, execution_name("REVERT", b.id, version=b.version, suffix="-purge"), purge=True
        )
        return b

    def _machine(self, action: BatchAction) -> str | None:
        arn = {
            "COMPLETE": self.cfg.complete_state_machine_arn,
            "REVERT": self.cfg.revert_state_machine_arn,
            "ABORT": self.cfg.abort_state_machine_arn,
        }[action]
        if not arn and action != "ABORT":
            # ABORT's cleanup machine is optional; COMPLETE and REVERT do nothing without theirs.
            env = {"COMPLETE": "BATCHGATE_COMPLETE_SM", "REVERT": "BATCHGATE_REVERT_SM"}[action]
            raise NotConfigured(f"{action} needs a state machine: {env} is not set in this deployment")
        return arn

    def _is_repeat(self, b: Batch, action: BatchAction) -> bool:
        if action == "REVERT" and b.status == "success" and b.execution_arn:
            # REVERT leaves the status to its state machine; the recorded execution marks a repeat.
            return f":revert-{b.id}" in b.execution_arn
        try:
            return next_status(b.status, action) is None
        except IllegalTransition:
            return False

    @staticmethod
    def _apply(b: Batch, action: BatchAction, user: str, arn: str | None, *, purge: bool) -> Batch:
        update: dict[str, Any] = {"updated": now_ms(), "updated_user": user}
        if action == "REVERT":
            update["purge_requested"] = purge
        target = next_status(b.status, action)
        if action != "REVERT" and target is not None:
            update["status"] = target
        update["execution_arn"] = execution_arn(arn, _execution_name(b, action)) if arn else None
        return b.model_copy(update=update)

    def _ensure_started(self, b: Batch, action: BatchAction, *, purge: bool = False) -> Batch:
        """Start (or re-start: the name makes it a no-op) the action's execution when one is due."""
        due = {
            "COMPLETE": b.status == "loaded",
            "REVERT": b.status == "success",
            "ABORT": b.status == "aborted",
        }[action]
        if not due:
            return b
        arn = self._machine(action)
        if arn is None:
            return b
        name = b.execution_arn.rsplit(":", 1)[1] if b.execution_arn else _execution_name(b, action)
        self._start(b, action, arn, name, purge=purge)
        return b

    def _start(self, b: Batch, action: BatchAction, arn: str, name: str, *, purge: bool) -> None:
        payload: dict[str, Any] = {**batch_input(b), **({"purge": True} if purge else {})}
        try:
            self.executions.start(arn, name, payload)
        except ExecutionNotStarted as exc:
            raise Transient(
                f"batch {b.id} is '{b.status}' but its {action} execution could not be started "
                f"({exc.aws_code}); repeat the action to retry",
                code="BG-503-START-FAILED",
            ) from exc

    def _check_files_landed(self, p: Principal, b: Batch) -> None:
        """COMPLETE must not seal a batch whose chunked or presigned files never arrived, nor one
        with more files than a completion handles."""
        files = self.store.list_files(p.org, p.sandbox, b.id)
        limits.BATCH_FILES.check(len(files), f"batch {b.id}'s file count")
        missing = []
        for f in files:
            if f.status == "uploading" and not self.objects.exists(f.key):
                missing.append(f.name)
        if missing:
            shown = ", ".join(repr(n) for n in missing[:5])
            raise Conflict(
                f"{len(missing)} file(s) of batch {b.id} have no data yet: {shown}; finish their "
                "upload (PATCH chunks + COMPLETE, or the presigned PUT) or ABORT the batch",
                code="BG-409-FILES-INCOMPLETE",
            )


def _execution_name(b: Batch, action: BatchAction) -> str:
    """A REVERT that failed, or a COMPLETE of a stalled batch, is a new attempt, and execution
    names stay taken for 90 days: those attempts are named after the batch version they started
    from; every other action has one name per batch."""
    if action == "REVERT" or (action == "COMPLETE" and b.status == "stalled"):
        return execution_name(action, b.id, version=b.version)
    return execution_name(action, b.id)
