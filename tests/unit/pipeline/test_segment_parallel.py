"""The segment-parallel encode end to end on the fakes with real ffmpeg: probe and cut, every work item, package."""

from __future__ import annotations

import itertools
import json
import subprocess
from pathlib import Path
from typing import Any

import m3u8
import pytest
from mpegdash.parser import MPEGDASHParser

from lambdas import keys
from lambdas.jobs.model import Job, JobStatus
from lambdas.media.chunking import WorkerBudget
from lambdas.pipeline.config import JobRef, PipelineConfig
from lambdas.pipeline.encode import EncodeRequest, encode
from lambdas.pipeline.package import PackageRequest, package
from lambdas.pipeline.probe import ProbeRequest, ProbeResult, probe
from lambdas.pipeline.thumbnails import ThumbnailsResult
from tests.fakes.jobs import InMemoryJobRepository
from tests.fakes.storage import DirectoryMediaStore
from tests.unit.media.conftest import LAYER_BIN
from tests.unit.pipeline.conftest import OUTPUTS, UPLOADS, StartJob, needs_ffmpeg

pytestmark = needs_ffmpeg


def ffprobe(path: Path, *args: str) -> dict[str, Any]:
    out = subprocess.run(
        [str(LAYER_BIN / "ffprobe"), "-v", "error", "-of", "json", *args, str(path)],
        capture_output=True,
        text=True,
        check=True,
    )
    parsed: dict[str, Any] = json.loads(out.stdout)
    return parsed


def clip(path: Path, seconds: float, *, rate: str = "30", fmt: list[str] | None = None, gop: int = 30) -> Path:
    argv = [str(LAYER_BIN / "ffmpeg"), "-hide_banner", "-v", "error", "-y"]
    argv += ["-f", "lavfi", "-i", f"testsrc2=size=320x240:rate={rate}:duration={seconds}"]
    argv += ["-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=48000:duration={seconds}"]
    argv += ["-c:v", "libx264", "-preset", "ultrafast", "-g", str(gop), "-bf", "2", "-pix_fmt", "yuv420p"]
    argv += ["-c:a", "aac", *(fmt or []), str(path)]
    subprocess.run(argv, check=True)
    return path


def run_job(
    job: Job, repo: InMemoryJobRepository, store: DirectoryMediaStore, config: PipelineConfig
) -> tuple[ProbeResult, str]:
    ref = JobRef(job_id=job.job_id)
    planned = probe(ProbeRequest(job=ref), repo, store, config)
    items = json.loads(store.read_bytes(UPLOADS, planned.plan.items_key))
    for item in reversed(items):  # out of order on purpose: the joins must not depend on it
        encode(
            EncodeRequest(job=ref, plan_bucket=planned.plan.bucket, plan_key=planned.plan.key, item_id=item["item_id"]),
            repo,
            store,
            config,
        )
    result = package(
        PackageRequest(
            job=ref,
            plan_bucket=planned.plan.bucket,
            plan_key=planned.plan.key,
            thumbnails=ThumbnailsResult(enabled=False),
        ),
        repo,
        store,
        config,
    )
    assert result.manifest_key is not None  # a job with video has manifests
    return planned, result.manifest_key


@pytest.fixture
def chunked(config: PipelineConfig) -> PipelineConfig:
    """Two-second segments and a worker budget so small that a 12 s clip is cut into several chunks."""
    return config.model_copy(
        update={"segment_seconds": 2.0, "worker": WorkerBudget(timeout_s=2.5, vcpus=1.0), "max_chunk_segments": 2}
    )


def joined(store: DirectoryMediaStore, job_id: str, track: str, tmp: Path) -> Path:
    prefix = keys.track_prefix(job_id, track)
    playlist = m3u8.loads(store.read_bytes(OUTPUTS, prefix + keys.MEDIA_PLAYLIST).decode())
    out = tmp / f"{track}.mp4"
    with out.open("wb") as sink:
        sink.write(store.read_bytes(OUTPUTS, prefix + keys.INIT_SEGMENT))
        for segment in playlist.segments:
            sink.write(store.read_bytes(OUTPUTS, prefix + segment.uri))
    return out


def test_a_chunked_job_joins_seamlessly_and_serves_hls_and_dash(
    start_job: StartJob,
    repo: InMemoryJobRepository,
    store: DirectoryMediaStore,
    chunked: PipelineConfig,
    tmp_path: Path,
) -> None:
    source = clip(tmp_path / "ntsc.mp4", 12, rate="30000/1001", gop=45)
    job = start_job(source)
    _planned, master_key = run_job(job, repo, store, chunked)
    master = m3u8.loads(store.read_bytes(OUTPUTS, master_key).decode())
    assert [m.type for m in master.media] == ["AUDIO"]
    names = [p.uri.split("/")[0] for p in master.playlists]
    assert names == ["240p", "180p", "120p"]
    source_frames = int(
        ffprobe(source, "-select_streams", "v:0", "-count_frames", "-show_entries", "stream=nb_read_frames")["streams"][
            0
        ]["nb_read_frames"]
    )
    for variant, name in zip(master.playlists, names, strict=True):
        info = variant.stream_info
        assert info.frame_rate == pytest.approx(29.97, abs=0.001)
        assert info.codecs.startswith("avc1.")
        assert "mp4a.40.2" in info.codecs
        assert info.average_bandwidth
        assert info.bandwidth >= info.average_bandwidth
        media = joined(store, job.job_id, name, tmp_path)
        frames = ffprobe(media, "-select_streams", "v:0", "-show_entries", "packet=pts_time,flags")["packets"]
        assert abs(len(frames) - source_frames) <= 1
        times = sorted(float(f["pts_time"]) for f in frames)
        steps = {round(b - a, 4) for a, b in itertools.pairwise(times)}
        assert steps == {round(1001 / 30000, 4)}  # no gap or overlap at any join
        keyframes = sorted(float(f["pts_time"]) for f in frames if "K" in f["flags"])
        playlist = m3u8.loads(
            store.read_bytes(OUTPUTS, keys.track_prefix(job.job_id, name) + keys.MEDIA_PLAYLIST).decode()
        )
        starts = [0.0]
        for segment in playlist.segments[:-1]:
            starts.append(starts[-1] + segment.duration)
        assert keyframes == pytest.approx([s + times[0] for s in starts], abs=0.002)
    mpd = MPEGDASHParser.parse(store.read_bytes(OUTPUTS, keys.dash_key(job.job_id)).decode())
    assert mpd.type == "static"
    for adaptation in mpd.periods[0].adaptation_sets:
        for representation in adaptation.representations:
            template = representation.segment_templates[0]
            number = template.start_number or 0
            for s in template.segment_timelines[0].Ss:
                for _ in range((s.r or 0) + 1):
                    key = keys.stream_prefix(job.job_id) + template.media.replace("$Number%05d$", f"{number:05d}")
                    assert store.head(OUTPUTS, key).size > 0
                    number += 1
    done = repo.get(job.job_id)
    assert done.status is JobStatus.PROCESSING
    assert done.progress == 97
