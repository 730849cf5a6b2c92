"""`make up` / `make down` on an instance of our own: down leaves no process of ours behind."""

from __future__ import annotations

import io
import os
import shutil
import socket
import subprocess
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import boto3
import psutil
import pytest

from vodpipe.local.runtime import LocalRuntime, repo_root

HANDLER = "import os\ndef handler(event, context):\n    return {'pid': os.getpid()}\n"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _ours(runtime: LocalRuntime) -> set[int]:
    """Every live process that names this instance's state dir (independent of runtime.processes())."""
    marker = str(runtime.home)
    pids = set()
    for proc in psutil.process_iter(["cmdline", "environ", "status"]):
        try:
            if proc.info["status"] == psutil.STATUS_ZOMBIE:
                continue
            text = " ".join(proc.info["cmdline"] or []) + " " + " ".join((proc.info["environ"] or {}).values())
        except psutil.Error:
            continue
        if marker in text:
            pids.add(proc.pid)
    return pids


@pytest.fixture
def instance() -> Iterator[LocalRuntime]:
    runtime = LocalRuntime(root=repo_root(), port=_free_port(), name=f"localstack-updown-{os.getpid()}")
    yield runtime
    runtime.down()
    shutil.rmtree(runtime.home, ignore_errors=True)


def test_down_stops_localstack_lambda_runtimes_and_dynamodb_local(instance: LocalRuntime) -> None:
    env = os.environ | {"VODPIPE_LOCAL_PORT": str(instance.port), "VODPIPE_LOCAL_NAME": instance.name}
    subprocess.run(["make", "-s", "up"], cwd=instance.root, env=env, check=True, capture_output=True)
    assert instance.healthy()

    session = boto3.Session(aws_access_key_id="test", aws_secret_access_key="test", region_name="us-east-1")
    lam = session.client("lambda", endpoint_url=instance.endpoint)
    ddb = session.client("dynamodb", endpoint_url=instance.endpoint)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("app.py", HANDLER)
    lam.create_function(
        FunctionName="updown",
        Runtime="python3.13",
        Role="arn:aws:iam::000000000000:role/lambda",
        Handler="app.handler",
        Code={"ZipFile": buf.getvalue()},
    )
    lam.get_waiter("function_active_v2").wait(FunctionName="updown")
    lam.invoke(FunctionName="updown", Payload=b"{}")
    ddb.list_tables()  # DynamoDB Local (java) is running

    before = _ours(instance)
    names = {psutil.Process(p).name() for p in before}
    assert len(before) >= 3, names  # LocalStack, a Lambda runtime environment, DynamoDB Local's JVM
    assert "java" in names

    subprocess.run(["make", "-s", "down"], cwd=instance.root, env=env, check=True, capture_output=True)
    deadline = time.monotonic() + 5
    while _ours(instance) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not _ours(instance), f"left behind: {_ours(instance)}"
    assert not instance.healthy()
    assert not Path(instance.pid_file).exists()


def test_up_refuses_a_busy_port_with_one_line(instance: LocalRuntime) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", instance.port))
        sock.listen()
        env = os.environ | {"VODPIPE_LOCAL_PORT": str(instance.port), "VODPIPE_LOCAL_NAME": instance.name}
        result = subprocess.run(
            [str(instance.root / ".venv/bin/vodpipe"), "local", "up"],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
    assert result.returncode == 1
    assert result.stderr.strip().count("\n") == 0
    assert f"port {instance.port} is already in use" in result.stderr
