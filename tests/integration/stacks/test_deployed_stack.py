"""The CDK app deployed to LocalStack: functions active, uploads start the workflow."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from typing import Any

from lambdas.jobs.model import new_job_id
from vodpipe.local.stack import LocalDeployment


def test_every_function_is_active_with_its_layers(stack: LocalDeployment, aws_client: Callable[..., Any]) -> None:
    lam = aws_client("lambda")
    names = [
        f["FunctionName"]
        for page in lam.get_paginator("list_functions").paginate()
        for f in page["Functions"]
        if f["FunctionName"].startswith("VodpipePipeline-")
    ]
    assert len(names) == 14  # with PlayManifest (private jobs' manifests)
    for name in names:
        config = lam.get_function_configuration(FunctionName=name)
        assert config["State"] == "Active", (name, config.get("StateReason"))
        assert config["Runtime"] == "python3.13"
        assert config["Environment"]["Variables"]["PLAYBACK_BASE_URL"] == stack.playback_base_url


def test_playback_stand_in_is_the_s3_endpoint(stack: LocalDeployment) -> None:
    assert stack.playback_base_url == f"{stack.endpoint}/{stack.outputs_bucket}"
    assert stack.api_url.startswith(f"{stack.endpoint}/_aws/execute-api/{stack.api_id}/")


def test_an_upload_starts_the_workflow_within_five_seconds(
    stack: LocalDeployment, aws_client: Callable[..., Any]
) -> None:
    sfn, s3 = aws_client("stepfunctions"), aws_client("s3")
    before = {e["executionArn"] for e in sfn.list_executions(stateMachineArn=stack.state_machine_arn)["executions"]}
    job_id = new_job_id()
    key = f"uploads/infra-test/{job_id}/source"
    started = time.monotonic()
    s3.put_object(Bucket=stack.uploads_bucket, Key=key, Body=b"not a video")
    found: list[dict[str, Any]] = []
    while time.monotonic() - started < 5 and not found:
        executions = sfn.list_executions(stateMachineArn=stack.state_machine_arn)["executions"]
        found = [e for e in executions if e["executionArn"] not in before]
        time.sleep(0.1)
    assert found, "no execution started within 5 s of the upload"
    (execution,) = found
    detail = sfn.describe_execution(executionArn=execution["executionArn"])
    assert key in detail["input"], "the workflow received the admission of this object's job"
    # The scheduler queued the job, admitted it and named the execution after its attempt.
    assert json.loads(detail["input"])["detail"]["job_id"] == job_id
    assert execution["name"] == f"{job_id}-a0"


def test_uploads_outside_the_prefix_start_nothing(stack: LocalDeployment, aws_client: Callable[..., Any]) -> None:
    sfn, s3 = aws_client("stepfunctions"), aws_client("s3")
    before = len(sfn.list_executions(stateMachineArn=stack.state_machine_arn)["executions"])
    s3.put_object(Bucket=stack.uploads_bucket, Key=f"elsewhere/{uuid.uuid4().hex}", Body=b"x")
    time.sleep(2)  # proving a negative: give EventBridge the time it takes for a positive (~0.7 s)
    assert len(sfn.list_executions(stateMachineArn=stack.state_machine_arn)["executions"]) == before
