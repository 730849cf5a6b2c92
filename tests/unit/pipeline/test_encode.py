"""EncodeChunk on real ffmpeg: one work item to CMAF segments at their place, its result saved, progress and ETA."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from lambdas import keys
from lambdas.jobs.model import EventKind, JobStep
from lambdas.media.chunking import frame_ticks
from lambdas.media.ffmpeg_args import audio_alignment
from lambdas.pipeline.config import CACHE_MEDIA, PipelineConfig
from lambdas.pipeline.encode import EncodeResult, encode
from lambdas.pipeline.errors import JobCancelled
from lambdas.pipeline.plan import EncodePlan, ItemResult
from lambdas.pipeline.probe import ProbeResult
from lambdas.pipeline.progress import encode_progress, estimated_end, overall_percent
from lambdas.storage.ports import ObjectInfo
from tests.fakes.jobs import InMemoryJobRepository
from tests.fakes.storage import DirectoryMediaStore
from tests.media_tools import ffprobe_json
from tests.unit.pipeline.conftest import (
    OUTPUTS,
    UPLOADS,
    StartJob,
    cancel,
    encode_request,
    item_ids,
    needs_ffmpeg,
    probe_job,
    start_on,
)

pytestmark = needs_ffmpeg


def stored_plan(store: DirectoryMediaStore, planned: ProbeResult) -> EncodePlan:
    return EncodePlan.model_validate_json(store.read_bytes(planned.plan.bucket, planned.plan.key))


def stored_result(store: DirectoryMediaStore, job_id: str, item_id: str, attempt: int = 0) -> ItemResult:
    return ItemResult.model_validate_json(store.read_bytes(UPLOADS, keys.result_key(job_id, attempt, item_id)))


def objects(store: DirectoryMediaStore, bucket: str, prefix: str) -> dict[str, int]:
    return {o.key: o.size for o in store.list_prefix(bucket, prefix)}


def keyframes(store: DirectoryMediaStore, job_id: str, track: str, number: int, tmp: Path) -> list[bool]:
    """The video packets of one segment played after its track's init: True for each keyframe."""
    prefix = keys.track_prefix(job_id, track)
    joined = tmp / f"{track}_{number}.mp4"
    joined.write_bytes(
        store.read_bytes(OUTPUTS, prefix + keys.INIT_SEGMENT)
        + store.read_bytes(OUTPUTS, prefix + keys.segment_name(number))
    )
    packets = ffprobe_json(joined, "-show_packets", "-select_streams", "v:0")["packets"]
    return [p["flags"].startswith("K") for p in packets]


def test_one_rendition_of_a_chunk(
    clips: dict[str, Path],
    start_job: StartJob,
    repo: InMemoryJobRepository,
    store: DirectoryMediaStore,
    config: PipelineConfig,
    tmp_path: Path,
) -> None:
    job = start_job(clips["landscape"])
    planned = probe_job(job.job_id, repo, store, config)
    assert item_ids(store, planned) == ["audio", "c00000-240p", "c00000-180p", "c00000-120p"]
    started = repo.get(job.job_id).started_at
    assert started is not None
    now = started + timedelta(seconds=10)

    result = encode(encode_request(job.job_id, planned, "c00000-180p"), repo, store, config, clock=lambda: now)

    prefix = keys.track_prefix(job.job_id, "180p")
    assert prefix == f"outputs/{job.job_id}/cmaf/180p/"
    assert set(objects(store, OUTPUTS, keys.output_prefix(job.job_id))) == {
        prefix + "init.mp4",
        prefix + "seg_00000.m4s",
        prefix + "seg_00001.m4s",
    }
    init, first = store.head(OUTPUTS, prefix + "init.mp4"), store.head(OUTPUTS, prefix + "seg_00000.m4s")
    assert (init.content_type, first.content_type) == ("video/mp4", "video/iso.segment")
    assert init.cache_control == first.cache_control == CACHE_MEDIA
    for number in (0, 1):  # each segment starts on a keyframe and holds exactly one GOP
        flags = keyframes(store, job.job_id, "180p", number, tmp_path)
        assert flags[0]
        assert (sum(flags), len(flags)) == (1, 30)

    # The result, where PackageOutputs reads it: what each segment is, measured on the output.
    saved = stored_result(store, job.job_id, "c00000-180p")
    assert set(saved.tracks) == {"180p"}
    track = saved.tracks["180p"]
    assert (track.width, track.height) == (240, 180)
    assert track.codec is not None
    assert track.codec.startswith("avc1.64")
    assert [s.number for s in track.segments] == [0, 1]
    assert [s.start_ticks for s in track.segments] == [0, track.segments[0].ticks]
    assert all(s.ticks == track.timescale for s in track.segments)  # 1 s each
    assert [s.bytes for s in track.segments] == [
        store.head(OUTPUTS, prefix + keys.segment_name(n)).size for n in (0, 1)
    ]
    assert result == EncodeResult(item_id="c00000-180p", segments=2, cpu_seconds=saved.cpu_seconds)
    assert saved.cpu_seconds > 0

    # Work recorded; overall progress weighted by the plan, the rendition's own, and an ETA from the pace so far.
    plan = stored_plan(store, planned)
    done = repo.work_done(job.job_id, 0)
    assert done == {"c00000-180p"}
    share = encode_progress(plan.chunks, done)
    assert 0.2 < share < 0.5  # one of three similar rungs, the audio nearly free
    stored = repo.get(job.job_id)
    assert stored.progress == overall_percent(share)
    assert stored.rendition_progress == {"180p": 100}
    assert stored.current_step is JobStep.TRANSCODE
    expected = estimated_end(started, share, now)
    assert expected is not None
    assert stored.eta_at is not None
    # The last write that raised the percentage set it: at the end, or at ffmpeg's last report just before.
    assert abs(stored.eta_at - expected) < timedelta(seconds=1)
    assert stored.eta_at > now
    assert stored.playable_segments == 0  # without the audio nothing is watchable yet

    transcode = [e for e in repo.list_events(job.job_id) if e.step is JobStep.TRANSCODE]
    assert [e.kind for e in transcode] == [EventKind.STARTED, EventKind.FINISHED]
    assert transcode[0].message == "chunk 1/1 (segments 0-1): 180p"


