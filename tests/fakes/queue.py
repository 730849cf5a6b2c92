"""An in-memory QueueStore for unit tests, over the in-memory job repository: the same rules as the DynamoDB one."""

from __future__ import annotations

import threading
from datetime import datetime
from typing import TYPE_CHECKING

from lambdas.jobs.model import Job, JobStatus, utc_iso
from lambdas.jobs.transitions import check_successor
from lambdas.queue.order import queued_since
from lambdas.queue.ports import RunningCounts, SlotsTaken
from lambdas.queue.scheduler import Scheduler
from tests.fakes.jobs import InMemoryJobRepository

if TYPE_CHECKING:
    from lambdas.queue.ports import QueueStore


class InMemoryQueueStore:
    def __init__(self, jobs: InMemoryJobRepository) -> None:
        self.jobs = jobs
        self.slots: dict[str, int] = {}  # job id -> the attempt holding the slot
        self._lock = threading.Lock()

    def running(self) -> RunningCounts:
        with self._lock:
            by_owner: dict[str, int] = {}
            for job_id in self.slots:
                owner = self.jobs.get(job_id).owner
                by_owner[owner] = by_owner.get(owner, 0) + 1
            return RunningCounts(total=len(self.slots), by_owner=by_owner)

    def admit(self, job: Job, admitted: Job, *, max_running: int, max_per_user: int) -> Job:
        check_successor(job, admitted)
        if job.status is not JobStatus.QUEUED or admitted.status is not JobStatus.PROCESSING:
            raise ValueError(f"admission is QUEUED -> PROCESSING, not {job.status} -> {admitted.status}")
        with self._lock:
            stored = self.jobs.get(job.job_id)
            if (stored.status, stored.version) != (job.status, job.version) or job.job_id in self.slots:
                return self.jobs.save_transition(job, admitted)  # raises why it moved
            if len(self.slots) >= max_running:
                raise SlotsTaken(job.job_id, "global")
            mine = sum(1 for job_id in self.slots if self.jobs.get(job_id).owner == job.owner)
            if mine >= max_per_user:
                raise SlotsTaken(job.job_id, "user")
            saved = self.jobs.save_transition(job, admitted)
            self.slots[job.job_id] = admitted.retry_count
            return saved

    def release(self, job_id: str) -> bool:
        with self._lock:
            if job_id not in self.slots or self.jobs.get(job_id).status is JobStatus.PROCESSING:
                return False
            del self.slots[job_id]
            return True

    def slot_holders(self) -> list[Job]:
        with self._lock:
            return [self.jobs.get(job_id) for job_id in self.slots]

    def _all(self) -> list[Job]:
        return list(self.jobs._jobs.values())

    def waiting(self, priority: int, limit: int) -> list[Job]:
        queued = [j for j in self._all() if j.status is JobStatus.QUEUED and j.priority == priority]
        queued.sort(key=lambda j: (utc_iso(queued_since(j)), j.job_id))
        return queued[:limit]

    def stale_uploads(self, created_before: datetime, limit: int) -> list[Job]:
        stale = [j for j in self._all() if j.status is JobStatus.UPLOADING and j.created_at <= created_before]
        stale.sort(key=lambda j: (j.priority, j.created_at, j.job_id))
        return stale[:limit]

    def waiting_before(self, priority: int, since: datetime, job_id: str) -> int:
        bound = (utc_iso(since), job_id)
        return sum(
            1
            for j in self.waiting(priority, limit=10**9)
            if j.job_id != job_id and (utc_iso(queued_since(j)), j.job_id) <= bound
        )

    def started_between(self, since: datetime, until: datetime) -> list[Job]:
        found = [j for j in self._all() if j.started_at is not None and since <= j.started_at <= until]
        return sorted(found, key=lambda j: (j.started_at, j.job_id))

    def ended_between(self, since: datetime, until: datetime) -> list[Job]:
        found = [j for j in self._all() if j.completed_at is not None and since <= j.completed_at <= until]
        return sorted(found, key=lambda j: (j.completed_at, j.job_id))


if TYPE_CHECKING:

    def _implements_port(store: InMemoryQueueStore) -> QueueStore:
        return store


class SchedulerSignals:
    """QueueSignals that run the scheduler at once, as the EventBridge rule invokes it (synchronously here)."""

    def __init__(self, scheduler: Scheduler) -> None:
        self.scheduler = scheduler

    def queued(self, job_id: str) -> None:
        self.scheduler.admit()

    def finished(self, job_id: str) -> None:
        self.scheduler.finished(job_id)


class CountedDeadLetters:
    def __init__(self, depth: int = 0) -> None:
        self.messages = depth

    def depth(self) -> int:
        return self.messages
