"""Pipeline unit fixtures: the in-memory job repository, the directory store, tiny clips from the layer's ffmpeg."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from lambdas import keys
from lambdas.events import JobAdmitted, ObjectCreated, execution_name
from lambdas.jobs.model import Job, JobStatus, JobStep, new_job_id, utc_now
from lambdas.jobs.transitions import transition
from lambdas.media.ladder import LadderConfig, Rung
from lambdas.pipeline.config import JobRef, PipelineConfig
from lambdas.pipeline.encode import EncodeRequest
from lambdas.pipeline.package import PackageRequest
from lambdas.pipeline.probe import ProbeRequest, ProbeResult, probe
from lambdas.pipeline.register import RegisterRequest, register
from lambdas.pipeline.thumbnails import ThumbnailsResult
from lambdas.queue.intake import queue_upload, upload_of
from tests.fakes.jobs import InMemoryJobRepository
from tests.fakes.storage import DirectoryMediaStore
from tests.unit.media.conftest import LAYER_BIN, make_clip

UPLOADS, OUTPUTS = "vodpipe-uploads", "vodpipe-outputs"
EXECUTION = "arn:aws:states:us-east-1:000000000000:execution:transcode:first"
# A ladder scaled down to the test clips (320x240), so several rungs fit and encodes take milliseconds.
SMALL_LADDER = LadderConfig(
    rungs=(
        Rung(name="240p", short_side=240, maxrate_kbps=600, crf=30),
        Rung(name="180p", short_side=180, maxrate_kbps=400, crf=30),
        Rung(name="120p", short_side=120, maxrate_kbps=200, crf=32),
    )
)

needs_ffmpeg = pytest.mark.skipif(not (LAYER_BIN / "ffmpeg").is_file(), reason="ffmpeg layer not built")


@pytest.fixture(autouse=True)
def layer_on_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """The layer's bin/ first on PATH, as /opt/bin is on Lambda."""
    monkeypatch.setenv("PATH", f"{LAYER_BIN}{os.pathsep}{os.environ.get('PATH', '')}")


@pytest.fixture
def config() -> PipelineConfig:
    return PipelineConfig(
        uploads_bucket=UPLOADS,
        outputs_bucket=OUTPUTS,
        playback_base_url="https://cdn.example.com/",
        segment_seconds=1,
        thumbnail_count=3,
        ladder=SMALL_LADDER,
    )


@pytest.fixture
def per_segment(config: PipelineConfig) -> PipelineConfig:
    """One segment per chunk and the whole ladder per item: a 3 s clip becomes three chunks (and the audio)."""
    return config.model_copy(update={"max_chunk_segments": 1, "transcode_concurrency": 1})


@pytest.fixture
def repo() -> InMemoryJobRepository:
    return InMemoryJobRepository()


@pytest.fixture
def store(tmp_path: Path) -> DirectoryMediaStore:
    return DirectoryMediaStore(tmp_path / "s3")


