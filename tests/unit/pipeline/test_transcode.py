"""TranscodeRendition on real ffmpeg: keyframe-aligned CMAF segments, measured, uploaded, progress recorded."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import pytest

from lambdas.jobs.memory import InMemoryJobRepository
from lambdas.jobs.model import JobStatus, JobStep, utc_now
from lambdas.jobs.transitions import transition
from lambdas.pipeline.common import PROGRESS_PROBED, PROGRESS_TRANSCODED, JobRef, PipelineConfig
from lambdas.pipeline.errors import JobCancelled
from lambdas.pipeline.probe import ProbeRequest, ProbeResult, probe
from lambdas.pipeline.transcode import RenditionResult, TranscodeRequest, transcode
from lambdas.storage.memory import DirectoryMediaStore
from tests.media_tools import ffprobe_json as ffprobe
from tests.unit.pipeline.conftest import OUTPUTS, StartJob, needs_ffmpeg

pytestmark = needs_ffmpeg


class RecordingRepository(InMemoryJobRepository):
    """Remembers the job's overall and per-rendition progress after every progress write."""

    def __init__(self) -> None:
        super().__init__()
        self.history: list[tuple[int, dict[str, int]]] = []

    def update_progress(self, job_id: str, step: JobStep, percent: int, rendition: str | None = None) -> bool:
        changed = super().update_progress(job_id, step, percent, rendition)
        job = self.get(job_id)
        self.history.append((job.progress, dict(job.rendition_progress)))
        return changed


@pytest.fixture
def repo() -> RecordingRepository:
    return RecordingRepository()


def ticking(step: float = 2.5) -> Any:
    """A monotonic clock that moves 2.5 s per reading, so every ffmpeg progress block is due for a write."""
    counter = itertools.count()
    return lambda: next(counter) * step


def planned(
    job_id: str, repo: InMemoryJobRepository, store: DirectoryMediaStore, config: PipelineConfig
) -> ProbeResult:
    return probe(ProbeRequest(job=JobRef(job_id=job_id)), repo, store, config)


def run_transcode(
    job_id: str,
    plan: ProbeResult,
    index: int,
    repo: InMemoryJobRepository,
    store: DirectoryMediaStore,
    config: PipelineConfig,
    **kwargs: Any,
) -> RenditionResult:
    request = TranscodeRequest.model_validate(
        json.loads(
            json.dumps(
                {
                    "job": {"job_id": job_id},
                    **plan.model_dump(mode="json"),
                    "rendition": plan.renditions[index].model_dump(mode="json"),
                }
            )
        )
    )
    return transcode(request, repo, store, config, **kwargs)


