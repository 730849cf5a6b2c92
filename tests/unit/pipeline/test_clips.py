"""Clip jobs through the pipeline on real media whose frames carry their index: exact (windowed chunk pipeline)
and fast (one stream copy), and an upload's clip past the real duration."""

from __future__ import annotations

from pathlib import Path

import pytest

from lambdas import keys
from lambdas.events import JobAdmitted
from lambdas.jobs.model import (
    ClipMode,
    ClipSpec,
    Job,
    JobKind,
    JobStatus,
    OutputKind,
    Source,
    new_job_id,
    utc_now,
)
from lambdas.jobs.transitions import transition
from lambdas.media.errors import PolicyViolation
from lambdas.pipeline.config import JobRef, PipelineConfig
from lambdas.pipeline.encode import encode
from lambdas.pipeline.package import package
from lambdas.pipeline.publish import PublishRequest, publish
from lambdas.pipeline.register import RegisterRequest, register
from lambdas.pipeline.thumbnails import POSTER, ThumbnailsRequest, make_thumbnails
from tests.fakes.jobs import InMemoryJobRepository
from tests.fakes.storage import DirectoryMediaStore
from tests.frame_index import frame_indices, make_indexed_source
from tests.media_tools import ffprobe_json
from tests.unit.pipeline.conftest import (
    OUTPUTS,
    UPLOADS,
    encode_request,
    execution_of,
    item_ids,
    needs_ffmpeg,
    package_request,
    probe_job,
    upload_key,
)

pytestmark = needs_ffmpeg

RATE = 24
START, END = 1.3, 2.8  # frames 31.2 .. 67.2: the clip shows frames 31 (at 1.2917 s, nearest) to 66 or 67


