"""The metrics on the local deployment: a job's end is an EMF line in PublishEvents' CloudWatch Logs (valid by the
specification, in the deployment's namespace and service, with the job's own times, CPU and bytes), and a tick of
the scheduler is one with the waiting line. The job is one the session completed already (other suites run many),
or else one tiny job made here. Real jobs, real ffmpeg, the logs as LocalStack stores them.

Where the lines land: on AWS, the function's own log group (its LoggingConfig); LocalStack's Lambda writes every
function's output to `/aws/lambda/<function name>` whatever the LoggingConfig says: both are read.
"""

from __future__ import annotations

import json
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from lambdas.jobs.dynamodb import DynamoDBJobRepository
from lambdas.jobs.model import Job, JobKind, JobStatus
from lambdas.jobs.stats import priority_class
from tests.pipeline_jobs import ffmpeg
from tests.unit.metrics.emf_spec import dimension_sets, emf_documents, emf_problems, metrics_of
from vodpipe.client.api import ApiClient
from vodpipe.client.resume import ResumeStore
from vodpipe.client.upload import Uploader, UploadRequest
from vodpipe.local.stack import LocalDeployment
from vodpipe.local.users import create_token

TERMINAL = {"COMPLETED", "FAILED", "CANCELLED"}


def _function(aws: Callable[..., Any], handler: str) -> dict[str, Any]:
    for page in aws("lambda").get_paginator("list_functions").paginate():
        for fn in page["Functions"]:
            if fn.get("Handler") == f"lambdas.handlers.{handler}.handler":
                return dict(fn)
    raise AssertionError(f"no function runs {handler}")


def _log_groups(fn: dict[str, Any]) -> list[str]:
    own = fn.get("LoggingConfig", {}).get("LogGroup")
    return [group for group in (own, f"/aws/lambda/{fn['FunctionName']}") if group]


def _emf_lines(aws: Callable[..., Any], fn: dict[str, Any], since_ms: int) -> list[dict[str, Any]]:
    logs = aws("logs")
    documents: list[dict[str, Any]] = []
    for group in _log_groups(fn):
        try:
            pages = logs.get_paginator("filter_log_events").paginate(logGroupName=group, startTime=since_ms)
            for page in pages:
                documents += emf_documents("\n".join(event["message"] for event in page.get("events", [])))
        except logs.exceptions.ResourceNotFoundException:
            continue
    return documents


def _ms(moment: datetime) -> int:
    """EMF's Timestamp of `moment`, as Powertools writes it (rounded to the millisecond)."""
    return round(moment.timestamp() * 1000)


def _await(find: Callable[[], dict[str, Any] | None], seconds: float, what: str) -> dict[str, Any]:
    deadline = time.monotonic() + seconds
    while (found := find()) is None:
        assert time.monotonic() < deadline, f"no {what} within {seconds:g} s"
        time.sleep(1)
    return found


@pytest.fixture(scope="module")
def finished_job(
    stack: LocalDeployment, aws_client: Callable[..., Any], tmp_path_factory: pytest.TempPathFactory
) -> tuple[Job, int]:
    """A completed job and the source's size: one the session completed already, or else one tiny job (1 s,
    320x180, no audio, one rung, HLS) made now."""
    repository = DynamoDBJobRepository(aws_client("dynamodb"), stack.jobs_table)
    for line in _emf_lines(aws_client, _function(aws_client, "publish_events"), 0):
        if line.get("status") == "COMPLETED":  # this attempt's end: the job as it is now ended there
            job = repository.get(str(line["job_id"]))
            ended = job.completed_at is not None and line["_aws"]["Timestamp"] == _ms(job.completed_at)
            encoded = job.outputs is not None and bool(job.outputs.encode_cpu_seconds)
            # A plain transcode (a fast clip encodes nothing), admitted from the queue like any upload.
            plain = job.kind is JobKind.TRANSCODE and job.queued_at is not None and job.started_at is not None
            if job.status is JobStatus.COMPLETED and ended and encoded and plain and job.source.size:
                return job, job.source.size
    owner = f"metrics-{uuid.uuid4().hex[:8]}"
    token = create_token(aws_client("dynamodb"), stack.jobs_table, owner)
    clip = tmp_path_factory.mktemp("metrics") / "tiny.mp4"
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=320x180:rate=24:duration=1", "-pix_fmt", "yuv420p",
           "-c:v", "libx264", "-preset", "ultrafast", str(clip))  # fmt: skip
    with ApiClient(stack.api_url, token, timeout=120) as api:  # a cold API on a loaded host: POST is not retried
        store = ResumeStore(Path(tempfile.mkdtemp(dir=tmp_path_factory.mktemp("resume"))))
        upload = Uploader(api, store, parallel=1).upload(clip, UploadRequest(renditions=("360p",), outputs=("hls",)))

        def terminal() -> dict[str, Any] | None:
            job: dict[str, Any] = api.get_job(upload.job_id)
            return job if job["status"] in TERMINAL else None

        shown = _await(terminal, 180, "terminal status")
    assert shown["status"] == "COMPLETED", shown
    return repository.get(upload.job_id), clip.stat().st_size


