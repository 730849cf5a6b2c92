"""The QueueStore contract: one suite that the in-memory fake and the DynamoDB adapter both pass."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest

from lambdas.jobs.model import Job, JobStatus
from lambdas.jobs.ports import ConcurrentUpdate, IllegalTransition, JobRepository
from lambdas.jobs.transitions import retry, transition
from lambdas.queue.ports import QueueStore, SlotsTaken
from tests.contract.job_repository_contract import T0, Clock, make_job

S = JobStatus
QueueFactory = Callable[[Callable[[], object]], tuple[JobRepository, QueueStore]]


def queued(repo: JobRepository, clock: Clock, owner: str = "alice", priority: int = 5) -> Job:
    job = make_job(owner, created_at=clock(), priority=priority)
    repo.create(job)
    return repo.save_transition(job, transition(job, S.QUEUED, clock()))


def admitted(job: Job, clock: Clock) -> Job:
    return transition(job, S.PROCESSING, clock(), execution_arn=f"arn:aws:states:::execution:m:{job.job_id}-a0")


class QueueStoreContract:
    """Subclass it with a `queue_factory` fixture: clock -> (a fresh job repository, the queue store over it)."""

    @pytest.fixture
    def clock(self) -> Clock:
        return Clock(T0)

    @pytest.fixture
    def pair(self, queue_factory: QueueFactory, clock: Clock) -> tuple[JobRepository, QueueStore]:
        return queue_factory(clock)

    def test_admission_moves_the_job_and_counts_its_slot(
        self, pair: tuple[JobRepository, QueueStore], clock: Clock
    ) -> None:
        repo, store = pair
        job = queued(repo, clock)
        clock.advance()
        stored = store.admit(job, admitted(job, clock), max_running=2, max_per_user=1)
        assert stored.status is S.PROCESSING
        assert repo.get(job.job_id).status is S.PROCESSING
        counts = store.running()
        assert (counts.total, counts.by_owner) == (1, {"alice": 1})
        assert [held.job_id for held in store.slot_holders()] == [job.job_id]

    def test_the_global_limit_refuses_and_writes_nothing(
        self, pair: tuple[JobRepository, QueueStore], clock: Clock
    ) -> None:
        repo, store = pair
        first, second = queued(repo, clock, "alice"), queued(repo, clock, "bob")
        store.admit(first, admitted(first, clock), max_running=1, max_per_user=5)
        with pytest.raises(SlotsTaken) as refused:
            store.admit(second, admitted(second, clock), max_running=1, max_per_user=5)
        assert refused.value.scope == "global"
        assert repo.get(second.job_id).status is S.QUEUED
        assert store.running().total == 1

    def test_the_per_user_limit_refuses_only_that_user(
        self, pair: tuple[JobRepository, QueueStore], clock: Clock
    ) -> None:
        repo, store = pair
        a1, a2, b1 = queued(repo, clock, "alice"), queued(repo, clock, "alice"), queued(repo, clock, "bob")
        store.admit(a1, admitted(a1, clock), max_running=5, max_per_user=1)
        with pytest.raises(SlotsTaken) as refused:
            store.admit(a2, admitted(a2, clock), max_running=5, max_per_user=1)
        assert refused.value.scope == "user"
        store.admit(b1, admitted(b1, clock), max_running=5, max_per_user=1)
        assert store.running().by_owner == {"alice": 1, "bob": 1}

    def test_a_job_is_admitted_once(self, pair: tuple[JobRepository, QueueStore], clock: Clock) -> None:
        repo, store = pair
        job = queued(repo, clock)
        store.admit(job, admitted(job, clock), max_running=5, max_per_user=5)
        with pytest.raises((ConcurrentUpdate, IllegalTransition)):
            store.admit(job, admitted(job, clock), max_running=5, max_per_user=5)
        assert store.running().total == 1

    def test_a_job_that_moved_is_not_admitted(self, pair: tuple[JobRepository, QueueStore], clock: Clock) -> None:
        repo, store = pair
        job = queued(repo, clock)
        repo.save_transition(job, transition(job, S.CANCELLED, clock()))
        with pytest.raises((ConcurrentUpdate, IllegalTransition)):
            store.admit(job, admitted(job, clock), max_running=5, max_per_user=5)
        assert store.running().total == 0

    def test_release_gives_the_slot_back_once_and_never_from_a_running_job(
        self, pair: tuple[JobRepository, QueueStore], clock: Clock
    ) -> None:
        repo, store = pair
        waiting = queued(repo, clock)
        running = store.admit(waiting, admitted(waiting, clock), max_running=5, max_per_user=5)
        assert store.release(running.job_id) is False  # still PROCESSING
        done = repo.save_transition(running, transition(running, S.COMPLETED, clock()))
        assert [held.status for held in store.slot_holders()] == [S.COMPLETED]  # ended, not yet released
        assert store.release(done.job_id) is True
        assert store.release(done.job_id) is False
        assert store.running().total == 0
        assert store.running().by_owner == {}
        assert store.slot_holders() == []

    def test_a_retried_job_can_hold_a_slot_again(self, pair: tuple[JobRepository, QueueStore], clock: Clock) -> None:
        repo, store = pair
        job = queued(repo, clock)
        running = store.admit(job, admitted(job, clock), max_running=5, max_per_user=5)
        failed = repo.save_transition(running, transition(running, S.FAILED, clock(), error_type="X"))
        store.release(failed.job_id)
        again = repo.save_transition(failed, retry(failed, clock.advance()))
        store.admit(again, admitted(again, clock), max_running=5, max_per_user=5)
        assert store.running().total == 1

    def test_waiting_is_fifo_within_a_level(self, pair: tuple[JobRepository, QueueStore], clock: Clock) -> None:
        repo, store = pair
        jobs = []
        for priority in (5, 3, 5, 5):
            clock.advance()
            jobs.append(queued(repo, clock, priority=priority))
        assert [j.job_id for j in store.waiting(5, 10)] == [jobs[0].job_id, jobs[2].job_id, jobs[3].job_id]
        assert [j.job_id for j in store.waiting(5, 2)] == [jobs[0].job_id, jobs[2].job_id]
        assert [j.job_id for j in store.waiting(3, 10)] == [jobs[1].job_id]
        assert store.waiting(1, 10) == []
        # A job queued again goes to the back of its level.
        first = store.admit(jobs[0], admitted(jobs[0], clock), max_running=5, max_per_user=5)
        failed = repo.save_transition(first, transition(first, S.FAILED, clock(), error_type="X"))
        store.release(failed.job_id)
        repo.save_transition(failed, retry(failed, clock.advance()))
        assert [j.job_id for j in store.waiting(5, 10)] == [jobs[2].job_id, jobs[3].job_id, jobs[0].job_id]

    def test_waiting_before_counts_the_fifo_prefix(self, pair: tuple[JobRepository, QueueStore], clock: Clock) -> None:
        repo, store = pair
        jobs = []
        for _ in range(4):
            clock.advance()
            jobs.append(queued(repo, clock, priority=7))
        third = jobs[2]
        assert third.queued_at is not None
        assert store.waiting_before(7, third.queued_at, third.job_id) == 2
        assert store.waiting_before(7, jobs[0].queued_at or T0, jobs[0].job_id) == 0
        assert store.waiting_before(7, clock.advance(), "Z" * 26) == 4
        assert store.waiting_before(6, clock(), "Z" * 26) == 0

    def test_started_and_ended_windows(self, pair: tuple[JobRepository, QueueStore], clock: Clock) -> None:
        repo, store = pair
        job = queued(repo, clock)
        clock.advance(60)
        running = store.admit(job, admitted(job, clock), max_running=5, max_per_user=5)
        clock.advance(60)
        repo.save_transition(running, transition(running, S.COMPLETED, clock()))
        assert [j.job_id for j in store.started_between(T0, clock())] == [job.job_id]
        assert store.started_between(clock() - timedelta(seconds=30), clock()) == []
        assert [j.job_id for j in store.ended_between(clock() - timedelta(seconds=1), clock())] == [job.job_id]
        assert store.ended_between(T0, T0 + timedelta(seconds=90)) == []

    def test_stale_uploads(self, pair: tuple[JobRepository, QueueStore], clock: Clock) -> None:
        repo, store = pair
        old = make_job("alice", created_at=clock())
        repo.create(old)
        clock.advance(3600)
        fresh = make_job("alice", created_at=clock())
        repo.create(fresh)
        queued(repo, clock)
        assert [j.job_id for j in store.stale_uploads(clock() - timedelta(minutes=30), 10)] == [old.job_id]
