"""A work item whose Lambda is throttled is retried by the workflow and the job completes as usual."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from lambdas import keys
from lambdas.jobs.dynamodb import DynamoDBJobRepository
from lambdas.jobs.model import Job, JobStatus, Source, new_job_id, utc_now
from lambdas.jobs.ports import JobNotFound
from lambdas.jobs.transitions import transition
from vodpipe.local.stack import LocalDeployment

ROOT = Path(__file__).resolve().parents[3]
FFMPEG = ROOT / "layers" / "ffmpeg" / "build" / "bin" / "ffmpeg"

pytestmark = pytest.mark.skipif(not FFMPEG.is_file(), reason="ffmpeg layer not built")


def _function(lam: Any, prefix: str) -> str:
    for page in lam.get_paginator("list_functions").paginate():
        for fn in page["Functions"]:
            if fn["FunctionName"].startswith(prefix):
                return str(fn["FunctionName"])
    raise AssertionError(f"no function {prefix}*")


def _execution_for(sfn: Any, state_machine: str, key: str) -> str | None:
    for execution in sfn.list_executions(stateMachineArn=state_machine)["executions"]:
        detail = sfn.describe_execution(executionArn=execution["executionArn"])
        if key in detail["input"]:
            return str(execution["executionArn"])
    return None


def _map_run_started(sfn: Any, arn: str) -> bool:
    history = sfn.get_execution_history(executionArn=arn, maxResults=1000)["events"]
    return any(event["type"] == "MapRunStarted" for event in history)


def test_a_throttled_work_item_is_retried_and_the_job_completes(
    stack: LocalDeployment, aws_client: Callable[..., Any], tmp_path: Path
) -> None:
    lam, sfn, s3 = aws_client("lambda"), aws_client("stepfunctions"), aws_client("s3")
    repository = DynamoDBJobRepository(aws_client("dynamodb"), stack.jobs_table)
    source = tmp_path / "clip.mp4"
    lavfi = ["-f", "lavfi", "-i", "testsrc2=size=640x360:rate=30:duration=8"]
    encode = ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"]
    subprocess.run([str(FFMPEG), "-v", "error", "-y", *lavfi, *encode, str(source)], check=True)
    worker = _function(lam, "VodpipePipeline-FunctionsEncodeChunk")
    job_id = new_job_id()
    key = f"uploads/it-retry/{job_id}/source"

    # No code path of ours is involved: Lambda itself refuses the invoke (reserved concurrency 0),
    # exactly what a throttled account looks like to Step Functions.
    lam.put_function_concurrency(FunctionName=worker, ReservedConcurrentExecutions=0)
    refused = False
    try:
        s3.upload_file(str(source), stack.uploads_bucket, key)
        deadline = time.monotonic() + 120
        arn = None
        while time.monotonic() < deadline and not (arn and _map_run_started(sfn, arn)):
            arn = arn or _execution_for(sfn, stack.state_machine_arn, key)
            time.sleep(0.2)
        assert arn, "the workflow never reached the work items"
        # Several seconds with the map running and every invoke refused: no item may have run.
        time.sleep(2)  # the Map keeps retrying throttled invokes for about a minute (statemachines/)
        job: Job | None = repository.get(job_id)
        refused = not repository.work_done(job_id, 0) and not any(
            e.step == "transcode" for e in repository.list_events(job_id)
        )
    finally:
        lam.delete_function_concurrency(FunctionName=worker)
    assert refused, "a work item ran while its function was throttled: the test proved nothing"

    deadline = time.monotonic() + 300
    job = None
    while time.monotonic() < deadline:
        try:
            job = repository.get(job_id)
        except JobNotFound:
            job = None
        if job is not None and job.status.terminal:
            break
        time.sleep(0.5)
    assert job is not None
    assert job.status is JobStatus.COMPLETED, (job.error_type, job.error_message)
    assert job.retry_count == 0, "the workflow retried the task; the job itself was never retried"

    prefix = keys.track_prefix(job_id, "360p")
    stored = sorted(o["Key"] for o in s3.list_objects_v2(Bucket=stack.outputs_bucket, Prefix=prefix)["Contents"])
    assert stored == [prefix + name for name in ("index.m3u8", "init.mp4", *(f"seg_{n:05d}.m4s" for n in range(4)))]
    master = s3.get_object(Bucket=stack.outputs_bucket, Key=keys.master_key(job_id))["Body"].read()
    assert b"360p/index.m3u8" in master


def test_a_job_registerjob_gives_up_on_ends_failed_not_stuck_processing(
    stack: LocalDeployment, aws_client: Callable[..., Any]
) -> None:
    lam, s3 = aws_client("lambda"), aws_client("s3")
    repository = DynamoDBJobRepository(aws_client("dynamodb"), stack.jobs_table)
    job_id = new_job_id()
    key = f"uploads/it-register/{job_id}/source"
    # The job as the API leaves it after POST /uploads/{id}/complete: QUEUED; the scheduler admits it.
    now = utc_now()
    source = Source(bucket=stack.uploads_bucket, key=key)
    job = Job.new(job_id=job_id, owner="it-register", source=source, requested_renditions=("360p",), now=now)
    repository.create(job)
    repository.save_transition(job, transition(job, JobStatus.QUEUED, now))
    register = _function(lam, "VodpipePipeline-FunctionsRegisterJob")

    # RegisterJob refused by Lambda on every attempt (reserved concurrency 0): its retries run out.
    lam.put_function_concurrency(FunctionName=register, ReservedConcurrentExecutions=0)
    try:
        s3.put_object(Bucket=stack.uploads_bucket, Key=key, Body=b"never probed")
        deadline = time.monotonic() + 90
        stored = repository.get(job_id)
        while time.monotonic() < deadline and not stored.status.terminal:
            time.sleep(0.5)
            stored = repository.get(job_id)
    finally:
        lam.delete_function_concurrency(FunctionName=register)

    assert stored.status is JobStatus.FAILED, stored.status
    assert stored.error_type == "Lambda.TooManyRequestsException"
    assert stored.error_message
    assert stored.retry_count < stored.max_retries, "the user can retry it"
    s3.head_object(Bucket=stack.uploads_bucket, Key=key)  # the source is kept