def test_a_jobs_end_is_one_valid_emf_line_in_the_publishers_logs(
    finished_job: tuple[Job, int], aws_client: Callable[..., Any]
) -> None:
    job, source_bytes = finished_job
    publisher = _function(aws_client, "publish_events")
    service = publisher["Environment"]["Variables"]["METRICS_SERVICE"]

    def line() -> dict[str, Any] | None:
        mine = [d for d in _emf_lines(aws_client, publisher, 0) if d.get("job_id") == job.job_id]
        assert job.completed_at is not None
        return next((d for d in mine if d["_aws"]["Timestamp"] == _ms(job.completed_at)), None)

    found = _await(line, 60, f"EMF line of job {job.job_id}")
    print("EMF line:", json.dumps(found, separators=(",", ":")))
    assert emf_problems(found) == []
    assert [d["Namespace"] for d in found["_aws"]["CloudWatchMetrics"]] == ["vodpipe"]
    # The job may be any the session completed (reused to save a run), of any priority.
    expected_class = str(priority_class(job.priority))
    assert dimension_sets(found) == [{"service": service}, {"service": service, "PriorityClass": expected_class}]
    measured = metrics_of(found)
    assert measured["JobsCompleted"] == ("Count", 1.0)
    assert measured["SourceBytes"] == ("Bytes", float(source_bytes))
    assert measured["OutputBytes"][0] == "Bytes"
    assert measured["OutputBytes"][1] > 0
    assert measured["EncodeCpuSeconds"][0] == "Seconds"
    assert measured["EncodeCpuSeconds"][1] > 0
    started, completed, queued = job.started_at, job.completed_at, job.queued_at
    assert started is not None
    assert completed is not None
    assert queued is not None
    assert measured["JobDuration"][0] == measured["QueueWait"][0] == "Seconds"
    assert measured["JobDuration"][1] == pytest.approx((completed - started).total_seconds(), abs=1e-3)
    assert measured["QueueWait"][1] == pytest.approx((started - queued).total_seconds(), abs=1e-3)
    assert found["_aws"]["Timestamp"] == _ms(completed)
    # Measured once: the terminal write is one record, whatever else the job wrote afterwards.
    mine = [d for d in _emf_lines(aws_client, publisher, 0) if d.get("job_id") == job.job_id]
    assert [d["revision"] for d in mine if d["status"] == "COMPLETED"] == [found["revision"]]


def test_a_scheduler_tick_is_an_emf_line_of_the_waiting_line(
    stack: LocalDeployment, aws_client: Callable[..., Any]
) -> None:
    since = int(time.time() * 1000)
    scheduler = _function(aws_client, "schedule_jobs")
    tick = {
        "version": "0",
        "id": f"tick-{uuid.uuid4()}",
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "000000000000",
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "region": stack.region,
        "resources": ["arn:aws:events:us-east-1:000000000000:rule/test-tick"],
        "detail": {},
    }
    answer = aws_client("lambda").invoke(FunctionName=scheduler["FunctionName"], Payload=json.dumps(tick).encode())
    assert "FunctionError" not in answer, answer["Payload"].read()

    def line() -> dict[str, Any] | None:
        mine = [d for d in _emf_lines(aws_client, scheduler, since) if "OldestQueuedSeconds" in d]
        return mine[0] if mine else None

    found = _await(line, 30, "EMF line of the tick")
    assert emf_problems(found) == []
    assert dimension_sets(found) == [{"service": scheduler["Environment"]["Variables"]["METRICS_SERVICE"]}]
    measured = metrics_of(found)
    assert measured["QueuedJobs"][0] == "Count"
    assert measured["OldestQueuedSeconds"][0] == "Seconds"
    assert measured["OldestQueuedSeconds"][1] >= 0
