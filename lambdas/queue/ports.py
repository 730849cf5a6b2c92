"""The queue's store as the scheduler and the API need it; the DynamoDB adapter and the in-memory fake implement it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal, Protocol

from lambdas.jobs.model import Job, JobError


class SlotsTaken(JobError):
    """No slot is free: `scope` "global" (max_running_jobs) or "user" (max_running_jobs_per_user)."""

    def __init__(self, job_id: str, scope: Literal["global", "user"]) -> None:
        self.job_id, self.scope = job_id, scope
        super().__init__(f"job {job_id}: no {scope} slot is free")


@dataclass(frozen=True)
class RunningCounts:
    """Slots held, as the counters say: in total and per owner (owners with none are absent)."""

    total: int = 0
    by_owner: dict[str, int] = field(default_factory=dict)


class QueueStore(Protocol):
    """Slots and the waiting line.

    A slot is held by one attempt of a job from its admission (QUEUED -> PROCESSING, `admit`) to its
    `release`, after the job ended. Admission is atomic: the job's move, the global counter and the
    owner's counter change together or not at all, each conditioned (the job still QUEUED at the version
    read, fewer running than the limits), so concurrent schedulers never admit a job twice nor exceed a
    limit. Release is idempotent: the job's slot marker and both counters go together.
    """

    def running(self) -> RunningCounts:
        """The counters, read consistently."""
        ...

    def waiting(self, priority: int, limit: int) -> list[Job]:
        """QUEUED jobs of one priority level, first queued first, at most `limit`."""
        ...

    def admit(self, job: Job, admitted: Job, *, max_running: int, max_per_user: int) -> Job:
        """Store `admitted` (the PROCESSING successor of QUEUED `job`) and take a slot for it; the stored job.

        SlotsTaken when a limit is reached (nothing written); ConcurrentUpdate or IllegalTransition when
        the job moved since it was read (nothing written); JobNotFound.
        """
        ...

    def release(self, job_id: str) -> bool:
        """Give back the slot of a job that is no longer PROCESSING; False if it holds none (or still runs)."""
        ...

    def slot_holders(self) -> list[Job]:
        """Every job holding a slot, whatever its status (the tick repairs those that should not)."""
        ...

    def stale_uploads(self, created_before: datetime, limit: int) -> list[Job]:
        """UPLOADING jobs created before `created_before`, at most `limit`."""
        ...

    # --- what the API and the operators read -------------------------------------------------------

    def waiting_before(self, priority: int, since: datetime, job_id: str) -> int:
        """How many QUEUED jobs of `priority` were queued before (`since`, `job_id`) (FIFO order)."""
        ...

    def started_between(self, since: datetime, until: datetime) -> list[Job]:
        """Jobs whose (last) admission is within [since, until], oldest first."""
        ...

    def ended_between(self, since: datetime, until: datetime) -> list[Job]:
        """Jobs that reached a terminal status within [since, until], oldest first."""
        ...


class QueueSignals(Protocol):
    """How the API wakes the scheduler (EventBridge on AWS and locally; the scheduler itself in unit tests)."""

    def queued(self, job_id: str) -> None:
        """A job was queued without an upload (a retry)."""
        ...

    def finished(self, job_id: str) -> None:
        """A job ended outside its workflow (cancelled): its slot is given back and the next admitted."""
        ...


class DeadLetters(Protocol):
    """The queue of events that could not start the scheduler (the rules' dead-letter queue)."""

    def depth(self) -> int:
        """Messages waiting in it (approximate, as SQS counts)."""
        ...
