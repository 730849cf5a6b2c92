"""Which waiting job goes next: lower priority number first, aging, FIFO, and least-running-first between users.

A job's effective priority improves by one level per `aging` waited, never past 1 (`effective_priority`).
The next job is the one with the best effective priority; between jobs of equal effective priority, the
one whose owner has fewer jobs running goes first (least-running-first: a user with ten jobs cannot hold
every slot while another user's job of the same priority waits); then the one queued first, then by id.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta

from lambdas.jobs.model import Job

HIGHEST = 1
LOWEST = 10


def effective_priority(priority: int, queued_at: datetime, now: datetime, aging: timedelta) -> int:
    waited = max(timedelta(0), now - queued_at)
    return max(HIGHEST, priority - int(waited / aging))


def queued_since(job: Job) -> datetime:
    return job.queued_at or job.created_at


def job_effective_priority(job: Job, now: datetime, aging: timedelta) -> int:
    return effective_priority(job.priority, queued_since(job), now, aging)


def admission_key(
    job: Job, running: Mapping[str, int], now: datetime, aging: timedelta
) -> tuple[int, int, datetime, str]:
    """Smaller goes first."""
    return (job_effective_priority(job, now, aging), running.get(job.owner, 0), queued_since(job), job.job_id)


def queue_key(job: Job, now: datetime, aging: timedelta) -> tuple[int, datetime, str]:
    """The order the queue shows (positions): effective priority, then FIFO; fairness depends on who runs."""
    return (job_effective_priority(job, now, aging), queued_since(job), job.job_id)


def next_job(
    candidates: Iterable[Job],
    running: Mapping[str, int],
    now: datetime,
    aging: timedelta,
    *,
    per_user_limit: int,
) -> Job | None:
    """The best candidate whose owner is below the per-user limit; None when there is none."""
    eligible = [job for job in candidates if running.get(job.owner, 0) < per_user_limit]
    return min(eligible, key=lambda job: admission_key(job, running, now, aging), default=None)