def test_a_later_chunk_lands_at_its_place_on_the_timeline(
    clips: dict[str, Path],
    start_job: StartJob,
    repo: InMemoryJobRepository,
    store: DirectoryMediaStore,
    per_segment: PipelineConfig,
    tmp_path: Path,
) -> None:
    job = start_job(clips["three_seconds"])
    planned = probe_job(job.job_id, repo, store, per_segment)
    plan = stored_plan(store, planned)
    chunk = plan.chunks.chunk(1)

    result = encode(encode_request(job.job_id, planned, "c00001"), repo, store, per_segment)

    # Its segment of every rung, numbered on the job's timeline; the init comes from the first chunk only.
    assert set(objects(store, OUTPUTS, keys.output_prefix(job.job_id))) == {
        keys.track_prefix(job.job_id, name) + "seg_00001.m4s" for name in ("240p", "180p", "120p")
    }
    assert result.segments == 3
    saved = stored_result(store, job.job_id, "c00001")
    assert set(saved.tracks) == {"240p", "180p", "120p"}
    ticks = frame_ticks(plan.chunks.rate)
    for track in saved.tracks.values():
        assert [s.number for s in track.segments] == [chunk.first_segment]
        assert track.segments[0].start_ticks == chunk.start_frame * ticks
        assert track.codec is None  # measured on the first chunk only
    # Played after the first chunk's init it decodes, starts on a keyframe, and shows exactly 1 s after it.
    encode(encode_request(job.job_id, planned, "c00000"), repo, store, per_segment)
    starts = []
    for number in (0, 1):
        flags = keyframes(store, job.job_id, "240p", number, tmp_path)
        assert flags[0]
        assert sum(flags) == 1
        packets = ffprobe_json(tmp_path / f"240p_{number}.mp4", "-show_packets", "-select_streams", "v:0")["packets"]
        starts.append(min(float(p["pts_time"]) for p in packets))
    assert starts[1] - starts[0] == pytest.approx(1.0, abs=1e-6)
    assert repo.get(job.job_id).rendition_progress == {"240p": 66, "180p": 66, "120p": 66}


def test_the_audio_item(
    clips: dict[str, Path],
    start_job: StartJob,
    repo: InMemoryJobRepository,
    store: DirectoryMediaStore,
    config: PipelineConfig,
) -> None:
    job = start_job(clips["landscape"])
    planned = probe_job(job.job_id, repo, store, config)
    plan = stored_plan(store, planned)
    result = encode(encode_request(job.job_id, planned, "audio"), repo, store, config)

    prefix = keys.track_prefix(job.job_id, keys.AUDIO_TRACK)
    segments = [keys.segment_name(n) for n in range(plan.chunks.segment_count)]
    assert set(objects(store, OUTPUTS, keys.output_prefix(job.job_id))) == {
        prefix + name for name in ["init.mp4", *segments]
    }
    track = stored_result(store, job.job_id, "audio").tracks[keys.AUDIO_TRACK]
    assert track.codec == "mp4a.40.2"
    assert track.timescale == 48000
    starts = [s.start_ticks for s in track.segments]
    # Moved by what the video's B-frame delay is beyond the AAC priming, so sound and picture line up.
    assert starts[0] == audio_alignment(plan.chunks.rate, 48000) > 0
    assert starts == sorted(starts)
    # Audio segments follow the video grid (1 s) to within an AAC frame.
    assert all(abs(s - starts[0] - n * track.timescale) < 1024 for n, s in enumerate(starts))
    assert result.segments == plan.chunks.segment_count
    stored = repo.get(job.job_id)
    assert stored.rendition_progress == {}
    assert stored.progress == overall_percent(encode_progress(plan.chunks, frozenset({"audio"})))


