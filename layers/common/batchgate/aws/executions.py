"""Step Functions executions: start one by name (a repeat is a no-op), stop one, and answer a
task token. Execution names are deterministic per batch action (``core.keys``), so repeating an
action can never start a second run.
"""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import ClientError

from batchgate.aws.clients import client
from batchgate.core.errors import Transient
from batchgate.core.models import Batch
from batchgate.observability import logger

# Codes StopExecution answers for an execution that already ended or never existed.
_NOTHING_TO_STOP = ("ExecutionDoesNotExist", "ExecutionNotRunning", "ValidationException")


class ExecutionNotStarted(Transient):
    """StartExecution failed for another reason than the name being taken."""

    code = "BG-503-START-FAILED"

    def __init__(self, aws_code: str) -> None:
        super().__init__(f"StartExecution failed ({aws_code})")
        self.aws_code = aws_code


def execution_arn(state_machine_arn: str, name: str) -> str:
    """The ARN StartExecution gives ``name``; known before the call, so a batch can record it in
    the same conditional write that changes its status."""
    return state_machine_arn.replace(":stateMachine:", ":execution:", 1) + ":" + name


def batch_input(batch: Batch) -> dict[str, str]:
    """What every batch state machine starts from."""
    return {"org": batch.org, "sandbox": batch.sandbox, "batchId": batch.id, "datasetId": batch.dataset_id}


class Executions:
    @property
    def sfn(self) -> Any:
        return client("stepfunctions")

    def start(self, state_machine_arn: str, name: str, payload: dict[str, Any]) -> tuple[str, bool]:
        """(execution ARN, started now). A name already taken is the earlier run: not started
        again, its ARN returned. Any other failure raises ``ExecutionNotStarted``."""
        try:
            arn: str = self.sfn.start_execution(
                stateMachineArn=state_machine_arn, name=name, input=json.dumps(payload)
            )["executionArn"]
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code == "ExecutionAlreadyExists":
                return execution_arn(state_machine_arn, name), False
            raise ExecutionNotStarted(code) from exc
        return arn, True

    def stop(self, arn: str, *, cause: str) -> None:
        """Stop a running execution; one that already finished or never started is left alone."""
        try:
            self.sfn.stop_execution(executionArn=arn, cause=cause)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code", "") not in _NOTHING_TO_STOP:
                raise

    def task_succeeded(self, token: str, output: dict[str, Any]) -> None:
        self._answer(lambda: self.sfn.send_task_success(taskToken=token, output=json.dumps(output)))

    def task_failed(self, token: str, *, error: str, cause: str) -> None:
        self._answer(lambda: self.sfn.send_task_failure(taskToken=token, error=error, cause=cause))

    def _answer(self, send: Any) -> None:
        """Report a task's outcome. An execution that timed out, was stopped (ABORT) or no longer
        exists cannot take the answer: retrying the message would never help, so it is logged and
        dropped. Anything else (throttling, network) raises, and SQS delivers the task again."""
        sfn = self.sfn
        gone = (sfn.exceptions.InvalidToken, sfn.exceptions.TaskTimedOut, sfn.exceptions.TaskDoesNotExist)
        try:
            send()
        except gone as exc:
            logger.warning("execution no longer waits for this task", extra={"error": str(exc)})