def test_one_rendition_end_to_end(
    clips: dict[str, Path],
    start_job: StartJob,
    repo: RecordingRepository,
    store: DirectoryMediaStore,
    config: PipelineConfig,
    tmp_path: Path,
) -> None:
    job = start_job(clips["landscape"])
    plan = planned(job.job_id, repo, store, config)
    result = run_transcode(job.job_id, plan, 1, repo, store, config, monotonic=ticking())

    prefix = f"outputs/{job.job_id}/hls/180p/"
    keys = sorted(k for (op, _, k) in store.calls if op == "upload")
    assert keys == sorted(
        [prefix + "index.m3u8", prefix + "init.mp4", prefix + "seg_00000.m4s", prefix + "seg_00001.m4s"]
    )
    assert store.calls[-1] == ("upload", OUTPUTS, prefix + "index.m3u8")  # the playlist goes last
    assert store.head(OUTPUTS, prefix + "index.m3u8").content_type == "application/vnd.apple.mpegurl"
    assert store.head(OUTPUTS, prefix + "seg_00000.m4s").content_type == "video/iso.segment"

    assert (result.width, result.height) == (240, 180)
    assert result.segment_count == 2
    assert result.duration_s == pytest.approx(plan.media.duration or 0, abs=0.05)
    assert result.video_codec.startswith("avc1.64")
    assert result.audio_codec == "mp4a.40.2"
    assert 0 < result.average_bps <= result.peak_bps
    assert result.frame_rate == pytest.approx(30)
    assert result.bytes == sum(store.head(OUTPUTS, k).size for k in keys)
    assert result.uri == "180p/index.m3u8"

    # Every segment starts on a keyframe, and holds exactly one GOP.
    init = store.read_bytes(OUTPUTS, prefix + "init.mp4")
    for name in ("seg_00000.m4s", "seg_00001.m4s"):
        joined = tmp_path / f"{name}.mp4"
        joined.write_bytes(init + store.read_bytes(OUTPUTS, prefix + name))
        packets = ffprobe(joined, "-show_packets", "-select_streams", "v:0")["packets"]
        assert packets[0]["flags"].startswith("K"), name
        assert sum(p["flags"].startswith("K") for p in packets) == 1

    # Progress rose monotonically, per rendition and overall, and ended at 100 for the rendition.
    overall = [p for p, _ in repo.history]
    mine = [r.get("180p", 0) for _, r in repo.history]
    assert overall == sorted(overall)
    assert mine == sorted(mine)
    assert len(set(mine)) >= 3  # 0, something in between, 100
    assert mine[-1] == 100
    assert PROGRESS_PROBED < overall[-1] < PROGRESS_TRANSCODED  # one of two renditions done
    stored = repo.get(job.job_id)
    assert stored.rendition_progress == {"180p": 100}
    assert stored.current_step is JobStep.TRANSCODE


def test_a_retry_overwrites_the_same_keys(
    clips: dict[str, Path],
    start_job: StartJob,
    repo: RecordingRepository,
    store: DirectoryMediaStore,
    config: PipelineConfig,
) -> None:
    job = start_job(clips["landscape"])
    plan = planned(job.job_id, repo, store, config)
    first = run_transcode(job.job_id, plan, 2, repo, store, config)
    uploads = [c for c in store.calls if c[0] == "upload"]
    second = run_transcode(job.job_id, plan, 2, repo, store, config)
    assert [c for c in store.calls if c[0] == "upload"][len(uploads) :] == uploads
    assert second.segment_durations == first.segment_durations


def test_cancel_during_the_encode_stops_it_and_uploads_nothing(
    clips: dict[str, Path],
    start_job: StartJob,
    repo: RecordingRepository,
    store: DirectoryMediaStore,
    config: PipelineConfig,
) -> None:
    job = start_job(clips["landscape"])
    plan = planned(job.job_id, repo, store, config)
    original = repo.update_progress

    def cancel_on_second_write(job_id: str, step: JobStep, percent: int, rendition: str | None = None) -> bool:
        if rendition is not None and percent > 0:
            current = repo.get(job_id)
            if current.status is JobStatus.PROCESSING:
                repo.save_transition(current, transition(current, JobStatus.CANCELLED, utc_now()))
        return original(job_id, step, percent, rendition)

    repo.update_progress = cancel_on_second_write  # type: ignore[method-assign]
    with pytest.raises(JobCancelled):
        run_transcode(job.job_id, plan, 0, repo, store, config, monotonic=ticking())
    assert not [c for c in store.calls if c[0] == "upload"]


def test_untracked_rendition_still_moves_overall_progress(
    clips: dict[str, Path],
    start_job: StartJob,
    repo: RecordingRepository,
    store: DirectoryMediaStore,
    config: PipelineConfig,
) -> None:
    job = start_job(clips["landscape"], {"renditions": "240p"})
    plan = planned(job.job_id, repo, store, config)
    # A fitted rung the job never asked for (as for sources smaller than the ladder): overall progress only.
    fitted = plan.renditions[0].model_copy(update={"name": "232p", "ladder": ("232p",), "track_progress": False})
    run_transcode(job.job_id, plan.model_copy(update={"renditions": (fitted,)}), 0, repo, store, config)
    stored = repo.get(job.job_id)
    assert stored.rendition_progress == {}
    assert stored.progress == PROGRESS_TRANSCODED
