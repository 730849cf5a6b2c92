"""The scheduler on the in-memory fakes: admission order, aging, fairness, limits, releases and repairs."""

from __future__ import annotations

from datetime import timedelta

import pytest

from lambdas.jobs.model import Job, JobStatus, Upload
from lambdas.jobs.transitions import transition
from lambdas.queue.config import QueueConfig
from lambdas.queue.scheduler import Scheduler
from lambdas.workflow.ports import WorkflowRefused, WorkflowUnavailable
from tests.contract.job_repository_contract import T0, Clock, make_job
from tests.fakes.api import InMemoryUploadStore, InMemoryWorkflow
from tests.fakes.jobs import InMemoryJobRepository
from tests.fakes.queue import InMemoryQueueStore

S = JobStatus


class Rig:
    def __init__(self, **limits: float) -> None:
        self.clock = Clock(T0)
        self.jobs = InMemoryJobRepository(clock=self.clock)
        self.store = InMemoryQueueStore(self.jobs)
        self.workflow = InMemoryWorkflow()
        self.uploads = InMemoryUploadStore()
        self.config = QueueConfig(**limits)  # type: ignore[arg-type]
        self.scheduler = Scheduler(self.store, self.jobs, self.workflow, self.uploads, self.config, clock=self.clock)

    def queue(self, priority: int = 5, owner: str = "alice") -> Job:
        self.clock.advance(1)
        job = make_job(owner, created_at=self.clock(), priority=priority)
        self.jobs.create(job)
        return self.jobs.save_transition(job, transition(job, S.QUEUED, self.clock()))

    def started(self) -> list[str]:
        """Job ids in the order their executions were started."""
        return [execution.payload["detail"]["job_id"] for execution in self.workflow.executions.values()]

    def finish(self, job_id: str) -> None:
        """The job's execution completes it and tells the scheduler (as the state machine's last steps do)."""
        self.clock.advance(1)
        job = self.jobs.get(job_id)
        self.jobs.save_transition(job, transition(job, S.COMPLETED, self.clock()))
        self.scheduler.finished(job_id)


def test_admits_by_priority_then_fifo_with_one_slot() -> None:
    rig = Rig(max_running_jobs=1, max_running_jobs_per_user=1)
    first = rig.queue(5)
    rig.scheduler.admit()
    waiting = [rig.queue(p) for p in (9, 5, 1, 9, 3, 1, 5)]
    rig.scheduler.admit()
    assert rig.started() == [first.job_id]  # the slot is taken
    rig.finish(first.job_id)
    for _ in waiting:
        rig.finish(rig.started()[-1])
    order = [rig.jobs.get(job_id).priority for job_id in rig.started()[1:]]
    assert order == [1, 1, 3, 5, 5, 9, 9]
    by_priority = {p: [j.job_id for j in waiting if j.priority == p] for p in (1, 5, 9)}
    started = rig.started()[1:]
    assert started[:2] == by_priority[1]
    assert started[3:5] == by_priority[5]
    assert started[5:] == by_priority[9]


def test_aging_lets_a_long_waiting_bulk_job_go_before_a_fresh_normal_one() -> None:
    rig = Rig(max_running_jobs=1, priority_aging_minutes=1)
    blocker = rig.queue(5)
    rig.scheduler.admit()
    bulk = rig.queue(9)
    rig.clock.advance(5 * 60)  # 9 -> 4 after five minutes
    fresh = rig.queue(5)
    rig.finish(blocker.job_id)
    assert rig.started()[1] == bulk.job_id
    rig.finish(bulk.job_id)
    assert rig.started()[2] == fresh.job_id


def test_a_user_with_many_jobs_does_not_hold_every_slot() -> None:
    rig = Rig(max_running_jobs=2, max_running_jobs_per_user=2)
    flood = [rig.queue(5, "alice") for _ in range(10)]
    other = rig.queue(5, "bob")
    rig.scheduler.admit()
    # Least-running-first: once alice runs one, bob's job of the same priority goes before her second.
    assert rig.started() == [flood[0].job_id, other.job_id]
    rig.finish(other.job_id)
    assert rig.started()[2] == flood[1].job_id


def test_a_users_job_waits_at_most_one_slot_behind_a_flood() -> None:
    rig = Rig(max_running_jobs=2, max_running_jobs_per_user=2)
    flood = [rig.queue(5, "alice") for _ in range(10)]
    rig.scheduler.admit()  # alice takes both slots while nothing else waits
    other = rig.queue(5, "bob")
    rig.scheduler.admit()
    assert rig.started() == [flood[0].job_id, flood[1].job_id]
    rig.finish(flood[0].job_id)  # the first slot freed goes to bob
    assert rig.started()[2] == other.job_id


