"""Watchable before it completes: EVENT playlists over the leading chunks encoded so far, VOD once packaged."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import m3u8
import pytest

from lambdas import keys
from lambdas.jobs.model import Job, JobStatus, utc_now
from lambdas.jobs.ports import JobNotProcessing
from lambdas.jobs.transitions import transition
from lambdas.pipeline.config import CACHE_LIVE_PLAYLIST, CACHE_PLAYLIST, PipelineConfig
from lambdas.pipeline.encode import encode
from lambdas.pipeline.errors import JobCancelled
from lambdas.pipeline.package import package
from lambdas.pipeline.plan import EncodePlan
from lambdas.pipeline.preview import publish_preview
from lambdas.pipeline.probe import ProbeResult
from tests.fakes.jobs import InMemoryJobRepository
from tests.fakes.storage import DirectoryMediaStore
from tests.unit.pipeline.conftest import (
    OUTPUTS,
    cancel,
    encode_request,
    needs_ffmpeg,
    package_request,
    probe_job,
    start_on,
)

pytestmark = needs_ffmpeg

TRACKS = ("240p", "180p", "120p", keys.AUDIO_TRACK)


class Interleaved(InMemoryJobRepository):
    """Runs `then` once, right after the next claim that succeeds: what another party did meanwhile."""

    then: Callable[[str], None] | None = None

    def mark_playable(self, job_id: str, segments: int, url: str) -> bool:
        claimed = super().mark_playable(job_id, segments, url)
        if claimed and self.then is not None:
            then, self.then = self.then, None
            then(job_id)
        return claimed


@pytest.fixture
def repo() -> Interleaved:
    return Interleaved()


@pytest.fixture
def started(
    clips: dict[str, Path], repo: Interleaved, store: DirectoryMediaStore, per_segment: PipelineConfig
) -> tuple[Job, ProbeResult]:
    """A 3 s job cut into three one-second chunks, probed: items audio, c00000, c00001, c00002."""
    job = start_on(repo, store, per_segment, clips["three_seconds"])
    return job, probe_job(job.job_id, repo, store, per_segment)


def run(
    job: Job, planned: ProbeResult, item_id: str, repo: Interleaved, store: DirectoryMediaStore, config: PipelineConfig
) -> None:
    encode(encode_request(job.job_id, planned, item_id), repo, store, config)


def playlist(store: DirectoryMediaStore, job_id: str, track: str) -> m3u8.M3U8:
    return m3u8.loads(store.read_bytes(OUTPUTS, keys.track_prefix(job_id, track) + keys.MEDIA_PLAYLIST).decode())


def preview_state(store: DirectoryMediaStore, job_id: str) -> dict[str, tuple[str | None, int, bool]]:
    """Per track: playlist type, segments listed, ended."""
    state = {}
    for track in TRACKS:
        media = playlist(store, job_id, track)
        state[track] = (media.playlist_type, len(media.segments), media.is_endlist)
    return state


def test_the_playable_part_grows_with_the_leading_chunks_then_becomes_vod(
    started: tuple[Job, ProbeResult], repo: Interleaved, store: DirectoryMediaStore, per_segment: PipelineConfig
) -> None:
    job, planned = started
    master = keys.master_key(job.job_id)
    url = f"https://cdn.example.com/{master}"

    run(job, planned, "audio", repo, store, per_segment)
    assert repo.get(job.job_id).playable_segments == 0
    assert store.list_prefix(OUTPUTS, master) == []  # no video yet: nothing to watch

    run(job, planned, "c00000", repo, store, per_segment)
    first = repo.get(job.job_id)
    assert (first.playable_segments, first.playable_url) == (1, url)
    assert first.playable_at is not None
    assert preview_state(store, job.job_id) == dict.fromkeys(TRACKS, ("event", 1, False))
    assert store.head(OUTPUTS, master).cache_control == CACHE_LIVE_PLAYLIST
    variants = m3u8.loads(store.read_bytes(OUTPUTS, master).decode())
    assert [v.uri for v in variants.playlists] == ["240p/index.m3u8", "180p/index.m3u8", "120p/index.m3u8"]
    assert [m.uri for m in variants.media] == ["audio/index.m3u8"]
    # Every segment a preview lists is stored already.
    for track in TRACKS:
        for segment in playlist(store, job.job_id, track).segments:
            assert store.head(OUTPUTS, keys.track_prefix(job.job_id, track) + segment.uri).size > 0

    run(job, planned, "c00001", repo, store, per_segment)
    second = repo.get(job.job_id)
    assert second.playable_segments == 2
    assert second.playable_at == first.playable_at  # the first time it became watchable
    assert preview_state(store, job.job_id) == dict.fromkeys(TRACKS, ("event", 2, False))

    # The last chunk completes the encode: PackageOutputs, not the worker, ends the playlists.
    run(job, planned, "c00002", repo, store, per_segment)
    assert repo.get(job.job_id).playable_segments == 2
    assert preview_state(store, job.job_id) == dict.fromkeys(TRACKS, ("event", 2, False))

    package(package_request(job, planned), repo, store, per_segment)
    assert preview_state(store, job.job_id) == dict.fromkeys(TRACKS, ("vod", 3, True))
    assert store.head(OUTPUTS, master).cache_control == CACHE_PLAYLIST


def test_nothing_is_playable_until_the_first_chunk_and_the_audio_are_done(
    started: tuple[Job, ProbeResult], repo: Interleaved, store: DirectoryMediaStore, per_segment: PipelineConfig
) -> None:
    job, planned = started
    run(job, planned, "c00001", repo, store, per_segment)
    run(job, planned, "c00000", repo, store, per_segment)
    assert repo.get(job.job_id).playable_segments == 0  # the audio is missing
    assert store.list_prefix(OUTPUTS, keys.master_key(job.job_id)) == []
    run(job, planned, "audio", repo, store, per_segment)
    assert repo.get(job.job_id).playable_segments == 2  # both leading chunks at once
    assert preview_state(store, job.job_id) == dict.fromkeys(TRACKS, ("event", 2, False))


def test_a_claim_below_the_stored_one_writes_nothing(
    started: tuple[Job, ProbeResult],
    repo: Interleaved,
    store: DirectoryMediaStore,
    per_segment: PipelineConfig,
    tmp_path: Path,
) -> None:
    """A slow worker that finished an earlier chunk must not shrink what a faster one already published."""
    job, planned = started
    for item_id in ("audio", "c00000", "c00001"):
        run(job, planned, item_id, repo, store, per_segment)
    plan = EncodePlan.model_validate_json(store.read_bytes(planned.plan.bucket, planned.plan.key))
    uploads = len([c for c in store.calls if c[0] == "upload"])

    published = publish_preview(
        plan, frozenset({"audio", "c00000"}), repository=repo, store=store, config=per_segment, tmp=tmp_path
    )

    assert published == 0
    assert len([c for c in store.calls if c[0] == "upload"]) == uploads
    assert repo.get(job.job_id).playable_segments == 2
    assert preview_state(store, job.job_id) == dict.fromkeys(TRACKS, ("event", 2, False))


def test_the_stored_playlists_catch_up_with_a_claim_that_landed_before_their_upload(
    started: tuple[Job, ProbeResult], repo: Interleaved, store: DirectoryMediaStore, per_segment: PipelineConfig
) -> None:
    """Workers A (chunk 0) and B (chunk 1) finish together: B claims 2 segments and writes its playlists
    between A's claim of 1 and A's upload, which overwrites them. A reads the claim back and must write again."""
    job, planned = started
    run(job, planned, "audio", repo, store, per_segment)
    repo.then = lambda job_id: run(job, planned, "c00001", repo, store, per_segment)  # worker B, in full

    run(job, planned, "c00000", repo, store, per_segment)  # worker A

    assert repo.then is None  # B did run in between
    claimed = repo.get(job.job_id).playable_segments
    assert claimed == 2
    assert preview_state(store, job.job_id) == dict.fromkeys(TRACKS, ("event", claimed, False))


def test_a_cancel_after_the_claim_leaves_no_playlist_behind(
    started: tuple[Job, ProbeResult], repo: Interleaved, store: DirectoryMediaStore, per_segment: PipelineConfig
) -> None:
    """The API deletes a cancelled job's outputs once; playlists uploaded after that delete must be withdrawn."""
    job, planned = started
    run(job, planned, "audio", repo, store, per_segment)
    repo.then = lambda job_id: cancel(repo, store, job_id)

    with pytest.raises(JobCancelled):
        run(job, planned, "c00000", repo, store, per_segment)

    assert repo.get(job.job_id).status is JobStatus.CANCELLED
    assert store.list_prefix(OUTPUTS, keys.output_prefix(job.job_id)) == []


def test_a_job_failed_meanwhile_is_reported_as_not_processing(
    started: tuple[Job, ProbeResult],
    repo: Interleaved,
    store: DirectoryMediaStore,
    per_segment: PipelineConfig,
    tmp_path: Path,
) -> None:
    """Another item failed the job (MarkItemFailed) just before this claim: not a cancel, and not reported as one."""
    job, planned = started
    plan = EncodePlan.model_validate_json(store.read_bytes(planned.plan.bucket, planned.plan.key))
    current = repo.get(job.job_id)
    repo.save_transition(current, transition(current, JobStatus.FAILED, utc_now(), error_type="TranscodeFailed"))

    with pytest.raises(JobNotProcessing):
        publish_preview(
            plan, frozenset({"audio", "c00000"}), repository=repo, store=store, config=per_segment, tmp=tmp_path
        )