def test_a_rung_the_job_never_asked_for_moves_overall_progress_only(
    clips: dict[str, Path],
    start_job: StartJob,
    repo: InMemoryJobRepository,
    store: DirectoryMediaStore,
    config: PipelineConfig,
) -> None:
    """A source smaller than the ladder gets one rung of its own size: no rendition of the job to report on."""
    job = start_job(clips["tiny"])
    planned = probe_job(job.job_id, repo, store, config)
    plan = stored_plan(store, planned)
    assert [(r.name, r.track_progress) for r in plan.renditions] == [("112p", False)]
    for item_id in item_ids(store, planned):
        encode(encode_request(job.job_id, planned, item_id), repo, store, config)
    stored = repo.get(job.job_id)
    assert stored.rendition_progress == {}
    assert stored.progress == overall_percent(1.0)
    assert store.head(OUTPUTS, keys.track_prefix(job.job_id, "112p") + "seg_00000.m4s").size > 0


def test_running_an_item_twice_leaves_the_same_objects(
    clips: dict[str, Path],
    start_job: StartJob,
    repo: InMemoryJobRepository,
    store: DirectoryMediaStore,
    per_segment: PipelineConfig,
) -> None:
    """A Lambda retry of an item rewrites exactly the keys the first run wrote, and records it once."""
    job = start_job(clips["three_seconds"])
    planned = probe_job(job.job_id, repo, store, per_segment)
    for item_id in ("audio", "c00000"):
        encode(encode_request(job.job_id, planned, item_id), repo, store, per_segment)
    before = (objects(store, OUTPUTS, ""), objects(store, UPLOADS, keys.work_prefix(job.job_id)))
    job_before = repo.get(job.job_id)
    first = stored_result(store, job.job_id, "c00000")

    encode(encode_request(job.job_id, planned, "c00000"), repo, store, per_segment)

    after = (objects(store, OUTPUTS, ""), objects(store, UPLOADS, keys.work_prefix(job.job_id)))
    assert {k: set(v) for k, v in enumerate(after)} == {k: set(v) for k, v in enumerate(before)}
    again = stored_result(store, job.job_id, "c00000")
    assert {n: t.segments for n, t in again.tracks.items()} == {n: t.segments for n, t in first.tracks.items()}
    assert repo.work_done(job.job_id, 0) == {"audio", "c00000"}
    job_after = repo.get(job.job_id)
    assert (job_after.progress, job_after.rendition_progress, job_after.playable_segments) == (
        job_before.progress,
        job_before.rendition_progress,
        job_before.playable_segments,
    )


def test_a_job_cancelled_before_the_item_runs(
    clips: dict[str, Path],
    start_job: StartJob,
    repo: InMemoryJobRepository,
    store: DirectoryMediaStore,
    config: PipelineConfig,
) -> None:
    job = start_job(clips["landscape"])
    planned = probe_job(job.job_id, repo, store, config)
    cancel(repo, store, job.job_id)
    with pytest.raises(JobCancelled):
        encode(encode_request(job.job_id, planned, "c00000-240p"), repo, store, config)
    assert objects(store, OUTPUTS, keys.output_prefix(job.job_id)) == {}
    assert repo.work_done(job.job_id, 0) == frozenset()


class CancelledOnProgress(InMemoryJobRepository):
    """The user cancels (as the API does) the moment the encode first reports progress."""

    def __init__(self, store: DirectoryMediaStore) -> None:
        super().__init__()
        self.store = store
        self.cancelled = False

    def update_progress(
        self, job_id: str, step: JobStep, percent: int, rendition: str | None = None, *, eta_at: datetime | None = None
    ) -> bool:
        if step is JobStep.TRANSCODE and not self.cancelled:
            self.cancelled = True
            cancel(self, self.store, job_id)
        return super().update_progress(job_id, step, percent, rendition, eta_at=eta_at)


