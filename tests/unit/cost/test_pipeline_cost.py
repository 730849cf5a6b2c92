"""The cost through the pipeline's own steps (real ffmpeg, fakes of the ports): ProbeSource writes the estimate,
PublishJob the measurement from every invocation recorded and its own so far."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lambdas.cost.usage import Invocation
from lambdas.cost.workflow import state_transitions
from lambdas.jobs.model import JobStatus
from lambdas.pipeline.config import PipelineConfig
from lambdas.pipeline.package import PackageResult, package
from lambdas.pipeline.publish import PublishRequest, publish
from tests.fakes.jobs import InMemoryJobRepository
from tests.fakes.storage import DirectoryMediaStore
from tests.unit.cost.fakes import InMemoryUsageLedger
from tests.unit.pipeline.conftest import (  # noqa: F401 - shared fixtures
    StartJob,
    clips,
    config,
    layer_on_path,
    needs_ffmpeg,
    per_segment,
    repo,
    start_job,
    store,
)
from tests.unit.pipeline.test_package_publish import encode_everything

pytestmark = needs_ffmpeg


def test_the_estimate_is_written_at_probe_and_the_measurement_at_publish(
    clips: dict[str, Path],  # noqa: F811
    start_job: StartJob,  # noqa: F811
    repo: InMemoryJobRepository,  # noqa: F811
    store: DirectoryMediaStore,  # noqa: F811
    per_segment: PipelineConfig,  # noqa: F811
) -> None:
    encoded = encode_everything(start_job(clips["three_seconds"]), repo, store, per_segment)
    job_id = encoded.job.job_id
    assert encoded.job.cost is not None
    estimate = encoded.job.cost.estimate
    assert estimate is not None
    assert encoded.job.cost.measured is None
    assert estimate.lambda_requests == 5 + 4  # three one-second chunks and the audio
    assert estimate.region == "us-east-1"

    ledger = InMemoryUsageLedger()
    for n, function in enumerate(["RegisterJob", "ProbeSource", "EncodeChunk", "EncodeChunk", "PackageOutputs"]):
        ledger.add(job_id, Invocation(function=function, request_id=f"r{n}", memory_mb=1024, billed_ms=2000))
    running = Invocation(function="PublishJob", request_id="publish", memory_mb=512, billed_ms=100)
    outputs = PackageResult.model_validate(
        json.loads(package(encoded.request, repo, store, per_segment).model_dump_json())
    )
    job = publish(
        PublishRequest(job=encoded.request.job, outputs=outputs),
        repo,
        per_segment,
        ledger=ledger,
        running=lambda: running,
    )

    assert job.status is JobStatus.COMPLETED
    assert job.cost is not None
    assert job.cost.estimate == estimate  # kept as ProbeSource wrote it
    measured = job.cost.measured
    assert measured is not None
    assert measured.lambda_requests == 6
    assert measured.lambda_gb_seconds == pytest.approx(5 * 2.0 + 0.05)
    assert measured.lambda_gb_seconds_by_function["EncodeChunk"] == pytest.approx(4.0)
    assert measured.state_transitions == state_transitions(6)
    assert measured.stored_bytes == sum(f.size_bytes for f in outputs.files) > 0
    assert repo.get(job_id).cost == job.cost
