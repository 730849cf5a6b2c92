"""Step Functions driving host-executed Lambdas: a Map with MaxConcurrency, Retry and Catch."""

import io
import json
import time
import uuid
import zipfile
from collections.abc import Callable, Iterator
from typing import Any

import pytest

HANDLER = """
import boto3

s3 = boto3.client("s3")


class TransientGlitch(Exception):
    pass


class PermanentFailure(Exception):
    pass


def handler(event, context):
    if event.get("fail"):
        raise PermanentFailure(f"item {event['id']} can never succeed")
    # Count attempts per item in S3, so retries are visible whichever environment runs them.
    key = f"attempts/{event['id']}"
    try:
        attempts = int(s3.get_object(Bucket=event["bucket"], Key=key)["Body"].read()) + 1
    except s3.exceptions.NoSuchKey:
        attempts = 1
    s3.put_object(Bucket=event["bucket"], Key=key, Body=str(attempts).encode())
    if attempts < 3:
        raise TransientGlitch(f"attempt {attempts} of item {event['id']}")
    return {"id": event["id"], "attempts": attempts}
"""


def definition(function_arn: str) -> dict[str, Any]:
    return {
        "Comment": "Map over items; each item retries transient errors and catches the rest",
        "StartAt": "Fan out",
        "States": {
            "Fan out": {
                "Type": "Map",
                "ItemsPath": "$.items",
                "MaxConcurrency": 2,
                "ItemProcessor": {
                    "ProcessorConfig": {"Mode": "INLINE"},
                    "StartAt": "Work",
                    "States": {
                        "Work": {
                            "Type": "Task",
                            "Resource": "arn:aws:states:::lambda:invoke",
                            "Parameters": {"FunctionName": function_arn, "Payload.$": "$"},
                            "OutputPath": "$.Payload",
                            "Retry": [
                                {
                                    "ErrorEquals": ["TransientGlitch"],
                                    "IntervalSeconds": 1,
                                    "MaxAttempts": 3,
                                    "BackoffRate": 1.0,
                                }
                            ],
                            "Catch": [
                                {
                                    "ErrorEquals": ["States.ALL"],
                                    "ResultPath": "$.error",
                                    "Next": "Item failed",
                                }
                            ],
                            "End": True,
                        },
                        "Item failed": {"Type": "Pass", "End": True},
                    },
                },
                "ResultPath": "$.results",
                "Next": "Done",
            },
            "Done": {"Type": "Succeed"},
        },
    }


def make_zip(files: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in files.items():
            archive.writestr(name, content)
    return buffer.getvalue()


def wait_for(check: Callable[[], Any], timeout: float = 60.0, interval: float = 0.3) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result or time.monotonic() >= deadline:
            return result
        time.sleep(interval)


@pytest.fixture(scope="module")
def role_arn(aws_client: Callable[..., Any]) -> Iterator[str]:
    iam = aws_client("iam")
    name = f"vodpipe-sfn-{uuid.uuid4().hex[:8]}"
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": ["lambda.amazonaws.com", "states.amazonaws.com"]},
                "Action": "sts:AssumeRole",
            }
        ],
    }
    arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    yield arn
    iam.delete_role(RoleName=name)


@pytest.fixture
def function_arn(aws_client: Callable[..., Any], role_arn: str, tmp_path: Any) -> Iterator[str]:
    client = aws_client("lambda")
    archive = tmp_path / "code.zip"
    archive.write_bytes(make_zip({"app.py": HANDLER}))
    name = f"vodpipe-sfn-{uuid.uuid4().hex[:12]}"
    arn = client.create_function(
        FunctionName=name,
        Runtime="python3.13",
        Handler="app.handler",
        Role=role_arn,
        Code={"ZipFile": archive.read_bytes()},
        Timeout=10,
    )["FunctionArn"]
    client.get_waiter("function_active_v2").wait(FunctionName=name, WaiterConfig={"Delay": 0.5, "MaxAttempts": 60})
    yield arn
    client.delete_function(FunctionName=name)


@pytest.fixture
def state_machine_arn(aws_client: Callable[..., Any], role_arn: str, function_arn: str) -> Iterator[str]:
    sfn = aws_client("stepfunctions")
    arn = sfn.create_state_machine(
        name=f"vodpipe-sfn-{uuid.uuid4().hex[:12]}",
        definition=json.dumps(definition(function_arn)),
        roleArn=role_arn,
    )["stateMachineArn"]
    yield arn
    sfn.delete_state_machine(stateMachineArn=arn)


def test_map_with_retry_and_catch_succeeds(aws_client: Callable[..., Any], state_machine_arn: str, bucket: str) -> None:
    sfn = aws_client("stepfunctions")
    items = [
        {"id": "a", "bucket": bucket},
        {"id": "b", "bucket": bucket},
        {"id": "c", "bucket": bucket, "fail": True},
    ]

    execution_arn = sfn.start_execution(
        stateMachineArn=state_machine_arn, name=f"run-{uuid.uuid4().hex}", input=json.dumps({"items": items})
    )["executionArn"]
    finished = wait_for(lambda: (d := sfn.describe_execution(executionArn=execution_arn))["status"] != "RUNNING" and d)

    assert finished, "execution still RUNNING after 60 s"
    assert finished["status"] == "SUCCEEDED", finished
    results = json.loads(finished["output"])["results"]
    assert results[:2] == [{"id": "a", "attempts": 3}, {"id": "b", "attempts": 3}]
    assert results[2]["error"]["Error"] == "PermanentFailure"
    assert "can never succeed" in json.loads(results[2]["error"]["Cause"])["errorMessage"]

    history = sfn.get_execution_history(executionArn=execution_arn, maxResults=1000)["events"]
    failures = [e["taskFailedEventDetails"]["error"] for e in history if e["type"] == "TaskFailed"]
    # Two retried glitches for each of a and b, one caught failure for c.
    assert sorted(failures) == ["PermanentFailure"] + ["TransientGlitch"] * 4
    assert sum(e["type"] == "TaskSucceeded" for e in history) == 2
    running = peak = 0
    for event in history:
        if event["type"] == "MapIterationStarted":
            running += 1
            peak = max(peak, running)
        elif event["type"] in ("MapIterationSucceeded", "MapIterationFailed", "MapIterationAborted"):
            running -= 1
    assert peak == 2  # MaxConcurrency honoured, and actually reached