@pytest.fixture(scope="session")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Every kind of upload the tests need, made once per session (about a second in all)."""
    if not (LAYER_BIN / "ffmpeg").is_file():
        return {}
    d = tmp_path_factory.mktemp("pipeline-clips")
    # A keyframe every half second, as cameras write them, so the storyboard has pictures to show.
    landscape = make_clip(d / "landscape.mp4", "-g", "15", seconds=2)
    three_seconds = make_clip(d / "three_seconds.mp4", "-g", "15", seconds=3)
    # Smaller than the smallest rung: the ladder fits one rung of the source's own size, never requested.
    tiny = make_clip(d / "tiny.mp4", "-g", "15", seconds=2, size="160x112")
    audio_only = d / "audio.m4a"
    subprocess.run(
        [str(LAYER_BIN / "ffmpeg"), "-v", "error", "-y", "-i", str(landscape), "-vn", "-c:a", "copy", str(audio_only)],
        check=True,
    )
    data = landscape.read_bytes()
    truncated = d / "truncated.mp4"
    truncated.write_bytes(data[: len(data) * 6 // 10])
    playlist = d / "playlist.mp4"
    playlist.write_bytes(b"#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXTINF:1,\n/etc/passwd\n#EXT-X-ENDLIST\n")
    return {
        "landscape": landscape,
        "three_seconds": three_seconds,
        "tiny": tiny,
        "audio_only": audio_only,
        "truncated": truncated,
        "playlist": playlist,
    }


def upload_key(job_id: str, owner: str = "alice") -> str:
    return f"uploads/{owner}/{job_id}/source"


def s3_event(key: str, size: int = 1234, bucket: str = UPLOADS) -> dict[str, Any]:
    """The EventBridge event S3 sends for a completed upload (the fields S3 fills in)."""
    return {
        "version": "0",
        "id": "17793124-05d4-b198-2fde-7ededc63b103",
        "detail-type": "Object Created",
        "source": "aws.s3",
        "account": "000000000000",
        "time": "2025-03-01T12:00:00Z",
        "region": "us-east-1",
        "resources": [f"arn:aws:s3:::{bucket}"],
        "detail": {
            "version": "0",
            "bucket": {"name": bucket},
            "object": {"key": key, "size": size, "etag": "d41d8cd98f00b204e9800998ecf8427e", "sequencer": "0062"},
            "request-id": "N4N7GDK58NMKJ12R",
            "requester": "000000000000",
            "reason": "PutObject",
        },
    }


StartJob = Callable[..., Job]


@pytest.fixture
def start_job(repo: InMemoryJobRepository, store: DirectoryMediaStore, config: PipelineConfig) -> StartJob:
    """Upload `clip` and register it: the job is PROCESSING, as ProbeSource receives it."""

    def start(clip: Path, metadata: dict[str, str] | None = None) -> Job:
        return start_on(repo, store, config, clip, metadata)

    return start


def start_on(
    repo: InMemoryJobRepository,
    store: DirectoryMediaStore,
    config: PipelineConfig,
    clip: Path,
    metadata: dict[str, str] | None = None,
) -> Job:
    """`start_job` on other fakes (a repository or store that injects a race): the upload queued by its event,
    admitted (PROCESSING for EXECUTION, as the scheduler moves it), and registered by that execution."""
    key = upload_key(new_job_id())
    store.put_bytes(UPLOADS, key, clip.read_bytes(), metadata=metadata)
    event = ObjectCreated.model_validate(s3_event(key, clip.stat().st_size))
    names = tuple(rung.name for rung in config.ladder.rungs)
    queued = queue_upload(upload_of(event, config.uploads_bucket), repo, store, names)
    arn = execution_of(queued)
    admitted = repo.save_transition(queued, transition(queued, JobStatus.PROCESSING, utc_now(), execution_arn=arn))
    return register(RegisterRequest(event=JobAdmitted.of(admitted), execution_arn=arn), repo)


def execution_of(job: Job, machine: str = "transcode") -> str:
    """The ARN the scheduler gives the execution of the job's current attempt."""
    return f"arn:aws:states:us-east-1:000000000000:execution:{machine}:{execution_name(job)}"


def steps(repo: InMemoryJobRepository, job_id: str) -> list[tuple[JobStep, str]]:
    return [(e.step, e.kind.value) for e in repo.list_events(job_id)]


# --- the state machine's data flow between the steps (statemachines/transcode.asl.json) ---


def probe_job(
    job_id: str, repo: InMemoryJobRepository, store: DirectoryMediaStore, config: PipelineConfig
) -> ProbeResult:
    return probe(ProbeRequest(job=JobRef(job_id=job_id)), repo, store, config)


def item_ids(store: DirectoryMediaStore, planned: ProbeResult) -> list[str]:
    """The work items as the Distributed Map's ItemReader reads them from items.json."""
    items = json.loads(store.read_bytes(planned.plan.bucket, planned.plan.items_key))
    return [item["item_id"] for item in items]


def encode_request(job_id: str, planned: ProbeResult, item_id: str) -> EncodeRequest:
    """One Map item as EncodeChunks' ItemSelector builds it."""
    return EncodeRequest(
        job=JobRef(job_id=job_id), plan_bucket=planned.plan.bucket, plan_key=planned.plan.key, item_id=item_id
    )


def package_request(job: Job, planned: ProbeResult, thumbnails: ThumbnailsResult | None = None) -> PackageRequest:
    return PackageRequest(
        job=JobRef(job_id=job.job_id, execution_arn=job.execution_arn),
        plan_bucket=planned.plan.bucket,
        plan_key=planned.plan.key,
        thumbnails=thumbnails or ThumbnailsResult(enabled=False),
    )


def cancel(repo: InMemoryJobRepository, store: DirectoryMediaStore, job_id: str) -> None:
    """What the API's cancel does (lambdas/api/jobs.py): the job CANCELLED, then its outputs deleted."""
    job = repo.get(job_id)
    repo.save_transition(job, transition(job, JobStatus.CANCELLED, utc_now()))
    store.delete_prefix(OUTPUTS, keys.output_prefix(job_id))