@pytest.fixture(scope="module")
def sources(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("clip-sources")
    return {
        # A keyframe every second, as cameras write them.
        "mp4": make_indexed_source(d / "indexed.mp4", seconds=4, rate=str(RATE), gop=RATE),
        # MPEG-TS starts its clock at 1.4 s (and the picture later still): every offset counts from there.
        "ts": make_indexed_source(d / "indexed.ts", seconds=4, rate=str(RATE), gop=RATE, container=("-f", "mpegts")),
    }


def start_clip(
    repo: InMemoryJobRepository, store: DirectoryMediaStore, config: PipelineConfig, source: Path, spec: ClipSpec
) -> Job:
    """A clip job of an uploaded source, admitted and registered, as ProbeSource receives it."""
    key = upload_key(new_job_id())
    store.put_bytes(UPLOADS, key, source.read_bytes())
    now = utc_now()
    outputs = (
        (OutputKind.MP4,) if spec.mode is ClipMode.FAST else (OutputKind.HLS, OutputKind.MP4, OutputKind.THUMBNAILS)
    )
    job = Job.new(
        owner="alice",
        source=Source(bucket=UPLOADS, key=key, size=source.stat().st_size),
        requested_renditions=tuple(rung.name for rung in config.ladder.rungs),
        requested_outputs=outputs,
        now=now,
        kind=JobKind.CLIP,
        clip=spec,
        status=JobStatus.QUEUED,
        queued_at=now,
    )
    repo.create(job)
    arn = execution_of(job)
    admitted = repo.save_transition(job, transition(job, JobStatus.PROCESSING, utc_now(), execution_arn=arn))
    return register(RegisterRequest(event=JobAdmitted.of(admitted), execution_arn=arn), repo)


def run_clip(repo: InMemoryJobRepository, store: DirectoryMediaStore, config: PipelineConfig, job: Job) -> Job:
    """Every step, as the state machine runs them."""
    planned = probe_job(job.job_id, repo, store, config)
    for item_id in reversed(item_ids(store, planned)):
        encode(encode_request(job.job_id, planned, item_id), repo, store, config)
    thumbnails = make_thumbnails(
        ThumbnailsRequest(job=JobRef(job_id=job.job_id), media=planned.media, thumbnails=planned.thumbnails),
        repo,
        store,
        config,
    )
    outputs = package(package_request(job, planned, thumbnails), repo, store, config)
    return publish(
        PublishRequest(job=JobRef(job_id=job.job_id, execution_arn=job.execution_arn), outputs=outputs), repo, config
    )


def saved(store: DirectoryMediaStore, key: str, tmp: Path) -> Path:
    path = tmp / key.rsplit("/", 1)[-1]
    path.write_bytes(store.read_bytes(OUTPUTS, key))
    return path


@pytest.mark.parametrize("kind", ["mp4", "ts"])
def test_an_exact_clip_starts_and_ends_on_the_requested_frames(
    kind: str,
    sources: dict[str, Path],
    repo: InMemoryJobRepository,
    store: DirectoryMediaStore,
    per_segment: PipelineConfig,
    tmp_path: Path,
) -> None:
    job = start_clip(repo, store, per_segment, sources[kind], ClipSpec(start_s=START, end_s=END))
    done = run_clip(repo, store, per_segment, job)
    assert done.status is JobStatus.COMPLETED
    assert done.source_duration_s == pytest.approx(4.0, abs=0.1)  # the whole source's, for clips of this job
    assert done.outputs is not None
    assert done.outputs.clip is not None
    assert done.outputs.clip.mode is ClipMode.EXACT
    assert done.outputs.clip.start_s == START
    assert done.outputs.clip.duration_s == pytest.approx(END - START, abs=1 / RATE)
    mp4 = next(f for f in done.outputs.files if f.kind is OutputKind.MP4)
    frames = frame_indices(saved(store, mp4.key, tmp_path))
    # Frame n is shown n/24 s in (the .ts picture starts 21 ms after its clock: within a frame).
    first, last = round(START * RATE), round(END * RATE) - 1
    assert abs(frames[0] - first) <= 1, frames[:5]
    assert abs(frames[-1] - last) <= 1, frames[-5:]
    assert abs(len(frames) - (END - START) * RATE) <= 1
    assert frames == list(range(frames[0], frames[0] + len(frames)))  # no frame lost or repeated at the joins
    audio = ffprobe_json(saved(store, mp4.key, tmp_path), "-show_streams", "-select_streams", "a")["streams"][0]
    assert float(audio["duration"]) == pytest.approx(END - START, abs=0.05)
    # Stills are of the clip: the poster a tenth into it, not a tenth into the source.
    poster = next(f for f in done.outputs.files if f.key.endswith(POSTER))
    (shown,) = frame_indices(saved(store, poster.key, tmp_path))
    assert first <= shown <= last


def test_a_fast_clip_is_one_copy_from_the_keyframe_it_reports(
    sources: dict[str, Path],
    repo: InMemoryJobRepository,
    store: DirectoryMediaStore,
    per_segment: PipelineConfig,
    tmp_path: Path,
) -> None:
    job = start_clip(repo, store, per_segment, sources["mp4"], ClipSpec(start_s=START, end_s=END, mode=ClipMode.FAST))
    planned = probe_job(job.job_id, repo, store, per_segment)
    assert item_ids(store, planned) == []  # nothing for the workers
    assert planned.thumbnails.enabled is False
    done = run_clip(repo, store, per_segment, job)
    assert done.status is JobStatus.COMPLETED
    assert done.outputs is not None
    assert done.outputs.clip is not None
    made = done.outputs.clip
    assert (made.mode, made.start_s) == (ClipMode.FAST, 1.0)
    assert made.start_shift_s == pytest.approx(0.3)
    assert done.outputs.playback_url is None  # no streams: the one file is the output
    (file,) = done.outputs.files
    assert file.key == made.file_key == f"{keys.output_prefix(job.job_id)}clip/clip.mp4"
    frames = frame_indices(saved(store, file.key, tmp_path))
    assert frames[0] == 24  # the keyframe at 1.0 s it reports
    assert frames == list(range(24, 24 + len(frames)))
    assert file.duration_seconds == pytest.approx(len(frames) / RATE, abs=0.05)


def test_an_uploads_clip_past_the_real_duration_fails_naming_the_field(
    sources: dict[str, Path], repo: InMemoryJobRepository, store: DirectoryMediaStore, per_segment: PipelineConfig
) -> None:
    job = start_clip(repo, store, per_segment, sources["mp4"], ClipSpec(start_s=2.0, end_s=9.0))
    with pytest.raises(PolicyViolation) as raised:
        probe_job(job.job_id, repo, store, per_segment)
    assert raised.value.field == "end_s"
    assert "4 s long" in str(raised.value)
    assert "9 s" in str(raised.value)
