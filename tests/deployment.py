"""The session's local deployment, shared by every tier that needs one (integration, browser): loaded once as a
plugin (`-p tests.deployment` in pyproject's addopts), so each session starts (or reuses) one LocalStack and deploys
the app once, whichever test directories it runs.
"""

from __future__ import annotations

import dataclasses
import os
import socket
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config

from vodpipe.local.runtime import LocalRuntime
from vodpipe.local.stack import LocalDeployment, deploy_local

REGION = "us-east-1"


def port_busy(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def local_runtime() -> Iterator[LocalRuntime | None]:
    """The LocalStack of this checkout; None when VODPIPE_TEST_ENDPOINT points elsewhere."""
    if os.environ.get("VODPIPE_TEST_ENDPOINT"):
        yield None
        return
    runtime = LocalRuntime.from_env()
    started_here = not (runtime.pid() is not None and runtime.healthy())
    if started_here and port_busy(runtime.port):
        # Something else holds the default port: run our own instance beside it.
        runtime = dataclasses.replace(runtime, port=free_port(), name="localstack-test")
    if started_here:
        runtime.up()
    yield runtime
    if started_here:
        runtime.down()


@pytest.fixture(scope="session")
def aws_endpoint(local_runtime: LocalRuntime | None) -> Iterator[str]:
    endpoint = os.environ.get("VODPIPE_TEST_ENDPOINT") or (local_runtime.endpoint if local_runtime else "")
    # Code under test finds the endpoint the way Lambda code does: from the environment.
    saved = {k: os.environ.get(k) for k in _ENV}
    os.environ.update(_ENV | {"AWS_ENDPOINT_URL": endpoint})
    yield endpoint
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


_ENV = {
    "AWS_ACCESS_KEY_ID": "test",
    "AWS_SECRET_ACCESS_KEY": "test",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
    "AWS_ENDPOINT_URL": "",
}


@pytest.fixture(scope="session")
def aws_client(aws_endpoint: str) -> Callable[..., Any]:
    """`aws_client("s3")`: a boto3 client bound to the local endpoint."""
    session = boto3.Session(aws_access_key_id="test", aws_secret_access_key="test", region_name=REGION)
    cache: dict[str, Any] = {}
    # boto3-stubs overloads Session.client on literal service names only; this helper takes any name.
    new_client: Callable[..., Any] = session.client

    def make(service: str, **kwargs: Any) -> Any:
        if kwargs:
            return new_client(service, endpoint_url=aws_endpoint, **kwargs)
        if service not in cache:
            config = Config(retries={"max_attempts": 3, "mode": "standard"}, read_timeout=120)
            cache[service] = new_client(service, endpoint_url=aws_endpoint, config=config)
        return cache[service]

    return make


@pytest.fixture(scope="session")
def stack(
    aws_endpoint: str, local_runtime: LocalRuntime | None, tmp_path_factory: pytest.TempPathFactory
) -> LocalDeployment:
    """The vodpipe CDK app, synthesized and deployed to the session's LocalStack.

    Its workers stop after TEST_WORKER_TIMEOUT_S, so every source longer than a few seconds is encoded
    in chunks that must each fit that limit (enforced by the local Lambda executor, as on AWS).
    """
    runtime = local_runtime or LocalRuntime.from_env()
    work = tmp_path_factory.mktemp("deploy")
    return deploy_local(
        runtime,
        endpoint=aws_endpoint,
        outdir=work / "cdk.out",
        outputs_path=work / "outputs.json",
        on_event=print,
        settings=TEST_SETTINGS,
    )


TEST_WORKER_TIMEOUT_S = 60
TEST_SETTINGS: dict[str, object] = {
    "transcode_timeout_s": TEST_WORKER_TIMEOUT_S,
    "segment_seconds": 2,
    "max_duration_s": 280,  # the longest source whose audio a 60 s worker encodes in one item
    # The suites submit many jobs of one user at once; the queue's own tests narrow these (test_queue.py).
    "max_running_jobs": 8,
    "max_running_jobs_per_user": 8,
    # Webhook retries in seconds, not hours: four attempts within ~5 s, each given 2 s to answer.
    "webhook_retry_schedule": [1, 1, 2],
    "webhook_timeout_s": 2,
    # A deployer's preset as the CDK context holds it (tests/integration/pipeline/test_presets.py): one 16:9 frame,
    # cropped to fill, a version of its own.
    "presets": [
        {
            "name": "tiny-wide",
            "version": 3,
            "description": "One 320x180 frame, cropped to fill (a test deployer's preset).",
            "rungs": [{"name": "wide", "width": 320, "height": 180, "maxrate_kbps": 400}],
            "fit": "crop",
            "outputs": ["hls", "mp4"],
        }
    ],
}
