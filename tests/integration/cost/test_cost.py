"""Cost per job on the deployed stack: one tiny upload through the API; its estimate (written by ProbeSource) and
its measurement (written by PublishJob from every metered invocation) are there, positive and consistent with the
invocations recorded on the job item, in the job view and in GET /stats.

Needs the session fixture `stack` (tests/deployment.py).
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from lambdas.cost.usage import Invocation
from lambdas.cost.workflow import FUNCTIONS, state_transitions
from lambdas.jobs import schema
from lambdas.jobs.dynamodb import DynamoDBJobRepository
from lambdas.jobs.items import job_key
from lambdas.jobs.model import Job, JobStatus
from tests.media_tools import LAYER_BIN
from tests.pipeline_jobs import ffmpeg
from vodpipe.client.api import ApiClient
from vodpipe.client.resume import ResumeStore
from vodpipe.client.upload import Uploader, UploadRequest
from vodpipe.local.stack import LocalDeployment
from vodpipe.local.users import create_token

OWNER = "cost-tester"
DEADLINE_S = 300

pytestmark = pytest.mark.skipif(not (LAYER_BIN / "ffmpeg").is_file(), reason="ffmpeg layer not built")


def test_a_job_carries_its_estimate_and_its_measured_cost(
    stack: LocalDeployment, aws_client: Callable[..., Any], tmp_path: Path
) -> None:
    source = tmp_path / "tiny.mp4"
    ffmpeg(
        *("-f", "lavfi", "-i", "testsrc2=size=320x180:rate=30:duration=2"),
        *("-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000:duration=2"),
        *("-c:v", "libx264", "-preset", "ultrafast", "-g", "30", "-pix_fmt", "yuv420p", "-c:a", "aac"),
        str(source),
    )
    dynamodb = aws_client("dynamodb")
    repository = DynamoDBJobRepository(dynamodb, stack.jobs_table)
    token = create_token(dynamodb, stack.jobs_table, OWNER)
    with ApiClient(stack.api_url, token) as api:
        uploader = Uploader(api, ResumeStore(Path(tempfile.mkdtemp(prefix="vodpipe-resume-"))), parallel=1)
        job_id = uploader.upload(source, UploadRequest(outputs=("hls", "mp4", "thumbnails"))).job_id
        job = _terminal(repository, job_id)
        assert job.status is JobStatus.COMPLETED, (job.error_type, job.error_message)
        view = api.get_job(job_id)
        stats = api.stats(window_hours=1)

    assert job.cost is not None
    estimate, measured = job.cost.estimate, job.cost.measured
    assert estimate is not None, "ProbeSource wrote no estimate"
    assert measured is not None, "PublishJob wrote no measurement"
    for figure in (estimate, measured):
        assert figure.total_usd > 0
        assert figure.lambda_gb_seconds > 0
        assert figure.region == "us-east-1"
        assert figure.total_usd == pytest.approx(
            figure.lambda_usd + figure.states_usd + figure.requests_usd + figure.storage_usd_per_month, abs=1e-7
        )
    assert view["cost"] == job.cost.model_dump(mode="json")  # the public view carries both

    # Every metered invocation's record on the job item: PublishJob measured all of them, itself as it ran so far
    # (its own record, written on its return, is a few milliseconds longer).
    item = dynamodb.get_item(TableName=stack.jobs_table, Key=job_key(job_id), ConsistentRead=True)["Item"]
    records = [Invocation.decode(text) for text in item[schema.USAGE_ATTRIBUTE]["SS"]]
    assert {r.function for r in records} == set(FUNCTIONS)
    assert measured.lambda_requests == len(records) == len({r.request_id for r in records})
    assert set(measured.lambda_gb_seconds_by_function) == set(FUNCTIONS)
    recorded = sum(r.gb_seconds for r in records)
    before_publish = sum(r.gb_seconds for r in records if r.function != "PublishJob")
    assert before_publish < measured.lambda_gb_seconds <= recorded + 1e-6
    for function in set(FUNCTIONS) - {"PublishJob"}:
        mine = sum(r.gb_seconds for r in records if r.function == function)
        assert measured.lambda_gb_seconds_by_function[function] == pytest.approx(mine, abs=1e-5), function
    assert all(r.memory_mb >= 128 and r.billed_ms > 0 for r in records)
    assert measured.state_transitions == state_transitions(len(records))
    assert measured.s3_write_requests > 0
    assert measured.dynamodb_write_requests >= len(records) - 1
    assert job.outputs is not None
    assert measured.stored_bytes == sum(f.size_bytes for f in job.outputs.files) > 0
    # Within a sane factor of the estimate (this host is not Lambda: a loaded 2-core machine).
    assert 0.1 < measured.total_usd / estimate.total_usd < 10, (measured.total_usd, estimate.total_usd)
    assert 0.1 < measured.stored_bytes / estimate.stored_bytes < 10

    assert stats["cost"]["measured_jobs"] >= 1
    assert stats["cost"]["measured_usd"] >= measured.total_usd - 1e-8
    assert stats["cost"]["estimate_usd"] >= estimate.total_usd - 1e-8


def _terminal(repository: DynamoDBJobRepository, job_id: str) -> Job:
    deadline = time.monotonic() + DEADLINE_S
    while True:
        job = repository.get(job_id)
        if job.status.terminal or time.monotonic() > deadline:
            return job
        time.sleep(1)
