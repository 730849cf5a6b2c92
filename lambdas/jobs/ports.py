"""The job store as the domain needs it; the DynamoDB adapter and the in-memory fake both implement it."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from lambdas.cost.model import CostBreakdown
from lambdas.jobs.model import AudioLoudness, Caption, Job, JobError, JobEvent, JobStatus, JobStep, OutputFile
from lambdas.jobs.transitions import (
    RETRYABLE,
    IllegalTransition,
    JobNotProcessing,
    UnknownRendition,
    is_legal,
)

__all__ = [
    "MAX_PAGE_SIZE",
    "ConcurrentUpdate",
    "IllegalTransition",
    "InvalidCursor",
    "JobAlreadyExists",
    "JobNotFound",
    "JobNotProcessing",
    "JobRepository",
    "RepositoryUnavailable",
    "UnknownRendition",
    "check_page_size",
    "check_percent",
    "moved_error",
]

MAX_PAGE_SIZE = 100


class JobNotFound(JobError):
    def __init__(self, job_id: str) -> None:
        self.job_id = job_id
        super().__init__(f"job {job_id} not found")


class JobAlreadyExists(JobError):
    def __init__(self, job_id: str) -> None:
        self.job_id = job_id
        super().__init__(f"job {job_id} already exists")


class ConcurrentUpdate(JobError):
    """The stored job changed since it was read, to a state the change still applies to: read, redo."""

    def __init__(self, job_id: str, expected_version: int, stored_version: int) -> None:
        self.job_id, self.expected_version, self.stored_version = job_id, expected_version, stored_version
        super().__init__(f"job {job_id} is at version {stored_version}, expected {expected_version}")


class RepositoryUnavailable(JobError):
    """The store throttled, failed or could not be reached: the operation may succeed if retried."""


class InvalidCursor(JobError, ValueError):
    """A pagination cursor that this listing did not hand out (corrupt, forged, or another owner's)."""


# Rules every implementation applies the same way.


def check_page_size(limit: int, maximum: int | None = MAX_PAGE_SIZE) -> None:
    if limit < 1 or (maximum is not None and limit > maximum):
        raise ValueError(f"limit must be within 1..{maximum or 'any'}, got {limit}")


def check_percent(percent: int) -> None:
    if not 0 <= percent <= 100:
        raise ValueError(f"percent out of 0..100: {percent}")


def moved_error(stored: Job, before: Job, after: Job) -> IllegalTransition | ConcurrentUpdate:
    """Why storing `after` failed when the stored job is no longer `before`."""
    reachable = (
        is_legal(stored.status, after.status)
        or (stored.status in RETRYABLE and after.status is JobStatus.QUEUED)
        or (stored.status is before.status is after.status)  # a priority change: redo on the job as it is
    )
    if not reachable:
        return IllegalTransition(stored.job_id, stored.status, after.status, "the job moved meanwhile")
    return ConcurrentUpdate(stored.job_id, before.version, stored.version)


class JobRepository(Protocol):
    """Jobs and their events.

    Status changes are optimistic: `save_transition` stores `after` only if the stored job still has
    `before`'s status and version. Progress is a separate, monotonic write that does not bump the
    version, so parallel renditions reporting progress never make a status change fail.
    """

    def create(self, job: Job) -> None:
        """Store a new job; JobAlreadyExists if its id is taken."""
        ...

    def get(self, job_id: str) -> Job:
        """The job; JobNotFound."""
        ...

    def get_for_owner(self, owner: str, job_id: str) -> Job:
        """The job if `owner` owns it; someone else's job is JobNotFound, as if it did not exist."""
        ...

    def save_transition(self, job_before: Job, job_after: Job) -> Job:
        """Store `job_after` (from `transition`/`retry` on `job_before`) and return the stored job.

        Only the fields that differ between the two are written, so progress recorded meanwhile
        survives. Raises ValueError if `job_after` is not `job_before`'s next version,
        IllegalTransition if the move is not legal (checked before any write, and again when the
        stored job moved to a status from which `job_after.status` is not reachable), ConcurrentUpdate
        if the stored job moved but the move would still be legal (read again and redo), JobNotFound.
        """
        ...

    def update_progress(
        self,
        job_id: str,
        step: JobStep,
        percent: int,
        rendition: str | None = None,
        *,
        eta_at: datetime | None = None,
    ) -> bool:
        """Record progress for the job (or one rendition) and set its current step (and, for the job, its ETA).

        Returns False when `percent` is not above the stored value (ignored, not an error).
        JobNotProcessing when the job is not PROCESSING, UnknownRendition, JobNotFound, ValueError
        for a percent outside 0..100.
        """
        ...

    def record_work_done(self, job_id: str, attempt: int, item_id: str) -> frozenset[str]:
        """Mark one work item of the job's `attempt` finished (idempotent); every item of it finished so far.

        The answer includes `item_id` and every item recorded before the call; JobNotFound.
        """
        ...

    def work_done(self, job_id: str, attempt: int) -> frozenset[str]:
        """The work items of the job's `attempt` finished so far (a consistent read); JobNotFound."""
        ...

    def record_source_duration(self, job_id: str, duration_s: float) -> bool:
        """The source's probed duration on a PROCESSING job (what a clip of it is checked against); True if it
        changed. JobNotProcessing when the job is not PROCESSING, JobNotFound."""
        ...

    def record_cost_estimate(self, job_id: str, estimate: CostBreakdown) -> None:
        """The plan's cost estimate on a PROCESSING job (`Job.cost`, any earlier attempt's cost replaced).

        JobNotProcessing when the job is not PROCESSING, JobNotFound."""
        ...

    def mark_playable(self, job_id: str, segments: int, url: str) -> bool:
        """The job is watchable at `url` up to `segments` leading segments; sets `playable_at` the first time.

        True only if `segments` is more than recorded (the caller then publishes that playlist);
        JobNotProcessing when the job is not PROCESSING, JobNotFound.
        """
        ...

    def mark_audio_ready(
        self, job_id: str, files: tuple[OutputFile, ...], loudness: tuple[AudioLoudness, ...] = ()
    ) -> bool:
        """The job's audio downloads are stored: `audio_files` and `audio_loudness` written, `audio_ready_at` set
        the first time (True then; a repeated write, from a retried work item, answers False).

        JobNotProcessing when the job is not PROCESSING, JobNotFound.
        """
        ...

    def save_captions(self, job: Job, captions: tuple[Caption, ...], files: tuple[OutputFile, ...]) -> Job:
        """Store a COMPLETED job's captions and its output files, only if the stored job is still COMPLETED at
        `job.revision` (ConcurrentUpdate otherwise: read again, redo); the stored job. JobNotFound."""
        ...

    def append_event(self, job_id: str, event: JobEvent) -> None:
        """Add to the job's history; JobNotFound."""
        ...

    def list_events(self, job_id: str) -> list[JobEvent]:
        """The job's history, oldest first (same-time events in the order appended); JobNotFound."""
        ...

    def list_for_owner(
        self, owner: str, status: JobStatus | None = None, limit: int = 20, cursor: str | None = None
    ) -> tuple[list[Job], str | None]:
        """The owner's jobs, newest first, at most `limit` (1..MAX_PAGE_SIZE), optionally of one status.

        The returned cursor fetches the next page; None when no job follows. With a status filter a
        page can hold fewer than `limit` jobs, even none, while a cursor is still returned (the
        store's read budget for one call ran out): keep following the cursor. A cursor this method
        did not hand out for `owner` is InvalidCursor.
        """
        ...

    def list_by_status(self, status: JobStatus, limit: int = 20) -> list[Job]:
        """Jobs with `status`, priority 1 (the most urgent) first, then first queued (or created); at most `limit`."""
        ...
