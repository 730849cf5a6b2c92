"""The Step Functions adapter: executions by deterministic name, and every SDK failure a typed workflow error."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.exceptions import EndpointConnectionError, ParamValidationError
from botocore.stub import Stubber

from lambdas.workflow.ports import WorkflowError, WorkflowRefused, WorkflowUnavailable
from lambdas.workflow.stepfunctions import StepFunctionsWorkflow

MACHINE = "arn:aws:states:us-east-1:000000000000:stateMachine:transcode"


def _sfn() -> Any:
    return boto3.client("stepfunctions", region_name="us-east-1", aws_access_key_id="k", aws_secret_access_key="s")


@pytest.mark.parametrize(
    ("code", "status", "raised"),
    [
        ("ExecutionLimitExceeded", 400, WorkflowRefused),
        ("StateMachineDoesNotExist", 400, WorkflowRefused),
        ("StateMachineDeleting", 400, WorkflowRefused),
        ("InvalidExecutionInput", 400, WorkflowRefused),
        ("InvalidName", 400, WorkflowRefused),
        ("InvalidArn", 400, WorkflowRefused),
        ("AccessDeniedException", 400, WorkflowRefused),
        ("ThrottlingException", 400, WorkflowUnavailable),
        ("ServiceUnavailable", 503, WorkflowUnavailable),
        ("SomethingNew", 500, WorkflowUnavailable),
    ],
)
def test_start_failures_are_typed(code: str, status: int, raised: type[WorkflowError]) -> None:
    client = _sfn()
    with Stubber(client) as stub:
        stub.add_client_error(
            "start_execution", service_error_code=code, service_message="arn:aws:states:…", http_status_code=status
        )
        with pytest.raises(raised) as caught:
            StepFunctionsWorkflow(client, MACHINE).start("J-r1", {"a": 1})
    assert type(caught.value) is raised
    assert str(caught.value) == f"start J-r1: {code}", "the code, not the service's message"


def test_stop_failures_are_typed_and_sdk_refusals_too() -> None:
    client = _sfn()
    with Stubber(client) as stub:
        stub.add_client_error("stop_execution", service_error_code="AccessDeniedException", http_status_code=400)
        with pytest.raises(WorkflowRefused):
            StepFunctionsWorkflow(client, MACHINE).stop(f"{MACHINE}:x", cause="test")
    with pytest.raises(WorkflowRefused) as caught:
        StepFunctionsWorkflow(client, MACHINE).start("", {})  # an empty name: refused by the SDK's validation
    assert isinstance(caught.value.__cause__, ParamValidationError)


def test_a_lost_connection_is_unavailable() -> None:
    class Unreachable:
        def start_execution(self, **_: Any) -> Any:
            raise EndpointConnectionError(endpoint_url="https://states.us-east-1.amazonaws.com")

    with pytest.raises(WorkflowUnavailable):
        StepFunctionsWorkflow(Unreachable(), MACHINE).start("J-r1", {})  # type: ignore[arg-type]


def test_starting_an_attempt_again_answers_the_same_execution() -> None:
    client = _sfn()
    with Stubber(client) as stub:
        stub.add_client_error("start_execution", service_error_code="ExecutionAlreadyExists", http_status_code=400)
        arn = StepFunctionsWorkflow(client, MACHINE).start("J-r1", {"a": 1})
    assert arn == "arn:aws:states:us-east-1:000000000000:execution:transcode:J-r1"


def test_stopping_a_gone_execution_is_fine_and_throttling_is_unavailable() -> None:
    client = _sfn()
    with Stubber(client) as stub:
        stub.add_client_error("stop_execution", service_error_code="ExecutionDoesNotExist", http_status_code=400)
        stub.add_client_error("start_execution", service_error_code="ThrottlingException", http_status_code=400)
        workflow = StepFunctionsWorkflow(client, MACHINE)
        workflow.stop(f"{MACHINE.replace('stateMachine', 'execution')}:x", cause="test")
        with pytest.raises(WorkflowUnavailable):
            workflow.start("J-r1", {})
