"""ProbeSource on real ffmpeg: a good file becomes a plan and pieces; bad ones become typed errors, the source kept."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lambdas import keys
from lambdas.jobs.model import EventKind, JobStatus, JobStep, utc_now
from lambdas.jobs.transitions import retry, transition
from lambdas.media.errors import NoVideoStream, SourceUnreadable, UnsupportedInput
from lambdas.pipeline.config import JobRef, PipelineConfig
from lambdas.pipeline.encode import encode
from lambdas.pipeline.errors import JobCancelled
from lambdas.pipeline.plan import EncodePlan
from lambdas.pipeline.probe import ProbeResult
from lambdas.pipeline.progress import PROGRESS_PROBED
from lambdas.pipeline.thumbnails import ThumbnailsRequest, make_thumbnails
from lambdas.storage.ports import ObjectInfo
from tests.fakes.jobs import InMemoryJobRepository
from tests.fakes.storage import DirectoryMediaStore
from tests.media_tools import ffprobe_json
from tests.unit.pipeline.conftest import (
    OUTPUTS,
    UPLOADS,
    StartJob,
    encode_request,
    item_ids,
    needs_ffmpeg,
    probe_job,
    steps,
)

pytestmark = needs_ffmpeg


def stored_plan(store: DirectoryMediaStore, result: ProbeResult) -> EncodePlan:
    return EncodePlan.model_validate_json(store.read_bytes(result.plan.bucket, result.plan.key))


def work_keys(store: DirectoryMediaStore, job_id: str) -> list[str]:
    return [o.key for o in store.list_prefix(UPLOADS, keys.work_prefix(job_id))]


def test_a_good_file_is_planned(
    clips: dict[str, Path],
    start_job: StartJob,
    repo: InMemoryJobRepository,
    store: DirectoryMediaStore,
    config: PipelineConfig,
) -> None:
    job = start_job(clips["landscape"], {"renditions": "240p,120p"})
    result = probe_job(job.job_id, repo, store, config)

    assert result.media.video is not None
    assert (result.media.video.width, result.media.video.height) == (320, 240)
    assert result.media.duration == pytest.approx(2.0, abs=0.1)
    assert result.thumbnails.enabled
    assert len(result.thumbnails.times) == 3
    assert result.thumbnails.sprite is not None
    assert result.thumbnails.sprite.count == 2  # one tile a second, at least a second apart

    # The state machine carries only where the plan is: the Map reads items_key, every worker the plan.
    assert result.plan.bucket == UPLOADS
    assert result.plan.key == keys.plan_key(job.job_id, 0) == f"work/{job.job_id}/a0/plan.json"
    assert result.plan.items_key == keys.items_key(job.job_id, 0)
    payload = json.loads(json.dumps(result.model_dump(mode="json")))  # what Step Functions carries
    assert set(payload) == {"media", "plan", "thumbnails"}
    assert ProbeResult.model_validate(payload) == result

    plan = stored_plan(store, result)
    assert (plan.job_id, plan.attempt) == (job.job_id, 0)
    assert plan.media == result.media
    assert [r.name for r in plan.renditions] == ["240p", "120p"]  # as requested, largest first
    assert all(r.track_progress for r in plan.renditions)
    assert all(r.segment_seconds == 1 and r.gop_frames == 30 for r in plan.renditions)
    assert plan.audio
    ids = [i.item_id for i in plan.chunks.items]
    assert item_ids(store, result) == ids
    assert result.plan.items == len(ids)
    assert "audio" in ids
    # Every rendition of every chunk is some item's work, exactly once.
    work = sorted((i.chunk, r) for i in plan.chunks.items if i.chunk is not None for r in i.renditions)
    assert work == sorted((c.index, r.name) for c in plan.chunks.chunks for r in plan.renditions)

    stored = repo.get(job.job_id)
    assert stored.progress == PROGRESS_PROBED
    assert stored.current_step is JobStep.PLAN
    assert steps(repo, job.job_id)[-8:] == [
        (JobStep.PROBE, "started"),
        (JobStep.PROBE, "finished"),
        (JobStep.VALIDATE, "started"),
        (JobStep.VALIDATE, "finished"),
        (JobStep.PLAN, "started"),
        (JobStep.PLAN, "finished"),
        (JobStep.SPLIT, "started"),
        (JobStep.SPLIT, "finished"),
    ]
    split = repo.list_events(job.job_id)[-1]
    assert split.message == f"{len(plan.chunks.chunks)} chunks, {len(ids)} work items"


def test_the_chunks_tile_the_source_on_the_segment_grid(
    clips: dict[str, Path],
    start_job: StartJob,
    repo: InMemoryJobRepository,
    store: DirectoryMediaStore,
    per_segment: PipelineConfig,
) -> None:
    job = start_job(clips["three_seconds"])
    plan = stored_plan(store, probe_job(job.job_id, repo, store, per_segment))
    chunks = plan.chunks.chunks
    assert len(chunks) == 3
    assert [c.first_segment for c in chunks] == [0, 1, 2]
    assert [c.start_frame for c in chunks] == [0, 30, 60]
    assert sum(c.frames for c in chunks) == plan.chunks.total_frames == 90
    assert [c.last for c in chunks] == [False, False, True]
    # One decode per chunk: each item encodes the whole ladder.
    assert [(i.item_id, i.renditions) for i in plan.chunks.items] == [
        ("audio", ()),
        *((f"c{n:05d}", ("240p", "180p", "120p")) for n in range(3)),
    ]


def test_each_chunk_gets_its_piece_and_the_audio_its_own(
    clips: dict[str, Path],
    start_job: StartJob,
    repo: InMemoryJobRepository,
    store: DirectoryMediaStore,
    per_segment: PipelineConfig,
    tmp_path: Path,
) -> None:
    job = start_job(clips["three_seconds"])
    result = probe_job(job.job_id, repo, store, per_segment)
    plan = stored_plan(store, result)
    rate = plan.chunks.rate
    pieces = [keys.piece_key(job.job_id, 0, c.index) for c in plan.chunks.chunks]
    assert sorted(work_keys(store, job.job_id)) == sorted(
        [result.plan.key, result.plan.items_key, keys.audio_piece_key(job.job_id, 0), *pieces]
    )
    frame = float(1 / rate)
    for chunk, key in zip(plan.chunks.chunks, pieces, strict=True):
        local = tmp_path / f"piece_{chunk.index}.mkv"
        local.write_bytes(store.read_bytes(UPLOADS, key))
        info = ffprobe_json(local, "-show_streams", "-show_packets")
        assert [s["codec_type"] for s in info["streams"]] == ["video"]
        packets = info["packets"]
        times = sorted(float(p["pts_time"]) for p in packets)
        # From a keyframe at or before the chunk's start, to at least its last frame: a worker needs no more.
        assert packets[0]["flags"].startswith("K")
        assert times[0] <= chunk.start_s(rate) + 0.001
        assert times[-1] >= chunk.end_s(rate) - frame - 0.001
        assert store.head(UPLOADS, key).content_type == "video/x-matroska"
    audio = tmp_path / "audio.mka"
    audio.write_bytes(store.read_bytes(UPLOADS, keys.audio_piece_key(job.job_id, 0)))
    info = ffprobe_json(audio, "-show_streams", "-show_format")
    assert [s["codec_type"] for s in info["streams"]] == ["audio"]
    assert float(info["format"]["duration"]) == pytest.approx(3.0, abs=0.1)  # the whole audio, never cut


def test_the_source_is_downloaded_once_to_a_fixed_name(
    clips: dict[str, Path],
    start_job: StartJob,
    repo: InMemoryJobRepository,
    store: DirectoryMediaStore,
    config: PipelineConfig,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    job = start_job(clips["landscape"])
    seen: list[Path] = []
    original = store.download

    def spy(bucket: str, key: str, path: Path) -> ObjectInfo:
        seen.append(path)
        return original(bucket, key, path)

    monkeypatch.setattr(store, "download", spy)
    probe_job(job.job_id, repo, store, config)
    assert [p.name for p in seen] == ["source"]


@pytest.mark.parametrize(
    ("clip", "error", "text"),
    [
        ("audio_only", NoVideoStream, "no video stream"),
        ("truncated", SourceUnreadable, "truncated or corrupt"),
        ("playlist", UnsupportedInput, "playlists"),
    ],
)
def test_bad_files_are_typed_errors_and_the_source_is_kept(
    clips: dict[str, Path],
    start_job: StartJob,
    repo: InMemoryJobRepository,
    store: DirectoryMediaStore,
    config: PipelineConfig,
    clip: str,
    error: type[Exception],
    text: str,
) -> None:
    job = start_job(clips[clip])
    with pytest.raises(error, match=text):
        probe_job(job.job_id, repo, store, config)
    assert store.read_bytes(UPLOADS, job.source.key) == clips[clip].read_bytes()
    assert work_keys(store, job.job_id) == []  # no plan, no pieces
    failed = [e for e in repo.list_events(job.job_id) if e.kind is EventKind.FAILED]
    assert len(failed) == 1
    assert text in failed[0].message


def test_a_cancelled_job_is_not_probed(
    clips: dict[str, Path],
    start_job: StartJob,
    repo: InMemoryJobRepository,
    store: DirectoryMediaStore,
    config: PipelineConfig,
) -> None:
    job = start_job(clips["landscape"])
    repo.save_transition(job, transition(job, JobStatus.CANCELLED, utc_now()))
    with pytest.raises(JobCancelled):
        probe_job(job.job_id, repo, store, config)
    assert ("download", UPLOADS, job.source.key) not in store.calls
    assert work_keys(store, job.job_id) == []


def test_a_new_attempt_starts_from_a_clean_slate(
    clips: dict[str, Path],
    start_job: StartJob,
    repo: InMemoryJobRepository,
    store: DirectoryMediaStore,
    config: PipelineConfig,
) -> None:
    """What a failed attempt left (segments, thumbnails, pieces, results) never ends up in the next one."""
    job = start_job(clips["landscape"])
    first = probe_job(job.job_id, repo, store, config)
    encode(encode_request(job.job_id, first, item_ids(store, first)[0]), repo, store, config)
    make_thumbnails(
        ThumbnailsRequest(job=JobRef(job_id=job.job_id), media=first.media, thumbnails=first.thumbnails),
        repo,
        store,
        config,
    )
    assert store.list_prefix(OUTPUTS, keys.stream_prefix(job.job_id))
    assert store.list_prefix(OUTPUTS, keys.thumbnails_prefix(job.job_id))
    assert store.list_prefix(UPLOADS, keys.work_prefix(job.job_id, 0) + "results/")

    current = repo.get(job.job_id)
    failed = repo.save_transition(current, transition(current, JobStatus.FAILED, utc_now(), error_type="Boom"))
    queued = repo.save_transition(failed, retry(failed, utc_now()))
    repo.save_transition(queued, transition(queued, JobStatus.PROCESSING, utc_now()))

    second = probe_job(job.job_id, repo, store, config)
    assert second.plan.key == keys.plan_key(job.job_id, 1)
    assert stored_plan(store, second).attempt == 1
    assert store.list_prefix(OUTPUTS, keys.output_prefix(job.job_id)) == []
    assert store.list_prefix(UPLOADS, keys.work_prefix(job.job_id, 0)) == []
    assert all(k.startswith(keys.work_prefix(job.job_id, 1)) for k in work_keys(store, job.job_id))
    assert store.read_bytes(UPLOADS, job.source.key) == clips["landscape"].read_bytes()  # the source stays
    assert repo.work_done(job.job_id, 1) == frozenset()


@pytest.mark.parametrize("content", [b"", b"\x1a\x45\xdf\xa3" + b"\x00" * 40])
def test_a_piece_without_packets_reads_as_too_late_so_the_cut_backs_off(tmp_path: Path, content: bytes) -> None:
    """A seek past every packet (MPEG-TS near its end) leaves a header-only piece that ffprobe cannot read."""
    from lambdas.media.runner import run
    from lambdas.pipeline.probe import _first_timestamp

    piece = tmp_path / "piece_00001.mkv"
    piece.write_bytes(content)
    assert _first_timestamp(piece, run) == float("inf")
