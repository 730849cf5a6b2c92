"""The job life cycle as data and pure functions: legal transitions, retry, progress."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from lambdas.jobs.model import AudioLoudness, Job, JobError, JobStatus, JobStep, OutputFile

S = JobStatus

# What `transition()` may do. Terminal states have no way out here: leaving FAILED or CANCELLED
# is `retry()`, which counts the attempt, never a plain status change.
LEGAL_TRANSITIONS: Mapping[JobStatus, frozenset[JobStatus]] = {
    S.UPLOADING: frozenset({S.QUEUED, S.FAILED, S.CANCELLED}),
    S.QUEUED: frozenset({S.PROCESSING, S.FAILED, S.CANCELLED}),
    S.PROCESSING: frozenset({S.COMPLETED, S.FAILED, S.CANCELLED}),
    S.COMPLETED: frozenset(),
    S.FAILED: frozenset(),
    S.CANCELLED: frozenset(),
}
RETRYABLE = frozenset({S.FAILED, S.CANCELLED})

# Set by the functions below from `now` and the job itself, never by a caller's **changes.
_DERIVED_FIELDS = frozenset(
    {
        "job_id",
        "owner",
        "created_at",
        "status",
        "version",
        "updated_at",
        "queued_at",
        "started_at",
        "completed_at",
        "retry_count",
    }
)


class IllegalTransition(JobError):
    def __init__(self, job_id: str, current: JobStatus, requested: JobStatus, reason: str = "") -> None:
        self.job_id, self.current, self.requested = job_id, current, requested
        detail = f": {reason}" if reason else ""
        super().__init__(f"job {job_id}: {current} -> {requested} is not allowed{detail}")


class RetryLimitReached(JobError):
    def __init__(self, job_id: str, max_retries: int) -> None:
        self.job_id, self.max_retries = job_id, max_retries
        super().__init__(f"job {job_id} was already retried {max_retries} times")


class JobNotProcessing(JobError):
    """Progress reported for a job that is not PROCESSING (for instance cancelled meanwhile): stop work."""

    def __init__(self, job_id: str, status: JobStatus) -> None:
        self.job_id, self.status = job_id, status
        super().__init__(f"job {job_id} is {status}, not PROCESSING")


class UnknownRendition(JobError, ValueError):
    def __init__(self, job_id: str, rendition: str) -> None:
        self.job_id, self.rendition = job_id, rendition
        super().__init__(f"job {job_id} did not request rendition {rendition!r}")


def is_legal(current: JobStatus, requested: JobStatus) -> bool:
    return requested in LEGAL_TRANSITIONS[current]


def _evolve(job: Job, update: Mapping[str, Any]) -> Job:
    # Validate the whole record again: a transition can never produce a job the model would reject.
    return Job.model_validate({**dict(job), **update})


def transition(job: Job, new_status: JobStatus, now: datetime, **changes: Any) -> Job:
    """The job after moving to `new_status` at `now`, with `changes` (error, outputs, metrics…) applied.

    Raises IllegalTransition when the table forbids it. A `progress` lower than the current one is
    ignored; COMPLETED sets it to 100. Timestamps and the version are derived, not passed.
    """
    new_status = JobStatus(new_status)
    if not is_legal(job.status, new_status):
        reason = "terminal state, use retry()" if job.status.terminal else ""
        raise IllegalTransition(job.job_id, job.status, new_status, reason)
    derived = _DERIVED_FIELDS & changes.keys()
    if derived:
        raise ValueError(f"fields derived by the transition cannot be passed: {sorted(derived)}")
    if "progress" in changes and changes["progress"] < job.progress:
        del changes["progress"]
    update: dict[str, Any] = {**changes, "status": new_status, "updated_at": now, "version": job.version + 1}
    if new_status is S.QUEUED:
        update["queued_at"] = now
    elif new_status is S.PROCESSING:
        update["started_at"] = now
    else:  # every other legal target is terminal
        update["completed_at"] = now
        if new_status is S.COMPLETED:
            update["progress"] = 100
    return _evolve(job, update)


def retry(job: Job, now: datetime) -> Job:
    """A FAILED or CANCELLED job queued again, progress and error cleared, one more attempt counted."""
    if job.status not in RETRYABLE:
        raise IllegalTransition(job.job_id, job.status, S.QUEUED, "only FAILED or CANCELLED jobs are retried")
    if job.queued_at is None:
        # Cancelled or failed before its upload completed: there is no source to process again.
        raise IllegalTransition(job.job_id, job.status, S.QUEUED, "the job was never queued")
    if job.retry_count >= job.max_retries:
        raise RetryLimitReached(job.job_id, job.max_retries)
    return _evolve(
        job,
        {
            "status": S.QUEUED,
            "retry_count": job.retry_count + 1,
            "progress": 0,
            "current_step": JobStep.REGISTERED,
            "rendition_progress": {},
            "error_type": None,
            "error_message": None,
            "queued_at": now,
            "started_at": None,
            "completed_at": None,
            "outputs": None,
            "metrics": {},
            "eta_at": None,
            "playable_at": None,
            "playable_url": None,
            "playable_segments": 0,
            "audio_files": (),
            "audio_ready_at": None,
            "audio_loudness": (),
            "execution_arn": None,
            "updated_at": now,
            "version": job.version + 1,
        },
    )


# A waiting job's priority may change (PATCH /jobs/{id}); nothing else moves with it.
REPRIORITISABLE = frozenset({S.UPLOADING, S.QUEUED})


def reprioritise(job: Job, priority: int, now: datetime) -> Job:
    """The waiting job with another priority; its place in the queue (queued_at) is kept."""
    if job.status not in REPRIORITISABLE:
        raise IllegalTransition(job.job_id, job.status, job.status, "only a waiting job's priority can change")
    return _evolve(job, {"priority": priority, "updated_at": now, "version": job.version + 1})


def is_reprioritised(before: Job, after: Job) -> bool:
    if before.status not in REPRIORITISABLE or after.status is not before.status:
        return False
    changed = {name for name in Job.model_fields if getattr(before, name) != getattr(after, name)}
    return changed <= {"priority", "updated_at", "version"}


def is_retry(before: Job, after: Job) -> bool:
    return (
        before.status in RETRYABLE
        and after.status is S.QUEUED
        and after.retry_count == before.retry_count + 1
        and after.retry_count <= before.max_retries
    )


def check_successor(before: Job, after: Job) -> None:
    """What a repository checks before storing `after` over `before`: same job, next version, legal move."""
    if after.job_id != before.job_id:
        raise ValueError(f"job ids differ: {before.job_id} != {after.job_id}")
    if after.version != before.version + 1:
        raise ValueError(f"version must go from {before.version} to {before.version + 1}, got {after.version}")
    if not (is_legal(before.status, after.status) or is_retry(before, after) or is_reprioritised(before, after)):
        raise IllegalTransition(before.job_id, before.status, after.status)


def record_progress(
    job: Job,
    step: JobStep,
    percent: int,
    now: datetime,
    rendition: str | None = None,
    *,
    eta_at: datetime | None = None,
) -> Job:
    """The job with `percent` recorded for the whole job, or for one rendition.

    Monotonic: a value not above the current one returns the job unchanged (late or repeated reports
    are normal with parallel renditions and Lambda retries). Only while PROCESSING. The version is not
    bumped: it guards status changes, and many renditions reporting progress must never make a
    concurrent status change (cancel, fail) lose its race.
    """
    if not 0 <= percent <= 100:
        raise ValueError(f"percent out of 0..100: {percent}")
    if job.status is not S.PROCESSING:
        raise JobNotProcessing(job.job_id, job.status)
    if rendition is not None and rendition not in job.requested_renditions:
        raise UnknownRendition(job.job_id, rendition)
    update: dict[str, Any]
    if rendition is None:
        if percent <= job.progress:
            return job
        update = {"progress": percent} | ({"eta_at": eta_at} if eta_at is not None else {})
    else:
        if percent <= job.rendition_progress.get(rendition, -1):
            return job
        update = {"rendition_progress": {**job.rendition_progress, rendition: percent}}
    return _evolve(job, {**update, "current_step": JobStep(step), "updated_at": now})


def record_playable(job: Job, segments: int, url: str, now: datetime) -> Job:
    """The job watchable up to `segments` leading segments at `url`; unchanged unless that is more than before."""
    if job.status is not S.PROCESSING:
        raise JobNotProcessing(job.job_id, job.status)
    if segments <= job.playable_segments:
        return job
    first = job.playable_at or now
    return _evolve(job, {"playable_segments": segments, "playable_url": url, "playable_at": first, "updated_at": now})


def record_audio_ready(
    job: Job, files: tuple[OutputFile, ...], loudness: tuple[AudioLoudness, ...], now: datetime
) -> Job:
    """The job's audio downloads stored (`audio_files`); `audio_ready_at` is set the first time only."""
    if job.status is not S.PROCESSING:
        raise JobNotProcessing(job.job_id, job.status)
    first = job.audio_ready_at or now
    return _evolve(job, {"audio_files": files, "audio_loudness": loudness, "audio_ready_at": first, "updated_at": now})
