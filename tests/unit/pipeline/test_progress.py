"""Step events, throttled monotonic progress writes, and the cost-weighted encode progress and ETA."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from lambdas.jobs.model import EventKind, Job, JobStatus, JobStep, OutputKind, Source
from lambdas.jobs.ports import JobNotProcessing
from lambdas.jobs.transitions import transition
from lambdas.media.chunking import Chunk, ChunkPlan, ItemKind, WorkItem
from lambdas.media.errors import SourceUnreadable
from lambdas.pipeline.errors import JobCancelled
from lambdas.pipeline.progress import (
    PROGRESS_PROBED,
    PROGRESS_TRANSCODED,
    ProgressWriter,
    encode_progress,
    estimated_end,
    overall_percent,
    rendition_progress,
    step_events,
)
from tests.fakes.jobs import InMemoryJobRepository

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


class Ticks:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def processing_job(repo: InMemoryJobRepository) -> Job:
    job = Job.new(
        owner="alice",
        source=Source(bucket="uploads-bucket", key="uploads/alice/x/source"),
        requested_renditions=("240p", "120p"),
        requested_outputs=(OutputKind.HLS,),
        now=T0,
    )
    repo.create(job)
    queued = repo.save_transition(job, transition(job, JobStatus.QUEUED, T0))
    return repo.save_transition(queued, transition(queued, JobStatus.PROCESSING, T0))


def stop(repo: InMemoryJobRepository, job_id: str, status: JobStatus) -> None:
    job = repo.get(job_id)
    extra = {"error_type": "TranscodeFailed"} if status is JobStatus.FAILED else {}
    repo.save_transition(job, transition(job, status, T0 + timedelta(minutes=1), **extra))


def chunk(index: int, first: int, segments: int, *, last: bool = False) -> Chunk:
    return Chunk(
        index=index, first_segment=first, segments=segments, start_frame=first * 30, frames=segments * 30, last=last
    )


def video(item_id: str, index: int, renditions: tuple[str, ...], weight: float) -> WorkItem:
    return WorkItem(item_id=item_id, kind=ItemKind.VIDEO, chunk=index, renditions=renditions, weight=weight)


# A one-segment first chunk and a three-segment second one, one item per rendition; weights add up to 10.
PLAN = ChunkPlan(
    frame_rate="30",
    segment_frames=30,
    total_frames=120,
    whole_ladder=False,
    chunks=(chunk(0, 0, 1), chunk(1, 1, 3, last=True)),
    items=(
        WorkItem(item_id="audio", kind=ItemKind.AUDIO, weight=1.0),
        video("c00000-240p", 0, ("240p",), 2.0),
        video("c00000-120p", 0, ("120p",), 1.0),
        video("c00001-240p", 1, ("240p",), 4.0),
        video("c00001-120p", 1, ("120p",), 2.0),
    ),
)


# --- encode_progress ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("done", "share"),
    [
        (set(), 0.0),
        ({"audio"}, 0.1),
        ({"c00000-120p"}, 0.1),
        ({"c00001-240p"}, 0.4),  # the heaviest item counts four times the lightest
        ({"audio", "c00000-240p", "c00000-120p"}, 0.4),  # the first chunk and the audio: 3 items of 5, not 60 %
        ({i.item_id for i in PLAN.items}, 1.0),
    ],
)
def test_encode_progress_weights_each_item_by_its_cost(done: set[str], share: float) -> None:
    assert encode_progress(PLAN, frozenset(done)) == pytest.approx(share)


def test_encode_progress_adds_the_fraction_of_items_in_flight() -> None:
    done = frozenset({"audio"})
    assert encode_progress(PLAN, done, {"c00001-240p": 0.5}) == pytest.approx(0.3)
    assert encode_progress(PLAN, done, {"c00001-240p": 3.0}) == pytest.approx(0.5)  # at most the whole item
    assert encode_progress(PLAN, done, {"audio": 0.5}) == pytest.approx(0.1)  # a finished item counts once
    assert encode_progress(PLAN, done, {"no-such-item": 0.9}) == pytest.approx(0.1)


def test_encode_progress_never_passes_one() -> None:
    everything = frozenset(i.item_id for i in PLAN.items)
    assert encode_progress(PLAN, everything, {"c00001-240p": 1.0}) == 1.0


# --- rendition_progress ---------------------------------------------------------------------------


def test_rendition_progress_counts_segments_per_rendition() -> None:
    assert rendition_progress(PLAN, frozenset()) == {"240p": 0, "120p": 0}
    assert rendition_progress(PLAN, frozenset({"audio", "c00000-240p"})) == {"240p": 25, "120p": 0}
    assert rendition_progress(PLAN, frozenset({"c00001-120p"})) == {"240p": 0, "120p": 75}
    everything = frozenset(i.item_id for i in PLAN.items)
    assert rendition_progress(PLAN, everything) == {"240p": 100, "120p": 100}


def test_a_whole_ladder_item_moves_every_rendition_it_encodes() -> None:
    ladder = PLAN.model_copy(
        update={
            "whole_ladder": True,
            "items": (video("c00000", 0, ("240p", "120p"), 3.0), video("c00001", 1, ("240p", "120p"), 6.0)),
        }
    )
    assert rendition_progress(ladder, frozenset({"c00000"})) == {"240p": 25, "120p": 25}
    assert encode_progress(ladder, frozenset({"c00000"})) == pytest.approx(1 / 3)


# --- overall_percent / estimated_end --------------------------------------------------------------


@pytest.mark.parametrize(("share", "percent"), [(0.0, PROGRESS_PROBED), (0.5, 47), (0.999, 89), (1.0, 90)])
def test_the_encode_spans_probed_to_transcoded(share: float, percent: int) -> None:
    assert overall_percent(share) == percent
    assert PROGRESS_PROBED <= overall_percent(share) <= PROGRESS_TRANSCODED


def test_estimated_end_extrapolates_the_pace_so_far() -> None:
    now = T0 + timedelta(seconds=10)
    assert estimated_end(T0, 0.25, now) == now + timedelta(seconds=30)
    assert estimated_end(T0, 0.5, now) == now + timedelta(seconds=10)
    assert estimated_end(T0, 1.0, now) == now


@pytest.mark.parametrize(("started", "share"), [(None, 0.5), (T0, 0.0), (T0, 0.01)])
def test_no_estimate_before_anything_is_done(started: datetime | None, share: float) -> None:
    assert estimated_end(started, share, T0 + timedelta(minutes=1)) is None


# --- ProgressWriter -------------------------------------------------------------------------------


def test_writes_are_throttled_monotonic_and_forced_through() -> None:
    repo, ticks = InMemoryJobRepository(), Ticks()
    job = processing_job(repo)
    writer = ProgressWriter(repo, job.job_id, JobStep.TRANSCODE, interval=2.0, monotonic=ticks)
    assert writer.write(10) is True
    ticks.now += 1.0
    assert writer.write(20) is False  # too soon: not written
    assert repo.get(job.job_id).progress == 10
    assert writer.write(30, force=True) is True  # the last write of a step always goes through
    ticks.now += 2.0
    assert writer.write(25) is False  # due, but not an increase
    ticks.now += 2.0
    assert writer.write(40) is True
    stored = repo.get(job.job_id)
    assert (stored.progress, stored.current_step) == (40, JobStep.TRANSCODE)


def test_a_rendition_writer_writes_that_rendition_only() -> None:
    repo = InMemoryJobRepository()
    job = processing_job(repo)
    writer = ProgressWriter(repo, job.job_id, JobStep.TRANSCODE, rendition="120p", monotonic=Ticks())
    assert writer.write(60) is True
    stored = repo.get(job.job_id)
    assert (stored.rendition_progress, stored.progress) == ({"120p": 60}, 0)


def test_overall_is_never_throttled() -> None:
    repo = InMemoryJobRepository()
    job = processing_job(repo)
    writer = ProgressWriter(repo, job.job_id, JobStep.PROBE, monotonic=Ticks())
    assert writer.overall(1)
    assert writer.overall(5)
    assert repo.get(job.job_id).progress == 5


@pytest.mark.parametrize(
    ("status", "raised"), [(JobStatus.CANCELLED, JobCancelled), (JobStatus.FAILED, JobNotProcessing)]
)
def test_a_write_for_a_stopped_job_stops_the_step(status: JobStatus, raised: type[Exception]) -> None:
    repo = InMemoryJobRepository()
    job = processing_job(repo)
    writer = ProgressWriter(repo, job.job_id, JobStep.TRANSCODE, monotonic=Ticks())
    stop(repo, job.job_id, status)
    with pytest.raises(raised):
        writer.write(50)
    with pytest.raises(raised):
        writer.overall(50)
    assert repo.get(job.job_id).progress == 0


# --- step_events ----------------------------------------------------------------------------------


def events(repo: InMemoryJobRepository, job_id: str) -> list[tuple[JobStep, EventKind, str]]:
    return [(e.step, e.kind, e.message) for e in repo.list_events(job_id)]


def test_a_step_is_started_then_finished() -> None:
    repo = InMemoryJobRepository()
    job = processing_job(repo)
    with step_events(repo, job.job_id, JobStep.SPLIT, clock=lambda: T0, detail="3 chunks"):
        pass
    assert events(repo, job.job_id) == [
        (JobStep.SPLIT, EventKind.STARTED, "3 chunks"),
        (JobStep.SPLIT, EventKind.FINISHED, "3 chunks"),
    ]


def test_a_media_error_is_recorded_and_raised_naming_the_step_and_the_chunk() -> None:
    repo = InMemoryJobRepository()
    job = processing_job(repo)
    with (
        pytest.raises(SourceUnreadable) as raised,
        step_events(repo, job.job_id, JobStep.TRANSCODE, detail="chunk 2/3"),
    ):
        raise SourceUnreadable("The file is truncated or corrupt.")
    assert [(s, k) for s, k, _ in events(repo, job.job_id)] == [
        (JobStep.TRANSCODE, EventKind.STARTED),
        (JobStep.TRANSCODE, EventKind.FAILED),
    ]
    # What the state machine records as the job's error is str(error): it names where, then what.
    assert str(raised.value) == "Encoding chunk 2/3: The file is truncated or corrupt."
    assert events(repo, job.job_id)[-1][2] == str(raised.value)


def test_a_nested_step_does_not_name_its_place_twice() -> None:
    repo = InMemoryJobRepository()
    job = processing_job(repo)
    with (
        pytest.raises(SourceUnreadable) as raised,
        step_events(repo, job.job_id, JobStep.PROBE),
        step_events(repo, job.job_id, JobStep.PROBE),
    ):
        raise SourceUnreadable("The uploaded file is empty.")
    assert str(raised.value) == "Reading the file: The uploaded file is empty."


def test_other_errors_leave_the_step_started_only() -> None:
    """A cancel or an infrastructure error is not the user's file failing: no `failed` event for it."""
    repo = InMemoryJobRepository()
    job = processing_job(repo)
    with pytest.raises(JobCancelled), step_events(repo, job.job_id, JobStep.PACKAGE):
        raise JobCancelled(job.job_id)
    assert [k for _, k, _ in events(repo, job.job_id)] == [EventKind.STARTED]
