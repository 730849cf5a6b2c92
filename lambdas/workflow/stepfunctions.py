"""Workflow on Step Functions: executions by deterministic name; SDK errors become typed workflow errors."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from lambdas.aws_errors import SdkErrors, error_code
from lambdas.workflow.ports import ExecutionState, Workflow, WorkflowError, WorkflowRefused, WorkflowUnavailable

if TYPE_CHECKING:
    from mypy_boto3_stepfunctions import SFNClient

_GONE = frozenset({"ExecutionDoesNotExist", "ExecutionNotFound"})
# Every SDK failure becomes a typed workflow error: throttling, 5xx answers and lost connections are
# WorkflowUnavailable; anything else the service or the SDK refused is WorkflowRefused. By error code, never by
# message; the service's message (which may name ARNs) stays on the chained exception, for the logs.
_translated = SdkErrors[WorkflowError](transient=WorkflowUnavailable, otherwise=WorkflowRefused).translated


class StepFunctionsWorkflow:
    def __init__(self, client: SFNClient, state_machine_arn: str) -> None:
        self._client, self._arn = client, state_machine_arn

    def start(self, name: str, payload: Mapping[str, Any]) -> str:
        document = json.dumps(payload, sort_keys=True, separators=(",", ":"))
        with _translated(f"start {name}"):
            try:
                # Standard workflows: the same name with the same input returns the running execution.
                return self._client.start_execution(stateMachineArn=self._arn, name=name, input=document)[
                    "executionArn"
                ]
            except ClientError as error:
                if error_code(error) != "ExecutionAlreadyExists":
                    raise
        # Already started (an earlier attempt of this request, possibly with another input): the same one.
        return self.execution_arn(name)

    def execution_arn(self, name: str) -> str:
        # arn:aws:states:<region>:<account>:stateMachine:<sm> -> ...:execution:<sm>:<name>
        prefix, _, machine = self._arn.rpartition(":stateMachine:")
        return f"{prefix}:execution:{machine}:{name}"

    def describe(self, execution_arn: str) -> ExecutionState | None:
        with _translated(f"describe {execution_arn}"):
            try:
                response = self._client.describe_execution(executionArn=execution_arn)
            except ClientError as error:
                if error_code(error) in _GONE:
                    return None
                raise
        cause = response.get("cause") or response.get("error")
        return ExecutionState(status=response["status"], cause=cause)

    def stop(self, execution_arn: str, *, cause: str) -> None:
        with _translated(f"stop {execution_arn}"):
            try:
                self._client.stop_execution(executionArn=execution_arn, cause=cause)
            except ClientError as error:
                if error_code(error) not in _GONE:
                    raise


if TYPE_CHECKING:

    def _implements_port(workflow: StepFunctionsWorkflow) -> Workflow:
        return workflow
