"""The job life cycle: every status pair, retry limits, monotonic progress."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import product
from typing import Any

import pytest
from pydantic import ValidationError

from lambdas.jobs.model import Job, JobStatus, JobStep, Source
from lambdas.jobs.transitions import (
    IllegalTransition,
    JobNotProcessing,
    RetryLimitReached,
    UnknownRendition,
    check_successor,
    record_playable,
    record_progress,
    retry,
    transition,
)

S = JobStatus
T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
T1 = T0 + timedelta(minutes=1)

# Written out independently of LEGAL_TRANSITIONS on purpose: this is the specification.
LEGAL = {
    (S.UPLOADING, S.QUEUED),
    (S.UPLOADING, S.FAILED),
    (S.UPLOADING, S.CANCELLED),
    (S.QUEUED, S.PROCESSING),
    (S.QUEUED, S.FAILED),
    (S.QUEUED, S.CANCELLED),
    (S.PROCESSING, S.COMPLETED),
    (S.PROCESSING, S.FAILED),
    (S.PROCESSING, S.CANCELLED),
}


def new_job(**overrides: Any) -> Job:
    job = Job.new(
        owner="alice",
        source=Source(bucket="uploads-bucket", key="uploads/alice/a.mp4"),
        requested_renditions=("1080p", "720p"),
        now=T0,
    )
    return job.model_copy(update=overrides)


def job_in(status: JobStatus, **overrides: Any) -> Job:
    """A job brought to `status` the legal way."""
    path = {
        S.UPLOADING: [],
        S.QUEUED: [S.QUEUED],
        S.PROCESSING: [S.QUEUED, S.PROCESSING],
        S.COMPLETED: [S.QUEUED, S.PROCESSING, S.COMPLETED],
        S.FAILED: [S.QUEUED, S.PROCESSING, S.FAILED],
        S.CANCELLED: [S.QUEUED, S.CANCELLED],
    }[status]
    job = new_job(**overrides)
    for step in path:
        extra = {"error_type": "Boom"} if step is S.FAILED else {}
        job = transition(job, step, T0, **extra)
    return job


def failure(target: JobStatus) -> dict[str, Any]:
    return {"error_type": "Boom", "error_message": "it broke"} if target is S.FAILED else {}


@pytest.mark.parametrize(("current", "target"), list(product(JobStatus, JobStatus)), ids=lambda s: str(s).lower())
def test_every_status_pair(current: JobStatus, target: JobStatus) -> None:
    job = job_in(current)
    if (current, target) in LEGAL:
        after = transition(job, target, T1, **failure(target))
        assert after.status is target
        assert after.version == job.version + 1
        assert after.updated_at == T1
        check_successor(job, after)
    else:
        with pytest.raises(IllegalTransition) as raised:
            transition(job, target, T1, **failure(target))
        assert (raised.value.current, raised.value.requested) == (current, target)


def test_transitions_stamp_their_times() -> None:
    queued = transition(new_job(), S.QUEUED, T0 + timedelta(seconds=1))
    started = transition(queued, S.PROCESSING, T0 + timedelta(seconds=2))
    done = transition(started, S.COMPLETED, T0 + timedelta(seconds=3))
    assert (done.queued_at, done.started_at, done.completed_at) == (
        T0 + timedelta(seconds=1),
        T0 + timedelta(seconds=2),
        T0 + timedelta(seconds=3),
    )
    assert done.progress == 100
    assert done.version == 4


@pytest.mark.parametrize("target", [S.FAILED, S.CANCELLED])
def test_every_terminal_state_has_completed_at(target: JobStatus) -> None:
    assert transition(job_in(S.PROCESSING), target, T1, **failure(target)).completed_at == T1


def test_transition_applies_changes_and_validates_them() -> None:
    job = transition(job_in(S.PROCESSING), S.FAILED, T1, error_type="SourceUnreadable", error_message="m" * 3000)
    assert job.error_type == "SourceUnreadable"
    assert len(job.error_message or "") == 2000
    with pytest.raises(ValidationError):
        transition(job_in(S.PROCESSING), S.FAILED, T1)  # a failure without its type
    with pytest.raises(ValidationError):
        transition(job_in(S.UPLOADING), S.QUEUED, T1, priority=11)
    with pytest.raises(ValidationError):
        transition(job_in(S.UPLOADING), S.QUEUED, T1, no_such_field=1)


@pytest.mark.parametrize("field", ["status", "version", "job_id", "owner", "retry_count", "completed_at"])
def test_derived_fields_cannot_be_passed(field: str) -> None:
    with pytest.raises(ValueError, match="derived"):
        transition(job_in(S.UPLOADING), S.QUEUED, T1, **{field: None})


def test_a_lower_progress_in_changes_is_ignored() -> None:
    job = record_progress(job_in(S.PROCESSING), JobStep.TRANSCODE, 60, T0)
    assert transition(job, S.CANCELLED, T1, progress=20).progress == 60
    assert transition(job, S.CANCELLED, T1, progress=80).progress == 80


def test_a_job_is_immutable() -> None:
    job = new_job()
    with pytest.raises(ValidationError):
        job.status = S.QUEUED  # type: ignore[misc]  # the point: a frozen model refuses assignment


# --- retry ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [S.FAILED, S.CANCELLED])
def test_retry_queues_again_and_resets_the_attempt(status: JobStatus) -> None:
    job = record_progress(job_in(S.PROCESSING), JobStep.TRANSCODE, 40, T0, eta_at=T1 + timedelta(hours=1))
    job = record_progress(job, JobStep.TRANSCODE, 70, T0, rendition="720p")
    job = record_playable(job, 4, "https://cdn.example.com/outputs/x/cmaf/master.m3u8", T0)
    job = transition(
        job,
        status,
        T0,
        execution_arn="arn:aws:states:us-east-1:0:execution:x:y",
        metrics={JobStep.PROBE: 1.5},
        **failure(status),
    )
    again = retry(job, T1)
    assert again.status is S.QUEUED
    assert again.retry_count == 1
    assert again.version == job.version + 1
    assert (again.progress, again.rendition_progress, again.current_step) == (0, {}, JobStep.REGISTERED)
    assert (again.error_type, again.error_message, again.execution_arn) == (None, None, None)
    assert (again.queued_at, again.started_at, again.completed_at, again.updated_at) == (T1, None, None, T1)
    assert again.metrics == {}
    # The last attempt's estimate and preview describe its own outputs, which the next attempt deletes.
    assert job.eta_at is not None
    assert job.playable_segments == 4
    assert again.eta_at is None
    assert (again.playable_at, again.playable_url, again.playable_segments) == (None, None, 0)
    assert (again.created_at, again.source, again.owner) == (job.created_at, job.source, job.owner)
    check_successor(job, again)


@pytest.mark.parametrize("status", [S.UPLOADING, S.QUEUED, S.PROCESSING, S.COMPLETED])
def test_only_failed_or_cancelled_jobs_are_retried(status: JobStatus) -> None:
    with pytest.raises(IllegalTransition):
        retry(job_in(status), T1)


def test_a_job_cancelled_before_its_upload_cannot_be_retried() -> None:
    cancelled = transition(new_job(), S.CANCELLED, T0)
    with pytest.raises(IllegalTransition, match="never queued"):
        retry(cancelled, T1)


def fail(job: Job, now: datetime) -> Job:
    return transition(transition(job, S.PROCESSING, now), S.FAILED, now, error_type="Boom")


@pytest.mark.parametrize("max_retries", [0, 1, 3])
def test_retry_limit(max_retries: int) -> None:
    job = fail(job_in(S.QUEUED, max_retries=max_retries), T0)
    for attempt in range(1, max_retries + 1):
        job = retry(job, T0 + timedelta(minutes=attempt))
        assert job.retry_count == attempt
        job = fail(job, T0 + timedelta(minutes=attempt))
    with pytest.raises(RetryLimitReached):
        retry(job, T1)


def test_default_max_retries_is_three() -> None:
    assert new_job().max_retries == 3


def test_terminal_states_are_final_for_transition_even_after_retry_limit() -> None:
    job = fail(job_in(S.QUEUED, max_retries=0), T0)
    with pytest.raises(IllegalTransition, match="retry"):
        transition(job, S.QUEUED, T1)


# --- check_successor --------------------------------------------------------------------------------


def test_check_successor_rejects_what_transition_would_not_produce() -> None:
    job = job_in(S.QUEUED)
    after = transition(job, S.PROCESSING, T1)
    with pytest.raises(ValueError, match="version"):
        check_successor(job, after.model_copy(update={"version": job.version}))
    with pytest.raises(ValueError, match="ids"):
        check_successor(job, after.model_copy(update={"job_id": new_job().job_id}))
    with pytest.raises(IllegalTransition):
        check_successor(job, after.model_copy(update={"status": S.UPLOADING}))
    failed = transition(after, S.FAILED, T1, error_type="X")
    skipped = retry(failed, T1).model_copy(update={"retry_count": 2})  # an attempt not counted
    with pytest.raises(IllegalTransition):
        check_successor(failed, skipped)


# --- progress -------------------------------------------------------------------------------------


def test_progress_is_monotonic() -> None:
    job = job_in(S.PROCESSING)
    up = record_progress(job, JobStep.PROBE, 10, T1)
    assert (up.progress, up.current_step, up.updated_at, up.version) == (10, JobStep.PROBE, T1, job.version)
    assert record_progress(up, JobStep.TRANSCODE, 5, T1) is up
    assert record_progress(up, JobStep.TRANSCODE, 10, T1) is up
    assert record_progress(up, JobStep.TRANSCODE, 11, T1).progress == 11


def test_rendition_progress_is_monotonic_per_rendition() -> None:
    job = record_progress(job_in(S.PROCESSING), JobStep.TRANSCODE, 0, T1, rendition="720p")
    assert job.rendition_progress == {"720p": 0}
    job = record_progress(job, JobStep.TRANSCODE, 30, T1, rendition="1080p")
    assert record_progress(job, JobStep.TRANSCODE, 29, T1, rendition="1080p") is job
    job = record_progress(job, JobStep.TRANSCODE, 100, T1, rendition="720p")
    assert job.rendition_progress == {"720p": 100, "1080p": 30}
    assert job.progress == 0


@pytest.mark.parametrize("status", [s for s in JobStatus if s is not S.PROCESSING])
def test_progress_only_while_processing(status: JobStatus) -> None:
    with pytest.raises(JobNotProcessing):
        record_progress(job_in(status), JobStep.TRANSCODE, 50, T1)


def test_progress_rejects_bad_input() -> None:
    job = job_in(S.PROCESSING)
    with pytest.raises(UnknownRendition):
        record_progress(job, JobStep.TRANSCODE, 50, T1, rendition="4k")
    for percent in (-1, 101):
        with pytest.raises(ValueError, match="percent"):
            record_progress(job, JobStep.TRANSCODE, percent, T1)
    with pytest.raises(ValueError, match="encode"):
        record_progress(job, "encode", 50, T1)  # type: ignore[arg-type]


def test_the_eta_is_set_by_an_increase_of_the_overall_progress_only() -> None:
    eta = T1 + timedelta(minutes=10)
    job = record_progress(job_in(S.PROCESSING), JobStep.TRANSCODE, 20, T1, eta_at=eta)
    assert (job.progress, job.eta_at) == (20, eta)
    assert record_progress(job, JobStep.TRANSCODE, 20, T1, eta_at=T1) is job  # not an increase
    assert record_progress(job, JobStep.TRANSCODE, 30, T1, rendition="720p", eta_at=T1).eta_at == eta
    assert record_progress(job, JobStep.TRANSCODE, 30, T1).eta_at == eta  # no new estimate: the last stays
    assert record_progress(job, JobStep.TRANSCODE, 30, T1, eta_at=T1).eta_at == T1


# --- playable -------------------------------------------------------------------------------------

URL = "https://cdn.example.com/outputs/x/cmaf/master.m3u8"


def test_playable_is_monotonic_and_remembers_when_it_began() -> None:
    job = job_in(S.PROCESSING)
    assert (job.playable_at, job.playable_url, job.playable_segments) == (None, None, 0)
    first = record_playable(job, 2, URL, T1)
    assert (first.playable_at, first.playable_url, first.playable_segments) == (T1, URL, 2)
    assert (first.updated_at, first.version) == (T1, job.version)  # a progress-like write: no version bump
    later = T1 + timedelta(seconds=30)
    assert record_playable(first, 2, URL, later) is first
    assert record_playable(first, 1, URL, later) is first
    grown = record_playable(first, 6, URL, later)
    assert (grown.playable_segments, grown.playable_at, grown.updated_at) == (6, T1, later)


@pytest.mark.parametrize("segments", [0, -1])
def test_nothing_is_not_playable(segments: int) -> None:
    job = job_in(S.PROCESSING)
    assert record_playable(job, segments, URL, T1) is job


@pytest.mark.parametrize("status", [s for s in JobStatus if s is not S.PROCESSING])
def test_playable_only_while_processing(status: JobStatus) -> None:
    with pytest.raises(JobNotProcessing):
        record_playable(job_in(status), 1, URL, T1)


def test_a_completed_job_keeps_when_it_became_playable() -> None:
    job = record_playable(job_in(S.PROCESSING), 3, URL, T0)
    done = transition(job, S.COMPLETED, T1)
    assert (done.playable_at, done.playable_segments) == (T0, 3)