def test_the_per_user_limit_leaves_slots_to_others() -> None:
    rig = Rig(max_running_jobs=3, max_running_jobs_per_user=1)
    alice = [rig.queue(1, "alice") for _ in range(3)]
    bob = rig.queue(9, "bob")
    rig.scheduler.admit()
    assert set(rig.started()) == {alice[0].job_id, bob.job_id}
    assert rig.store.running().total == 2


def test_a_start_refused_keeps_the_slot_is_tried_again_and_given_up_on_readably() -> None:
    rig = Rig(max_running_jobs=1, start_grace_seconds=60, start_give_up_seconds=600)
    doomed, next_one = rig.queue(1), rig.queue(5)
    rig.workflow.fail_next += [WorkflowRefused("ExecutionLimitExceeded")] * 20
    rig.scheduler.admit()
    assert rig.jobs.get(doomed.job_id).status is S.PROCESSING  # admitted: its slot is kept for another start
    assert rig.started() == []
    while rig.clock() - T0 < timedelta(seconds=700):
        rig.clock.advance(61)
        rig.scheduler.tick()
    failed = rig.jobs.get(doomed.job_id)
    assert failed.status is S.FAILED
    assert failed.error_type == "StartFailed"
    assert "could not be started within 10 min: " in (failed.error_message or "")
    assert "ExecutionLimitExceeded" in (failed.error_message or "")
    rig.workflow.fail_next.clear()
    rig.scheduler.tick()
    assert rig.started() == [next_one.job_id], "its slot went to the next job"


def test_repair_starts_an_admitted_job_whose_start_was_lost() -> None:
    rig = Rig(max_running_jobs=1, start_grace_seconds=60)
    job = rig.queue()
    rig.workflow.fail_next.append(WorkflowUnavailable("throttled"))
    rig.scheduler.admit()
    assert rig.jobs.get(job.job_id).status is S.PROCESSING
    assert rig.started() == []
    rig.scheduler.tick()
    assert rig.started() == []  # within the grace the start may still be on its way
    rig.clock.advance(61)
    result = rig.scheduler.tick()
    assert result.repaired == [job.job_id]
    assert rig.started() == [job.job_id]
    assert any("never started" in e.message for e in rig.jobs.list_events(job.job_id))


def test_repair_fails_a_job_whose_execution_was_stopped_from_outside() -> None:
    rig = Rig(max_running_jobs=1)
    job, waiting = rig.queue(), rig.queue()
    rig.scheduler.admit()
    execution = rig.jobs.get(job.job_id).execution_arn
    assert execution is not None
    rig.workflow.stop(execution, cause="an operator stopped it")
    result = rig.scheduler.tick()
    failed = rig.jobs.get(job.job_id)
    assert result.repaired == [job.job_id]
    assert failed.status is S.FAILED
    assert failed.error_type == "WorkflowEnded"
    assert "stopped from outside" in (failed.error_message or "")
    assert rig.started() == [job.job_id, waiting.job_id]  # its slot went to the next job
    assert any(e.message.startswith("repair:") for e in rig.jobs.list_events(job.job_id))


def test_repair_releases_a_slot_whose_release_was_lost() -> None:
    rig = Rig(max_running_jobs=1)
    job, waiting = rig.queue(), rig.queue()
    rig.scheduler.admit()
    ended = rig.jobs.get(job.job_id)
    rig.jobs.save_transition(ended, transition(ended, S.COMPLETED, rig.clock()))  # `Job Finished` never arrives
    result = rig.scheduler.tick()
    assert result.released == [job.job_id]
    assert rig.started() == [job.job_id, waiting.job_id]


def test_repair_cancels_an_upload_left_unfinished() -> None:
    rig = Rig(upload_expiry_hours=1)
    upload_id = rig.uploads.start("b", "uploads/alice/x/source", content_type="video/mp4", metadata={})
    job = make_job("alice", created_at=rig.clock()).model_copy(
        update={"upload": Upload(upload_id=upload_id, file_name="a.mp4", size=10, part_size=10, part_count=1)}
    )
    rig.jobs.create(job)
    rig.clock.advance(30 * 60)
    assert rig.scheduler.tick().repaired == []
    rig.clock.advance(31 * 60)
    assert rig.scheduler.tick().repaired == [job.job_id]
    cancelled = rig.jobs.get(job.job_id)
    assert cancelled.status is S.CANCELLED
    assert cancelled.error_type == "UploadExpired"
    assert not rig.uploads.is_open(upload_id)


@pytest.mark.parametrize("limit", [1, 3])
def test_never_more_running_than_the_limit(limit: int) -> None:
    rig = Rig(max_running_jobs=limit, max_running_jobs_per_user=limit)
    for _ in range(10):
        rig.queue()
    for _ in range(3):
        rig.scheduler.admit()
    assert len(rig.started()) == limit
    assert rig.store.running().total == limit
    assert timedelta(0) <= rig.clock() - T0
