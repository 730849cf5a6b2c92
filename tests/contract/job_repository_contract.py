"""The JobRepository contract: one suite that every implementation (fake, DynamoDB adapter) passes."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from lambdas.jobs.model import (
    AudioLoudness,
    Caption,
    CaptionFormat,
    CaptionStatus,
    EventKind,
    Job,
    JobEvent,
    JobOutputs,
    JobStatus,
    JobStep,
    OutputFile,
    OutputKind,
    Source,
    new_job_id,
)
from lambdas.jobs.ports import (
    ConcurrentUpdate,
    IllegalTransition,
    InvalidCursor,
    JobAlreadyExists,
    JobNotFound,
    JobNotProcessing,
    JobRepository,
    UnknownRendition,
)
from lambdas.jobs.transitions import retry, transition

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
S = JobStatus

RepositoryFactory = Callable[[Callable[[], datetime]], JobRepository]


class Clock:
    def __init__(self, now: datetime = T0) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float = 1) -> datetime:
        self.now += timedelta(seconds=seconds)
        return self.now


def make_job(
    owner: str = "alice",
    *,
    created_at: datetime = T0,
    priority: int = 5,
    renditions: tuple[str, ...] = ("1080p", "720p"),
) -> Job:
    return Job.new(
        owner=owner,
        source=Source(bucket="uploads-bucket", key=f"uploads/{owner}/movie.mov"),
        requested_renditions=renditions,
        requested_outputs=(OutputKind.HLS, OutputKind.MP4, OutputKind.THUMBNAILS),
        priority=priority,
        now=created_at,
    )


class JobRepositoryContract:
    """Subclass it and provide a `repository_factory` fixture: clock -> a fresh, empty repository.

    class TestMyRepository(JobRepositoryContract):
        @pytest.fixture
        def repository_factory(self) -> RepositoryFactory:
            return lambda clock: MyRepository(clock=clock)
    """

    @pytest.fixture
    def clock(self) -> Clock:
        return Clock()

    @pytest.fixture
    def repo(self, repository_factory: RepositoryFactory, clock: Clock) -> JobRepository:
        return repository_factory(clock)

    # --- helpers ----------------------------------------------------------------------------------

    @staticmethod
    def advance(repo: JobRepository, job: Job, *statuses: JobStatus, now: datetime = T0) -> Job:
        """Store the job and walk it through `statuses`, each a second apart."""
        repo.create(job)
        for offset, status in enumerate(statuses, start=1):
            changes: dict[str, object] = {}
            if status is S.QUEUED:
                changes["source"] = job.source.model_copy(update={"size": 1_048_576, "etag": '"abc123"'})
            if status is S.FAILED:
                changes |= {"error_type": "SourceUnreadable", "error_message": "moov atom not found"}
            after = transition(job, status, now + timedelta(seconds=offset), **changes)
            job = repo.save_transition(job, after)
        return job

    # --- create / get -----------------------------------------------------------------------------

    def test_create_then_get_returns_the_same_job(self, repo: JobRepository) -> None:
        job = make_job()
        repo.create(job)
        assert repo.get(job.job_id) == job

    def test_a_full_record_round_trips(self, repo: JobRepository) -> None:
        job = make_job(priority=9)
        done = self.advance(repo, job, S.QUEUED, S.PROCESSING)
        finished = transition(
            done,
            S.COMPLETED,
            T0 + timedelta(minutes=5),
            execution_arn="arn:aws:states:us-east-1:000000000000:execution:transcode:" + job.job_id,
            metrics={JobStep.PROBE: 0.25, JobStep.SPLIT: 3.5, JobStep.TRANSCODE: 181.5},
            outputs={
                "playback_url": f"https://cdn.example.com/outputs/{job.job_id}/cmaf/master.m3u8",
                "manifest_key": f"outputs/{job.job_id}/cmaf/master.m3u8",
                "dash_url": f"https://cdn.example.com/outputs/{job.job_id}/cmaf/manifest.mpd",
                "dash_manifest_key": f"outputs/{job.job_id}/cmaf/manifest.mpd",
                "encode_cpu_seconds": 1234.567,
                "files": [
                    {"kind": "hls", "key": "a/1080p.m3u8", "size_bytes": 123, "rendition": "1080p"},
                    {"kind": "dash", "key": "a/manifest.mpd", "size_bytes": 2048, "duration_seconds": 12.04},
                    {
                        "kind": "mp4",
                        "key": "a/720p.mp4",
                        "size_bytes": 9_000_000_000,
                        "duration_seconds": 12.04,
                    },
                    {"kind": "thumbnails", "key": "a/poster.jpg", "size_bytes": 4096},
                ],
            },
        )
        saved = repo.save_transition(done, finished)
        # Every write adds one to the revision; everything else is stored as given.
        assert saved == finished.model_copy(update={"revision": done.revision + 1})
        assert repo.get(job.job_id) == saved

    def test_create_refuses_an_existing_id(self, repo: JobRepository) -> None:
        job = make_job()
        repo.create(job)
        with pytest.raises(JobAlreadyExists):
            repo.create(job.model_copy(update={"owner": "mallory"}))
        assert repo.get(job.job_id).owner == "alice"

    @pytest.mark.parametrize("job_id", [new_job_id(T0), "not-a-job-id", ""], ids=["ulid", "not-an-id", "empty"])
    def test_get_unknown_job(self, repo: JobRepository, job_id: str) -> None:
        with pytest.raises(JobNotFound):
            repo.get(job_id)

    def test_get_for_owner_hides_other_owners_jobs(self, repo: JobRepository) -> None:
        job = make_job("alice")
        repo.create(job)
        assert repo.get_for_owner("alice", job.job_id) == job
        with pytest.raises(JobNotFound):
            repo.get_for_owner("bob", job.job_id)
        with pytest.raises(JobNotFound):
            repo.get_for_owner("alice", new_job_id(T0))

    # --- save_transition --------------------------------------------------------------------------

    def test_save_transition_walks_the_life_cycle(self, repo: JobRepository) -> None:
        job = make_job()
        done = self.advance(repo, job, S.QUEUED, S.PROCESSING)
        stored = repo.get(job.job_id)
        assert stored == done
        assert (stored.status, stored.version) == (S.PROCESSING, 3)
        assert stored.source.size == 1_048_576
        assert stored.queued_at == T0 + timedelta(seconds=1)
        assert stored.started_at == T0 + timedelta(seconds=2)

    def test_save_transition_refuses_an_illegal_move_before_writing(self, repo: JobRepository) -> None:
        job = make_job()
        repo.create(job)
        forged = job.model_copy(update={"status": S.PROCESSING, "version": 2, "started_at": T0})
        with pytest.raises(IllegalTransition):
            repo.save_transition(job, forged)
        assert repo.get(job.job_id) == job

    def test_save_transition_needs_the_next_version(self, repo: JobRepository) -> None:
        job = make_job()
        repo.create(job)
        after = transition(job, S.CANCELLED, T0).model_copy(update={"version": job.version + 2})
        with pytest.raises(ValueError, match="version"):
            repo.save_transition(job, after)
        assert repo.get(job.job_id) == job

    def test_save_transition_of_an_unknown_job(self, repo: JobRepository) -> None:
        job = make_job()
        with pytest.raises(JobNotFound):
            repo.save_transition(job, transition(job, S.CANCELLED, T0))

    def test_losing_a_race_to_a_terminal_state_is_an_illegal_transition(self, repo: JobRepository) -> None:
        processing = self.advance(repo, make_job(), S.QUEUED, S.PROCESSING)
        repo.save_transition(processing, transition(processing, S.CANCELLED, T0 + timedelta(minutes=1)))
        late = transition(processing, S.COMPLETED, T0 + timedelta(minutes=2))
        with pytest.raises(IllegalTransition):
            repo.save_transition(processing, late)
        assert repo.get(processing.job_id).status is S.CANCELLED

    def test_losing_a_race_that_can_be_redone_is_a_concurrent_update(self, repo: JobRepository) -> None:
        queued = self.advance(repo, make_job(), S.QUEUED)
        repo.save_transition(queued, transition(queued, S.PROCESSING, T0 + timedelta(minutes=1)))
        stale = transition(queued, S.FAILED, T0 + timedelta(minutes=2), error_type="Timeout")
        with pytest.raises(ConcurrentUpdate):
            repo.save_transition(queued, stale)
        # Read again and redo: now it applies.
        fresh = repo.get(queued.job_id)
        saved = repo.save_transition(fresh, transition(fresh, S.FAILED, T0 + timedelta(minutes=3), error_type="X"))
        assert saved.status is S.FAILED

    def test_the_same_snapshot_cannot_be_saved_twice(self, repo: JobRepository) -> None:
        job = make_job()
        repo.create(job)
        cancelled = transition(job, S.CANCELLED, T0)
        repo.save_transition(job, cancelled)
        with pytest.raises(IllegalTransition):
            repo.save_transition(job, cancelled)

    def test_save_transition_keeps_progress_recorded_meanwhile(self, repo: JobRepository, clock: Clock) -> None:
        snapshot = self.advance(repo, make_job(), S.QUEUED, S.PROCESSING)
        clock.advance(10)
        assert repo.update_progress(snapshot.job_id, JobStep.TRANSCODE, 40)
        assert repo.update_progress(snapshot.job_id, JobStep.TRANSCODE, 55, rendition="1080p")
        failed = transition(snapshot, S.FAILED, clock.advance(), error_type="RenditionFailed")
        saved = repo.save_transition(snapshot, failed)
        assert saved.status is S.FAILED
        assert saved.progress == 40
        assert saved.rendition_progress == {"1080p": 55}
        assert saved.current_step is JobStep.TRANSCODE
        assert repo.get(snapshot.job_id) == saved

    def test_completion_sets_progress_to_100(self, repo: JobRepository) -> None:
        processing = self.advance(repo, make_job(), S.QUEUED, S.PROCESSING)
        repo.update_progress(processing.job_id, JobStep.PACKAGE, 90)
        saved = repo.save_transition(processing, transition(processing, S.COMPLETED, T0 + timedelta(hours=1)))
        assert saved.progress == 100
        assert repo.get(processing.job_id).completed_at == T0 + timedelta(hours=1)

    def test_captions_are_stored_over_the_revision_they_were_read_at(self, repo: JobRepository) -> None:
        processing = self.advance(repo, make_job(), S.QUEUED, S.PROCESSING)
        video = OutputFile(kind=OutputKind.HLS, key="outputs/x/cmaf/master.m3u8", size_bytes=10)
        completed = repo.save_transition(
            processing,
            transition(processing, S.COMPLETED, T0 + timedelta(hours=1), outputs=JobOutputs(files=(video,))),
        )
        caption = Caption(
            caption_id="cap_0123456789abcdef",
            language="pt-BR",
            label="Português",
            format=CaptionFormat.SRT,
            status=CaptionStatus.READY,
            created_at=T0,
            key="outputs/x/cmaf/subtitles/cap_0123456789abcdef/captions.vtt",
            cue_count=3,
            size_bytes=120,
            removed=("script",),
        )
        track = OutputFile(kind=OutputKind.CAPTIONS, key=caption.key or "", size_bytes=120)
        saved = repo.save_captions(completed, (caption,), (video, track))
        assert saved.captions == (caption,)
        assert saved.outputs is not None
        assert saved.outputs.files == (video, track)
        assert saved.revision == completed.revision + 1
        assert saved.status is S.COMPLETED
        assert saved.version == completed.version  # not a transition
        assert repo.get(completed.job_id) == saved
        with pytest.raises(ConcurrentUpdate):  # read before the write above: redo from the stored job
            repo.save_captions(completed, (), (video,))
        assert repo.save_captions(saved, (), (video,)).captions == ()

    def test_captions_only_on_a_completed_job(self, repo: JobRepository) -> None:
        queued = self.advance(repo, make_job(), S.QUEUED)
        with pytest.raises(ConcurrentUpdate):
            repo.save_captions(queued, (), ())
        with pytest.raises(JobNotFound):
            repo.save_captions(make_job(), (), ())

    def test_retry_is_stored_and_resets_the_attempt(self, repo: JobRepository, clock: Clock) -> None:
        processing = self.advance(repo, make_job(), S.QUEUED, S.PROCESSING)
        repo.update_progress(processing.job_id, JobStep.TRANSCODE, 70, rendition="720p")
        repo.update_progress(processing.job_id, JobStep.TRANSCODE, 35)
        failed = repo.save_transition(
            processing, transition(processing, S.FAILED, T0 + timedelta(minutes=9), error_type="Timeout")
        )
        again = repo.save_transition(failed, retry(failed, T0 + timedelta(minutes=10)))
        assert again.status is S.QUEUED
        assert again.retry_count == 1
        assert (again.progress, again.rendition_progress, again.error_type) == (0, {}, None)
        assert again.completed_at is None
        assert repo.get(processing.job_id) == again
        assert [j.job_id for j in repo.list_by_status(S.QUEUED)] == [again.job_id]
        assert repo.list_by_status(S.FAILED) == []

    # --- progress ---------------------------------------------------------------------------------

    def test_progress_is_monotonic(self, repo: JobRepository, clock: Clock) -> None:
        job = self.advance(repo, make_job(), S.QUEUED, S.PROCESSING)
        clock.advance(60)
        assert repo.update_progress(job.job_id, JobStep.PROBE, 10) is True
        assert repo.update_progress(job.job_id, JobStep.TRANSCODE, 5) is False
        assert repo.update_progress(job.job_id, JobStep.TRANSCODE, 10) is False
        stored = repo.get(job.job_id)
        assert (stored.progress, stored.current_step) == (10, JobStep.PROBE)
        at = clock.advance(5)
        assert repo.update_progress(job.job_id, JobStep.TRANSCODE, 30) is True
        stored = repo.get(job.job_id)
        assert (stored.progress, stored.current_step, stored.updated_at) == (30, JobStep.TRANSCODE, at)
        assert stored.version == job.version  # progress does not bump the version

    def test_every_write_adds_one_to_the_revision_and_a_refused_one_nothing(
        self, repo: JobRepository, clock: Clock
    ) -> None:
        created = make_job()
        assert created.revision == 1
        job = self.advance(repo, created, S.QUEUED, S.PROCESSING)
        assert job.revision == 3
        clock.advance(1)
        assert repo.update_progress(job.job_id, JobStep.TRANSCODE, 20) is True
        assert repo.update_progress(job.job_id, JobStep.TRANSCODE, 10) is False  # not an increase: not written
        assert repo.mark_playable(job.job_id, 2, "https://cdn.example.com/a.m3u8") is True
        stored = repo.get(job.job_id)
        assert (stored.revision, stored.version) == (5, job.version)
        done = repo.save_transition(stored, transition(stored, S.COMPLETED, clock.advance(1)))
        assert (done.revision, repo.get(job.job_id).revision) == (6, 6)

    def test_rendition_progress_is_monotonic_per_rendition(self, repo: JobRepository) -> None:
        job = self.advance(repo, make_job(), S.QUEUED, S.PROCESSING)
        assert repo.update_progress(job.job_id, JobStep.TRANSCODE, 0, rendition="1080p") is True
        assert repo.update_progress(job.job_id, JobStep.TRANSCODE, 50, rendition="1080p") is True
        assert repo.update_progress(job.job_id, JobStep.TRANSCODE, 20, rendition="720p") is True
        assert repo.update_progress(job.job_id, JobStep.TRANSCODE, 40, rendition="1080p") is False
        stored = repo.get(job.job_id)
        assert stored.rendition_progress == {"1080p": 50, "720p": 20}
        assert stored.progress == 0

    @pytest.mark.parametrize("statuses", [(), (S.QUEUED,), (S.QUEUED, S.PROCESSING, S.CANCELLED)])
    def test_progress_only_while_processing(self, repo: JobRepository, statuses: tuple[JobStatus, ...]) -> None:
        job = self.advance(repo, make_job(), *statuses)
        with pytest.raises(JobNotProcessing):
            repo.update_progress(job.job_id, JobStep.TRANSCODE, 50)
        with pytest.raises(JobNotProcessing):
            repo.update_progress(job.job_id, JobStep.TRANSCODE, 50, rendition="720p")
        assert repo.get(job.job_id) == job

    @pytest.mark.parametrize("rendition", ["480p", "1080P", "", "bad name#1"])
    def test_progress_for_a_rendition_not_requested(self, repo: JobRepository, rendition: str) -> None:
        job = self.advance(repo, make_job(), S.QUEUED, S.PROCESSING)
        with pytest.raises(UnknownRendition):
            repo.update_progress(job.job_id, JobStep.TRANSCODE, 50, rendition=rendition)

    @pytest.mark.parametrize("percent", [-1, 101])
    def test_progress_out_of_range(self, repo: JobRepository, percent: int) -> None:
        job = self.advance(repo, make_job(), S.QUEUED, S.PROCESSING)
        with pytest.raises(ValueError, match="percent"):
            repo.update_progress(job.job_id, JobStep.TRANSCODE, percent)

    def test_progress_of_an_unknown_job(self, repo: JobRepository) -> None:
        with pytest.raises(JobNotFound):
            repo.update_progress(new_job_id(T0), JobStep.TRANSCODE, 50)

    # --- progress: the ETA --------------------------------------------------------------------------

    def test_the_eta_goes_with_an_increase_of_the_overall_progress(self, repo: JobRepository, clock: Clock) -> None:
        job = self.advance(repo, make_job(), S.QUEUED, S.PROCESSING)
        eta = T0 + timedelta(minutes=5, microseconds=250)
        assert repo.update_progress(job.job_id, JobStep.TRANSCODE, 30, eta_at=eta) is True
        stored = repo.get(job.job_id)
        assert (stored.progress, stored.eta_at, stored.version) == (30, eta, job.version)
        # Not an increase: neither the percent nor the estimate is written.
        assert repo.update_progress(job.job_id, JobStep.TRANSCODE, 30, eta_at=eta + timedelta(hours=1)) is False
        assert repo.get(job.job_id).eta_at == eta
        # A rendition's progress never sets the job's estimate; progress without one keeps the last.
        later = eta + timedelta(hours=2)
        assert repo.update_progress(job.job_id, JobStep.TRANSCODE, 50, rendition="720p", eta_at=later) is True
        assert repo.update_progress(job.job_id, JobStep.TRANSCODE, 40) is True
        assert repo.get(job.job_id).eta_at == eta
        # A newer estimate replaces the old one, sooner or not.
        sooner = T0 + timedelta(minutes=2)
        assert repo.update_progress(job.job_id, JobStep.TRANSCODE, 60, eta_at=sooner) is True
        assert repo.get(job.job_id).eta_at == sooner

    # --- work items of an attempt -------------------------------------------------------------------

    def test_work_done_accumulates_per_attempt(self, repo: JobRepository) -> None:
        job = self.advance(repo, make_job(), S.QUEUED, S.PROCESSING)
        assert repo.work_done(job.job_id, 0) == frozenset()
        assert repo.record_work_done(job.job_id, 0, "audio") == {"audio"}
        assert repo.record_work_done(job.job_id, 0, "c00001-720p") == {"audio", "c00001-720p"}
        assert repo.record_work_done(job.job_id, 0, "audio") == {"audio", "c00001-720p"}  # a retried item
        assert repo.work_done(job.job_id, 0) == {"audio", "c00001-720p"}
        # A new attempt starts from nothing, and leaves the old one as it was.
        assert repo.work_done(job.job_id, 1) == frozenset()
        assert repo.record_work_done(job.job_id, 1, "c00000") == {"c00000"}
        assert repo.work_done(job.job_id, 0) == {"audio", "c00001-720p"}
        # Neither the job record nor its history changes.
        assert repo.get(job.job_id) == job
        assert repo.list_events(job.job_id) == []

    def test_work_done_belongs_to_its_job(self, repo: JobRepository) -> None:
        one = self.advance(repo, make_job(), S.QUEUED, S.PROCESSING)
        two = self.advance(repo, make_job(created_at=T0 + timedelta(seconds=1)), S.QUEUED, S.PROCESSING)
        repo.record_work_done(one.job_id, 0, "audio")
        assert repo.work_done(two.job_id, 0) == frozenset()
        assert repo.record_work_done(two.job_id, 0, "c00000") == {"c00000"}

    def test_many_work_items(self, repo: JobRepository) -> None:
        """A two-hour source has hundreds of items: all of them come back, not the first page."""
        job = self.advance(repo, make_job(), S.QUEUED, S.PROCESSING)
        ids = {f"c{n:05d}-1080p" for n in range(300)}
        for item_id in sorted(ids):
            repo.record_work_done(job.job_id, 2, item_id)
        assert repo.work_done(job.job_id, 2) == ids

    @pytest.mark.parametrize("job_id", [new_job_id(T0), "not-a-job-id"], ids=["ulid", "not-an-id"])
    def test_work_of_an_unknown_job(self, repo: JobRepository, job_id: str) -> None:
        with pytest.raises(JobNotFound):
            repo.record_work_done(job_id, 0, "audio")
        with pytest.raises(JobNotFound):
            repo.work_done(job_id, 0)

    # --- watchable before it completes --------------------------------------------------------------

    def test_the_playable_claim_only_grows(self, repo: JobRepository, clock: Clock) -> None:
        job = self.advance(repo, make_job(), S.QUEUED, S.PROCESSING)
        url = f"https://cdn.example.com/outputs/{job.job_id}/cmaf/master.m3u8"
        first = clock.advance(30)
        assert repo.mark_playable(job.job_id, 2, url) is True
        stored = repo.get(job.job_id)
        assert (stored.playable_segments, stored.playable_url, stored.playable_at) == (2, url, first)
        assert (stored.updated_at, stored.version) == (first, job.version)  # like progress: no version bump
        clock.advance(5)
        assert repo.mark_playable(job.job_id, 2, url) is False
        assert repo.mark_playable(job.job_id, 1, url) is False
        assert repo.get(job.job_id) == stored
        later = clock.advance(5)
        assert repo.mark_playable(job.job_id, 5, url) is True
        stored = repo.get(job.job_id)
        assert (stored.playable_segments, stored.playable_at, stored.updated_at) == (5, first, later)

    @pytest.mark.parametrize("statuses", [(), (S.QUEUED,), (S.QUEUED, S.PROCESSING, S.CANCELLED)])
    def test_playable_only_while_processing(self, repo: JobRepository, statuses: tuple[JobStatus, ...]) -> None:
        job = self.advance(repo, make_job(), *statuses)
        with pytest.raises(JobNotProcessing):
            repo.mark_playable(job.job_id, 1, "https://cdn.example.com/x/master.m3u8")
        assert repo.get(job.job_id) == job

    def test_playable_of_an_unknown_job(self, repo: JobRepository) -> None:
        with pytest.raises(JobNotFound):
            repo.mark_playable(new_job_id(T0), 1, "https://cdn.example.com/x/master.m3u8")

    def test_audio_ready_records_the_files_once_and_a_retry_clears_them(
        self, repo: JobRepository, clock: Clock
    ) -> None:
        job = self.advance(repo, make_job(), S.QUEUED, S.PROCESSING)
        files = (
            OutputFile(
                kind=OutputKind.AUDIO, key=f"outputs/{job.job_id}/audio/audio.m4a", size_bytes=10, duration_seconds=2.5
            ),
            OutputFile(kind=OutputKind.WAV16K, key=f"outputs/{job.job_id}/audio/audio-16k.wav", size_bytes=20),
        )
        loudness = (
            AudioLoudness(mix="stereo", target_lufs=-16, input_lufs=-30.25, output_lufs=-16.01, mode="linear"),
            AudioLoudness(mix="mono", target_lufs=-16, mode="silent"),
        )
        first = clock.advance(3)
        assert repo.mark_audio_ready(job.job_id, files, loudness) is True
        stored = repo.get(job.job_id)
        assert (stored.audio_files, stored.audio_loudness, stored.audio_ready_at) == (files, loudness, first)
        assert (stored.version, stored.revision) == (job.version, job.revision + 1)
        clock.advance(3)
        assert repo.mark_audio_ready(job.job_id, files[:1]) is False  # a retried item: rewritten, not ready again
        again = repo.get(job.job_id)
        assert (again.audio_files, again.audio_loudness, again.audio_ready_at) == (files[:1], (), first)
        failed = repo.save_transition(again, transition(again, S.FAILED, clock.advance(1), error_type="X"))
        queued = repo.save_transition(failed, retry(failed, clock.advance(1)))
        assert (queued.audio_files, queued.audio_loudness, queued.audio_ready_at) == ((), (), None)

    @pytest.mark.parametrize("statuses", [(), (S.QUEUED,), (S.QUEUED, S.PROCESSING, S.CANCELLED)])
    def test_audio_ready_only_while_processing(self, repo: JobRepository, statuses: tuple[JobStatus, ...]) -> None:
        job = self.advance(repo, make_job(), *statuses)
        with pytest.raises(JobNotProcessing):
            repo.mark_audio_ready(job.job_id, ())
        assert repo.get(job.job_id) == job
        with pytest.raises(JobNotFound):
            repo.mark_audio_ready(new_job_id(T0), ())

    def test_the_source_duration_is_recorded_while_processing(self, repo: JobRepository, clock: Clock) -> None:
        job = self.advance(repo, make_job(), S.QUEUED, S.PROCESSING)
        assert repo.record_source_duration(job.job_id, 12.345678) is True
        stored = repo.get(job.job_id)
        assert stored.source_duration_s == pytest.approx(12.345678)
        assert (stored.version, stored.revision) == (job.version, job.revision + 1)  # a write: revision, not version
        assert repo.record_source_duration(job.job_id, 12.345678) is False  # the same again: no write
        assert repo.get(job.job_id).revision == stored.revision
        queued = self.advance(repo, make_job(), S.QUEUED)
        with pytest.raises(JobNotProcessing):
            repo.record_source_duration(queued.job_id, 1.0)
        with pytest.raises(JobNotFound):
            repo.record_source_duration(new_job_id(T0), 1.0)

    def test_a_retry_clears_the_estimate_and_the_playable_part(self, repo: JobRepository, clock: Clock) -> None:
        processing = self.advance(repo, make_job(), S.QUEUED, S.PROCESSING)
        repo.update_progress(processing.job_id, JobStep.TRANSCODE, 50, eta_at=T0 + timedelta(hours=1))
        repo.mark_playable(processing.job_id, 3, "https://cdn.example.com/x/master.m3u8")
        current = repo.get(processing.job_id)
        failed = repo.save_transition(
            current, transition(current, S.FAILED, clock.advance(60), error_type="TranscodeFailed")
        )
        assert (failed.eta_at, failed.playable_segments) == (T0 + timedelta(hours=1), 3)  # kept for the record
        again = repo.save_transition(failed, retry(failed, clock.advance(60)))
        stored = repo.get(processing.job_id)
        assert stored == again
        assert (stored.eta_at, stored.playable_at, stored.playable_url, stored.playable_segments) == (
            None,
            None,
            None,
            0,
        )
        # The next attempt can become watchable again from its first segment.
        repo.save_transition(stored, transition(stored, S.PROCESSING, clock.advance(1)))
        assert repo.mark_playable(processing.job_id, 1, "https://cdn.example.com/x/master.m3u8") is True

    # --- events -----------------------------------------------------------------------------------

    def test_events_are_listed_oldest_first(self, repo: JobRepository) -> None:
        job = make_job()
        repo.create(job)
        assert repo.list_events(job.job_id) == []
        later = JobEvent(time=T0 + timedelta(seconds=2), step=JobStep.PROBE, kind=EventKind.FINISHED)
        first = JobEvent(time=T0 + timedelta(seconds=1), step=JobStep.PROBE, kind=EventKind.STARTED, message="go")
        repo.append_event(job.job_id, later)
        repo.append_event(job.job_id, first)
        assert repo.list_events(job.job_id) == [first, later]

    def test_events_at_the_same_instant_keep_their_order(self, repo: JobRepository) -> None:
        job = make_job()
        repo.create(job)
        events = [
            JobEvent(time=T0, step=JobStep.TRANSCODE, kind=EventKind.INFO, message=f"segment {n}") for n in range(5)
        ]
        for event in events:
            repo.append_event(job.job_id, event)
        assert repo.list_events(job.job_id) == events

    def test_events_belong_to_their_job(self, repo: JobRepository) -> None:
        one, two = make_job(), make_job(created_at=T0 + timedelta(seconds=1))
        repo.create(one)
        repo.create(two)
        event = JobEvent(time=T0, step=JobStep.PLAN, kind=EventKind.FAILED, message="x" * 5000)
        repo.append_event(one.job_id, event)
        assert repo.list_events(two.job_id) == []
        assert len(repo.list_events(one.job_id)[0].message) == 2000

    def test_events_of_an_unknown_job(self, repo: JobRepository) -> None:
        event = JobEvent(time=T0, step=JobStep.PROBE, kind=EventKind.INFO)
        with pytest.raises(JobNotFound):
            repo.append_event(new_job_id(T0), event)
        with pytest.raises(JobNotFound):
            repo.list_events(new_job_id(T0))

    # --- list_for_owner ---------------------------------------------------------------------------

    def _owners_jobs(self, repo: JobRepository, count: int, owner: str = "alice") -> list[Job]:
        jobs = [make_job(owner, created_at=T0 + timedelta(minutes=n)) for n in range(count)]
        for job in jobs:
            repo.create(job)
        return jobs

    def test_list_for_owner_newest_first_and_only_theirs(self, repo: JobRepository) -> None:
        mine = self._owners_jobs(repo, 3)
        self._owners_jobs(repo, 2, owner="bob")
        jobs, cursor = repo.list_for_owner("alice")
        assert jobs == mine[::-1]
        assert cursor is None
        assert repo.list_for_owner("carol") == ([], None)

    @pytest.mark.parametrize(("count", "limit"), [(5, 2), (4, 2), (3, 1), (2, 5), (1, 1)])
    def test_list_for_owner_pages(self, repo: JobRepository, count: int, limit: int) -> None:
        expected = self._owners_jobs(repo, count)[::-1]
        self._owners_jobs(repo, 3, owner="bob")
        seen: list[Job] = []
        cursor: str | None = None
        for _ in range(count + 1):
            page, cursor = repo.list_for_owner("alice", limit=limit, cursor=cursor)
            assert 0 < len(page) <= limit
            seen += page
            if cursor is None:
                break
        assert seen == expected
        assert cursor is None

    def test_list_for_owner_filters_by_status_across_pages(self, repo: JobRepository) -> None:
        jobs = self._owners_jobs(repo, 7)
        for job in jobs[::2]:  # 0, 2, 4, 6 cancelled
            repo.save_transition(job, transition(job, S.CANCELLED, T0 + timedelta(hours=1)))
        expected = [j.job_id for j in jobs[::2]][::-1]
        page, cursor = repo.list_for_owner("alice", status=S.CANCELLED, limit=3)
        assert [j.job_id for j in page] == expected[:3]
        assert all(j.status is S.CANCELLED for j in page)
        assert cursor is not None
        page, cursor = repo.list_for_owner("alice", status=S.CANCELLED, limit=3, cursor=cursor)
        assert [j.job_id for j in page] == expected[3:]
        assert cursor is None
        uploading, _ = repo.list_for_owner("alice", status=S.UPLOADING, limit=10)
        assert [j.job_id for j in uploading] == [j.job_id for j in jobs[1::2]][::-1]

    @pytest.mark.parametrize(
        "cursor",
        [
            "not base64 at all!",
            base64.urlsafe_b64encode(b"\xff\xfe not json").decode(),
            base64.urlsafe_b64encode(b'"a string"').decode(),
            base64.urlsafe_b64encode(json.dumps({"pk": "JOB#x"}).encode()).decode(),
            "",
        ],
    )
    def test_list_for_owner_rejects_bad_cursors(self, repo: JobRepository, cursor: str) -> None:
        self._owners_jobs(repo, 3)
        with pytest.raises(InvalidCursor):
            repo.list_for_owner("alice", limit=1, cursor=cursor)

    def test_a_cursor_is_only_good_for_its_owner(self, repo: JobRepository) -> None:
        self._owners_jobs(repo, 3)
        self._owners_jobs(repo, 3, owner="bob")
        _, cursor = repo.list_for_owner("alice", limit=1)
        assert cursor is not None
        with pytest.raises(InvalidCursor):
            repo.list_for_owner("bob", limit=1, cursor=cursor)

    @pytest.mark.parametrize("limit", [0, -1, 101])
    def test_list_for_owner_limit_bounds(self, repo: JobRepository, limit: int) -> None:
        with pytest.raises(ValueError, match="limit"):
            repo.list_for_owner("alice", limit=limit)

    # --- list_by_status ---------------------------------------------------------------------------

    def test_list_by_status_most_urgent_priority_then_first_queued(self, repo: JobRepository) -> None:
        spec = [(5, 0), (10, 1), (1, 2), (10, 3), (5, 4), (7, 5)]  # (priority, minutes after T0)
        jobs = [
            make_job(f"owner{n}", priority=p, created_at=T0 + timedelta(minutes=m)) for n, (p, m) in enumerate(spec)
        ]
        for job in jobs:
            repo.create(job)
        order = [jobs[i].job_id for i in (2, 0, 4, 5, 1, 3)]  # priority 1 first, FIFO within one
        assert [j.job_id for j in repo.list_by_status(S.UPLOADING, limit=10)] == order
        assert [j.job_id for j in repo.list_by_status(S.UPLOADING, limit=2)] == order[:2]
        assert repo.list_by_status(S.QUEUED) == []

    def test_list_by_status_follows_transitions(self, repo: JobRepository) -> None:
        queued = self.advance(repo, make_job(), S.QUEUED)
        other = make_job(created_at=T0 + timedelta(minutes=1))
        repo.create(other)
        assert repo.list_by_status(S.QUEUED) == [queued]
        processing = repo.save_transition(queued, transition(queued, S.PROCESSING, T0 + timedelta(hours=1)))
        assert repo.list_by_status(S.QUEUED) == []
        assert repo.list_by_status(S.PROCESSING) == [processing]
        assert repo.list_by_status(S.UPLOADING) == [other]

    def test_list_by_status_limit_bounds(self, repo: JobRepository) -> None:
        with pytest.raises(ValueError, match="limit"):
            repo.list_by_status(S.QUEUED, limit=0)
