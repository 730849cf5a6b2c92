"""The waiting line as the scheduler's tick measures it (pure): how many jobs wait, and how long the oldest has."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from lambdas.jobs.model import Job, JobStatus
from lambdas.queue.order import queued_since


@dataclass(frozen=True)
class Backlog:
    queued: int  # QUEUED jobs seen (the store is read a page per priority level: a lower bound past that)
    oldest_wait_s: float  # since the oldest was queued (0 when none waits)


def backlog(waiting: Iterable[Job], now: datetime) -> Backlog:
    """The QUEUED jobs of `waiting` (an open upload is not in line yet) measured at `now`."""
    queued = [job for job in waiting if job.status is JobStatus.QUEUED]
    oldest = min((queued_since(job) for job in queued), default=None)
    return Backlog(len(queued), 0.0 if oldest is None else max(0.0, (now - oldest).total_seconds()))