def test_a_cancel_during_the_encode_stops_it_before_anything_is_uploaded(
    clips: dict[str, Path], store: DirectoryMediaStore, config: PipelineConfig
) -> None:
    repo = CancelledOnProgress(store)
    job = start_on(repo, store, config, clips["landscape"])
    planned = probe_job(job.job_id, repo, store, config)
    with pytest.raises(JobCancelled):
        encode(encode_request(job.job_id, planned, "c00000-240p"), repo, store, config)
    assert repo.cancelled
    assert objects(store, OUTPUTS, keys.output_prefix(job.job_id)) == {}
    assert not store.list_prefix(UPLOADS, keys.work_prefix(job.job_id, 0) + "results/")
    assert repo.work_done(job.job_id, 0) == frozenset()


class CancelledWhileUploading(DirectoryMediaStore):
    """The user cancels (as the API does) right after the item's first segment is uploaded."""

    repo: InMemoryJobRepository | None = None

    def upload(
        self,
        path: Path,
        bucket: str,
        key: str,
        *,
        content_type: str,
        cache_control: str,
        metadata: Mapping[str, str] | None = None,
    ) -> ObjectInfo:
        stored = super().upload(
            path, bucket, key, content_type=content_type, cache_control=cache_control, metadata=metadata
        )
        if self.repo is not None and bucket == OUTPUTS and key.endswith(keys.segment_name(0)):
            repo, self.repo = self.repo, None
            cancel(repo, self, key.split("/")[1])
        return stored


def test_segments_uploaded_while_the_job_is_cancelled_are_withdrawn(
    clips: dict[str, Path], repo: InMemoryJobRepository, config: PipelineConfig, tmp_path: Path
) -> None:
    store = CancelledWhileUploading(tmp_path / "racing")
    job = start_on(repo, store, config, clips["landscape"])
    planned = probe_job(job.job_id, repo, store, config)
    store.repo = repo
    with pytest.raises(JobCancelled):
        encode(encode_request(job.job_id, planned, "c00000-240p"), repo, store, config)
    assert store.repo is None  # the cancel did land mid-upload
    assert objects(store, OUTPUTS, keys.output_prefix(job.job_id)) == {}
    assert repo.work_done(job.job_id, 0) == frozenset()


def test_each_rung_of_an_item_is_scored_against_the_source(
    clips: dict[str, Path],
    start_job: StartJob,
    repo: InMemoryJobRepository,
    store: DirectoryMediaStore,
    per_segment: PipelineConfig,
) -> None:
    """Right after the encode, on the piece and the rungs still on disk: VMAF per rung, the audio none."""
    from lambdas.media.quality import ChunkQuality, Metric

    job = start_job(clips["landscape"])
    planned = probe_job(job.job_id, repo, store, per_segment)
    video = next(i for i in item_ids(store, planned) if i != "audio")
    encode(encode_request(job.job_id, planned, video), repo, store, per_segment)
    encode(encode_request(job.job_id, planned, "audio"), repo, store, per_segment)

    scored = stored_result(store, job.job_id, video).quality
    assert scored.error is None
    assert list(scored.rungs) == ["240p", "180p", "120p"]
    assert all(s.metric is Metric.VMAF and s.frames == 1 for s in scored.rungs.values())
    # Each rung scaled up to the source's 320x240: the smaller, the further from it.
    means = [s.mean for s in scored.rungs.values()]
    assert means == sorted(means, reverse=True)
    assert 50 < means[-1] < means[0] <= 100
    assert scored.cpu_seconds > 0
    assert stored_result(store, job.job_id, "audio").quality == ChunkQuality()


def test_a_failed_quality_run_leaves_the_item_done_with_the_reason(
    clips: dict[str, Path],
    start_job: StartJob,
    repo: InMemoryJobRepository,
    store: DirectoryMediaStore,
    config: PipelineConfig,
) -> None:
    from lambdas.media.errors import TranscodeFailed
    from lambdas.media.runner import RunResult, run

    def quality_fails(argv: list[str], **options: object) -> RunResult:
        if any("libvmaf=" in arg for arg in argv):
            raise TranscodeFailed("Processing took longer than 12 s and was stopped.")
        return run(argv, **options)  # type: ignore[arg-type]

    job = start_job(clips["landscape"])
    planned = probe_job(job.job_id, repo, store, config)
    result = encode(encode_request(job.job_id, planned, "c00000-180p"), repo, store, config, run=quality_fails)

    assert result.segments == 2
    saved = stored_result(store, job.job_id, "c00000-180p")
    assert saved.quality.rungs == {}
    assert saved.quality.error == "VMAF not measured: Processing took longer than 12 s and was stopped."
    assert repo.work_done(job.job_id, 0) == {"c00000-180p"}
    assert set(objects(store, OUTPUTS, keys.track_prefix(job.job_id, "180p"))) == {
        keys.track_prefix(job.job_id, "180p") + name for name in ("init.mp4", "seg_00000.m4s", "seg_00001.m4s")
    }
