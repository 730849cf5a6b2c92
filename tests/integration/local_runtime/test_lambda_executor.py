"""The vodpipe-host Lambda executor on LocalStack: layers, errors, timeouts, async and concurrent invokes."""

import base64
import io
import json
import time
import uuid
import zipfile
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from botocore.config import Config

HANDLER = """
import importlib.util
import os
import subprocess
import sys
import time

import boto3
import layer_helper


class VideoTooLong(Exception):
    pass


def handler(event, context):
    action = event["action"]
    if action == "greet":
        time.sleep(event.get("hold", 0))
        greeting = subprocess.run(
            ["layer-tool", "greet", event["name"]], capture_output=True, text=True, check=True
        ).stdout.strip()
        print(f"greeting {event['name']}")
        return {
            "greeting": greeting,
            "helper": layer_helper.double(21),
            "localstack_importable": importlib.util.find_spec("localstack") is not None,
            "python": sys.executable,
            "function_name": os.environ["AWS_LAMBDA_FUNCTION_NAME"],
            "request_id": context.aws_request_id,
            "pid": os.getpid(),
        }
    if action == "fail":
        raise VideoTooLong("source is 99 minutes long")
    if action == "hang":
        # A grandchild carrying the marker: it must die with the sandbox, not outlive it.
        subprocess.Popen(["layer-tool", "sleep", "120", event["marker"]])
        time.sleep(120)
    if action == "put":
        boto3.client("s3").put_object(Bucket=event["bucket"], Key=event["key"], Body=b"done")
        return {"put": event["key"]}
    raise ValueError(f"unknown action {action}")
"""

LAYER_TOOL = """#!/bin/sh
case "$1" in
  greet) echo "hello $2 from the layer" ;;
  sleep) sleep "$2" ;;
esac
"""


def make_zip(files: dict[str, tuple[str, int]]) -> bytes:
    """A zip whose entries carry Unix modes, as `zip` from a real build would."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, (content, mode) in files.items():
            info = zipfile.ZipInfo(name)
            info.external_attr = mode << 16
            archive.writestr(info, content)
    return buffer.getvalue()


def wait_for(check: Callable[[], Any], timeout: float = 15.0, interval: float = 0.2) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result or time.monotonic() >= deadline:
            return result
        time.sleep(interval)


def processes_matching(*needles: str) -> list[int]:
    """Live pids whose command line or environment mentions any needle (zombies have neither)."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            blob = (proc / "cmdline").read_bytes() + (proc / "environ").read_bytes()
        except OSError:
            continue
        if any(needle.encode() in blob for needle in needles):
            found.append(int(proc.name))
    return found


@pytest.fixture(scope="module")
def lambda_client(aws_client: Callable[..., Any]) -> Any:
    # Enough pooled connections for the concurrency test; long reads for timeouts.
    return aws_client("lambda", config=Config(max_pool_connections=32, read_timeout=120))


@pytest.fixture(scope="module")
def role_arn(aws_client: Callable[..., Any]) -> Iterator[str]:
    iam = aws_client("iam")
    name = f"vodpipe-exec-{uuid.uuid4().hex[:8]}"
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ],
    }
    arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    yield arn
    iam.delete_role(RoleName=name)


