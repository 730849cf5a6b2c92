"""Fixtures of the fault-injection tests: the plugin's client (every rule cleared after each test), a token, the
jobs table, a tiny generated clip, and polling a job to its end."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from lambdas.jobs.dynamodb import DynamoDBJobRepository
from lambdas.jobs.model import Job
from lambdas.jobs.ports import JobNotFound
from tests.media_tools import LAYER_BIN
from vodpipe.local.faults import FaultInjector
from vodpipe.local.stack import LocalDeployment
from vodpipe.local.users import create_token

OWNER = "it-faults"


@pytest.fixture
def faults(stack: LocalDeployment) -> Iterator[FaultInjector]:
    """The endpoint of the session's LocalStack; no rule outlives its test, whatever the test did."""
    with FaultInjector(stack.endpoint) as injector:
        injector.clear()
        yield injector
        injector.clear()


@pytest.fixture(scope="module")
def token(stack: LocalDeployment, aws_client: Callable[..., Any]) -> str:
    return create_token(aws_client("dynamodb"), stack.jobs_table, OWNER)


@pytest.fixture(scope="module")
def repository(stack: LocalDeployment, aws_client: Callable[..., Any]) -> DynamoDBJobRepository:
    return DynamoDBJobRepository(aws_client("dynamodb"), stack.jobs_table)


@pytest.fixture(scope="module")
def tiny_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """2 s of 320x180 video with a tone: every step of the workflow runs, each in well under a second of CPU."""
    out = tmp_path_factory.mktemp("faults") / "tiny.mp4"
    subprocess.run(
        [
            str(LAYER_BIN / "ffmpeg"), "-hide_banner", "-v", "error", "-y",
            "-f", "lavfi", "-i", "testsrc2=size=320x180:rate=30:duration=2",
            "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000:duration=2",
            "-c:v", "libx264", "-preset", "ultrafast", "-g", "30", "-pix_fmt", "yuv420p",
            "-c:a", "aac", "-ac", "2", str(out),
        ],
        check=True,
        timeout=60,
    )  # fmt: skip
    return out


def wait_terminal(repository: DynamoDBJobRepository, job_id: str, deadline_s: float) -> Job:
    """The job once it is terminal (the test's own reads are never failed: rules match functions by default)."""
    deadline = time.monotonic() + deadline_s
    job: Job | None = None
    while time.monotonic() < deadline:
        try:
            job = repository.get(job_id)
        except JobNotFound:
            job = None
        if job is not None and job.status.terminal:
            return job
        time.sleep(0.5)
    raise AssertionError(f"job {job_id} not terminal after {deadline_s:.0f} s: {job.status if job else 'missing'}")
