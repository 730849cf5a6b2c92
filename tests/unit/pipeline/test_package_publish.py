"""PackageOutputs and PublishJob: the master lists every rung with its attributes; the job completes."""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from lambdas.jobs.memory import InMemoryJobRepository
from lambdas.jobs.model import Job, JobStatus, JobStep, OutputKind, utc_now
from lambdas.jobs.transitions import transition
from lambdas.pipeline.common import JobRef, PipelineConfig
from lambdas.pipeline.errors import JobCancelled
from lambdas.pipeline.package import PackageRequest, PackageResult, package
from lambdas.pipeline.probe import ProbeRequest, probe
from lambdas.pipeline.publish import PublishRequest, publish
from lambdas.pipeline.thumbnails import ThumbnailsRequest, make_thumbnails
from lambdas.pipeline.transcode import TranscodeRequest, transcode
from lambdas.storage.memory import DirectoryMediaStore
from tests.unit.media.conftest import LAYER_BIN
from tests.unit.pipeline.conftest import OUTPUTS, StartJob, needs_ffmpeg

pytestmark = needs_ffmpeg


@dataclass
class Encoded:
    job: Job
    request: PackageRequest


@pytest.fixture
def encoded(
    clips: dict[str, Path],
    start_job: StartJob,
    repo: InMemoryJobRepository,
    store: DirectoryMediaStore,
    config: PipelineConfig,
) -> Encoded:
    """A job taken through probe, every transcode and thumbnails, as the state machine would."""
    job = start_job(clips["landscape"], {"renditions": "240p,180p,120p"})
    ref = JobRef(job_id=job.job_id, execution_arn=job.execution_arn)
    plan = probe(ProbeRequest(job=ref), repo, store, config)
    renditions = tuple(
        transcode(TranscodeRequest(job=ref, media=plan.media, rendition=r), repo, store, config)
        for r in plan.renditions
    )
    thumbs = make_thumbnails(
        ThumbnailsRequest(job=ref, media=plan.media, thumbnails=plan.thumbnails), repo, store, config
    )
    return Encoded(job, PackageRequest(job=ref, media=plan.media, renditions=renditions, thumbnails=thumbs))


def test_master_lists_every_rung_with_its_attributes(
    encoded: Encoded, repo: InMemoryJobRepository, store: DirectoryMediaStore, config: PipelineConfig, tmp_path: Path
) -> None:
    result = package(encoded.request, repo, store, config)
    job_id = encoded.job.job_id
    assert result.manifest_key == f"outputs/{job_id}/hls/master.m3u8"
    master = store.read_bytes(OUTPUTS, result.manifest_key).decode()
    lines = master.splitlines()
    infs = [line for line in lines if line.startswith("#EXT-X-STREAM-INF:")]
    assert [lines[lines.index(inf) + 1] for inf in infs] == ["240p/index.m3u8", "180p/index.m3u8", "120p/index.m3u8"]
    for inf, rendition in zip(infs, encoded.request.renditions, strict=True):
        assert f"BANDWIDTH={rendition.peak_bps}," in inf
        assert f"AVERAGE-BANDWIDTH={rendition.average_bps}," in inf
        assert f"RESOLUTION={rendition.width}x{rendition.height}" in inf
        assert f'CODECS="{rendition.video_codec},mp4a.40.2"' in inf
        assert "FRAME-RATE=30.000" in inf
    # Each media playlist the master points at exists next to it.
    for rendition in encoded.request.renditions:
        assert store.head(OUTPUTS, f"outputs/{job_id}/hls/{rendition.uri}").size > 0

    # The MP4 fallback: the middle rung remuxed, moov before mdat, same duration, audio kept.
    mp4 = next(f for f in result.files if f.kind is OutputKind.MP4)
    assert mp4.key == f"outputs/{job_id}/mp4/180p.mp4"
    local = tmp_path / "fallback.mp4"
    local.write_bytes(store.read_bytes(OUTPUTS, mp4.key))
    head = local.read_bytes()
    assert head.index(b"moov") < head.index(b"mdat")
    probe_out = subprocess.run(
        [
            str(LAYER_BIN / "ffprobe"),
            "-v",
            "error",
            "-print_format",
            "json",
            "-show_format",
            "-show_streams",
            str(local),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    info = json.loads(probe_out.stdout)
    assert sorted(s["codec_type"] for s in info["streams"]) == ["audio", "video"]
    assert float(info["format"]["duration"]) == pytest.approx(2.0, abs=0.1)

    kinds = [f.kind for f in result.files]
    assert kinds.count(OutputKind.HLS) == 4  # master + 3 media playlists
    assert kinds.count(OutputKind.THUMBNAILS) == 6  # poster, storyboard, 3 stills, 1 sheet
    assert repo.get(job_id).current_step is JobStep.PACKAGE


def test_publish_completes_the_job(
    encoded: Encoded, repo: InMemoryJobRepository, store: DirectoryMediaStore, config: PipelineConfig
) -> None:
    outputs = PackageResult.model_validate(json.loads(package(encoded.request, repo, store, config).model_dump_json()))
    request = PublishRequest(job=encoded.request.job, outputs=outputs)
    job = publish(request, repo, config)
    assert job.status is JobStatus.COMPLETED
    assert job.progress == 100
    assert job.outputs is not None
    assert job.outputs.playback_url == f"https://cdn.example.com/outputs/{job.job_id}/hls/master.m3u8"
    assert job.outputs.manifest_key == f"outputs/{job.job_id}/hls/master.m3u8"
    assert job.outputs.files == outputs.files
    assert {JobStep.PROBE, JobStep.TRANSCODE, JobStep.THUMBNAILS, JobStep.PACKAGE} <= set(job.metrics)
    assert repo.get(job.job_id) == job
    assert publish(request, repo, config) == job  # a Lambda retry changes nothing


def test_publish_of_a_cancelled_job_is_refused(
    encoded: Encoded, repo: InMemoryJobRepository, store: DirectoryMediaStore, config: PipelineConfig
) -> None:
    outputs = package(encoded.request, repo, store, config)
    current = repo.get(encoded.job.job_id)
    repo.save_transition(current, transition(current, JobStatus.CANCELLED, utc_now()))
    with pytest.raises(JobCancelled):
        publish(PublishRequest(job=encoded.request.job, outputs=outputs), repo, config)
    assert repo.get(encoded.job.job_id).status is JobStatus.CANCELLED
