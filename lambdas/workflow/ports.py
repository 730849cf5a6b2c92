"""The workflow port: executions of the transcode state machine by deterministic name, and their typed errors."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol


class WorkflowError(Exception):
    """Base of the workflow's typed errors."""


class WorkflowUnavailable(WorkflowError):
    """The workflow service throttled, failed or could not be reached."""


class WorkflowRefused(WorkflowError):
    """The workflow service refused the request: no such state machine, too many executions, input or name
    refused, access denied… Repeating it as is will not help; the fault is the deployment's, not the caller's."""


@dataclass(frozen=True)
class ExecutionState:
    """An execution as Step Functions reports it: RUNNING, SUCCEEDED, FAILED, TIMED_OUT or ABORTED."""

    status: str
    cause: str | None = None

    @property
    def running(self) -> bool:
        return self.status in {"RUNNING", "PENDING_REDRIVE"}


class Workflow(Protocol):
    """The transcode workflow (Step Functions): executions by deterministic name."""

    def start(self, name: str, payload: Mapping[str, Any]) -> str:
        """Start an execution named `name` and return its ARN. Starting the same name with the same
        payload again returns the same execution (an API retry must not run the job twice).
        WorkflowUnavailable (worth retrying) or WorkflowRefused (not)."""
        ...

    def execution_arn(self, name: str) -> str:
        """The ARN the execution named `name` has (or will have once started)."""
        ...

    def describe(self, execution_arn: str) -> ExecutionState | None:
        """The execution's state; None when it does not exist. WorkflowUnavailable or WorkflowRefused."""
        ...

    def stop(self, execution_arn: str, *, cause: str) -> None:
        """Stop the execution; one that has already ended, or does not exist, is not an error.
        WorkflowUnavailable or WorkflowRefused."""
        ...