@pytest.fixture(scope="module")
def layer_arn(lambda_client: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A layer with an executable on PATH (bin/) and an importable module (python/)."""
    archive = tmp_path_factory.mktemp("layer") / "layer.zip"
    archive.write_bytes(
        make_zip(
            {
                "bin/layer-tool": (LAYER_TOOL, 0o755),
                "python/layer_helper.py": ("def double(x):\n    return 2 * x\n", 0o644),
            }
        )
    )
    name = f"vodpipe-exec-{uuid.uuid4().hex[:8]}"
    published = lambda_client.publish_layer_version(
        LayerName=name, Content={"ZipFile": archive.read_bytes()}, CompatibleRuntimes=["python3.13"]
    )
    yield published["LayerVersionArn"]
    lambda_client.delete_layer_version(LayerName=name, VersionNumber=published["Version"])


@pytest.fixture(scope="module")
def make_function(
    lambda_client: Any, role_arn: str, layer_arn: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[..., str]]:
    archive = tmp_path_factory.mktemp("code") / "code.zip"
    archive.write_bytes(make_zip({"app.py": (HANDLER, 0o644)}))
    created: list[str] = []

    def make(timeout: int = 10) -> str:
        name = f"vodpipe-exec-{uuid.uuid4().hex[:12]}"
        lambda_client.create_function(
            FunctionName=name,
            Runtime="python3.13",
            Handler="app.handler",
            Role=role_arn,
            Code={"ZipFile": archive.read_bytes()},
            Layers=[layer_arn],
            Timeout=timeout,
            MemorySize=256,
        )
        created.append(name)
        lambda_client.get_waiter("function_active_v2").wait(
            FunctionName=name, WaiterConfig={"Delay": 0.5, "MaxAttempts": 60}
        )
        return name

    yield make
    for name in created:
        lambda_client.delete_function(FunctionName=name)


def invoke(client: Any, name: str, event: dict[str, Any], **kwargs: Any) -> tuple[dict[str, Any], Any]:
    response = client.invoke(FunctionName=name, Payload=json.dumps(event).encode(), **kwargs)
    return response, json.loads(response["Payload"].read() or b"null")


def test_sync_invoke_uses_layer_and_isolated_interpreter(lambda_client: Any, make_function: Any) -> None:
    name = make_function()

    response, result = invoke(lambda_client, name, {"action": "greet", "name": "ana"}, LogType="Tail")

    assert "FunctionError" not in response
    assert result["greeting"] == "hello ana from the layer"
    assert result["helper"] == 42
    assert result["function_name"] == name
    # Handlers must not see LocalStack's packages, only the Lambda runtime's own set.
    assert result["localstack_importable"] is False
    logs = base64.b64decode(response["LogResult"]).decode()
    assert "greeting ana" in logs
    assert f"REPORT RequestId: {result['request_id']}" in logs


def test_unhandled_exception_reports_its_class(lambda_client: Any, make_function: Any) -> None:
    name = make_function()

    response, error = invoke(lambda_client, name, {"action": "fail"}, LogType="Tail")

    assert response["FunctionError"] == "Unhandled"
    assert error["errorType"] == "VideoTooLong"
    assert error["errorMessage"] == "source is 99 minutes long"
    assert any("app.py" in frame for frame in error["stackTrace"])
    assert "[ERROR] VideoTooLong: source is 99 minutes long" in base64.b64decode(response["LogResult"]).decode()


def test_timeout_kills_the_whole_sandbox(lambda_client: Any, make_function: Any) -> None:
    name = make_function(timeout=2)
    invoke(lambda_client, name, {"action": "greet", "name": "warm-up"})  # time the invoke, not the cold start
    marker = f"vodpipe-marker-{uuid.uuid4().hex}"

    started = time.monotonic()
    response, error = invoke(lambda_client, name, {"action": "hang", "marker": marker}, LogType="Tail")
    elapsed = time.monotonic() - started

    assert elapsed < 4
    assert response["FunctionError"] == "Unhandled"
    assert error["errorType"] == "Sandbox.Timedout"
    assert "Task timed out after 2.00 seconds" in error["errorMessage"]
    assert "Status: timeout" in base64.b64decode(response["LogResult"]).decode()
    # Neither the runtime (its environment names the function) nor the handler's grandchild survive.
    assert processes_matching(marker, f"AWS_LAMBDA_FUNCTION_NAME={name}\0") == []
    # The next invoke gets a fresh sandbox.
    response, result = invoke(lambda_client, name, {"action": "greet", "name": "again"})
    assert "FunctionError" not in response
    assert result["greeting"] == "hello again from the layer"


def test_async_invoke_side_effect(
    lambda_client: Any, make_function: Any, aws_client: Callable[..., Any], bucket: str
) -> None:
    name = make_function()
    key = f"async/{uuid.uuid4().hex}"

    response = lambda_client.invoke(
        FunctionName=name,
        InvocationType="Event",
        Payload=json.dumps({"action": "put", "bucket": bucket, "key": key}).encode(),
    )

    assert response["StatusCode"] == 202
    s3 = aws_client("s3")
    listed = wait_for(lambda: s3.list_objects_v2(Bucket=bucket, Prefix=key).get("Contents"))
    assert [item["Key"] for item in listed] == [key]
    assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == b"done"


def test_concurrent_invokes_across_two_functions(lambda_client: Any, make_function: Any) -> None:
    names = [make_function(), make_function()]
    calls = [(names[i % 2], f"caller-{i}") for i in range(16)]

    def call(target: tuple[str, str]) -> tuple[str, str, dict[str, Any], Any]:
        name, who = target
        # Holding each invoke for a moment forces several environments per function.
        response, result = invoke(lambda_client, name, {"action": "greet", "name": who, "hold": 0.5})
        return name, who, response, result

    with ThreadPoolExecutor(max_workers=16) as pool:
        outcomes = list(pool.map(call, calls))

    for name, who, response, result in outcomes:
        assert "FunctionError" not in response, result
        assert result["greeting"] == f"hello {who} from the layer"
        assert result["function_name"] == name
    for name in names:
        environments = {result["pid"] for n, _, _, result in outcomes if n == name}
        assert len(environments) > 1
