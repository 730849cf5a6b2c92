"""The DynamoDB queue store on the local runtime: the shared contract, and admission under concurrency."""

from __future__ import annotations

import contextlib
import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest

from lambdas.jobs.dynamodb import DynamoDBJobRepository
from lambdas.jobs.model import JobStatus, utc_now
from lambdas.jobs.ports import ConcurrentUpdate, IllegalTransition
from lambdas.jobs.transitions import transition
from lambdas.queue.dynamodb import DynamoDBQueueStore
from lambdas.queue.ports import SlotsTaken
from tests.contract.job_repository_contract import make_job
from tests.contract.queue_store_contract import QueueFactory, QueueStoreContract
from tests.integration.jobs.test_dynamodb_repository import dynamodb, jobs_table  # noqa: F401 - fixtures

S = JobStatus


class TestDynamoDBQueueStore(QueueStoreContract):
    @pytest.fixture
    def queue_factory(self, dynamodb: Any, jobs_table: str) -> QueueFactory:  # noqa: F811
        def build(clock: Callable[[], Any]) -> Any:
            return DynamoDBJobRepository(dynamodb, jobs_table, clock=clock), DynamoDBQueueStore(dynamodb, jobs_table)

        return build


MAX_RUNNING, PER_USER, JOBS, WORKERS = 5, 2, 36, 8
OWNERS = ("ann", "ben", "cat", "dan")


def test_admission_is_atomic_under_concurrent_passes_completions_and_cancels(
    dynamodb: Any,  # noqa: F811
    jobs_table: str,  # noqa: F811
) -> None:
    """Eight threads interleave admission passes, completions (+ release) and cancels on one table: every job is
    admitted at most once, the running count never exceeds either limit (read from the jobs themselves), and
    at the end no slot is left held."""
    repo = DynamoDBJobRepository(dynamodb, jobs_table)
    store = DynamoDBQueueStore(dynamodb, jobs_table)
    for n in range(JOBS):
        job = make_job(OWNERS[n % len(OWNERS)], created_at=utc_now(), priority=1 + n % 10)
        repo.create(job)
        repo.save_transition(job, transition(job, S.QUEUED, utc_now()))
    admissions: Counter[str] = Counter()
    violations: list[str] = []
    lock = threading.Lock()
    deadline = time.monotonic() + 120

    def check_limits() -> None:
        running = [j for j in store.slot_holders() if repo.get(j.job_id).status is S.PROCESSING]
        per_owner = Counter(j.owner for j in running)
        counts = store.running()
        if counts.total > MAX_RUNNING or len(running) > MAX_RUNNING or max(per_owner.values(), default=0) > PER_USER:
            with lock:
                violations.append(f"running {counts.total} / {len(running)}, per owner {dict(per_owner)}")

    def worker(seed: int) -> None:
        rng = random.Random(seed)
        while time.monotonic() < deadline:
            waiting = [j for level in range(1, 11) for j in store.waiting(level, 50)]
            holders = [j for j in store.slot_holders() if j.status is S.PROCESSING]
            if not waiting and not holders:
                return
            action = rng.random()
            if waiting and action < 0.6:
                job = rng.choice(waiting)
                try:
                    store.admit(
                        job,
                        transition(job, S.PROCESSING, utc_now()),
                        max_running=MAX_RUNNING,
                        max_per_user=PER_USER,
                    )
                except (SlotsTaken, ConcurrentUpdate, IllegalTransition):
                    pass
                else:
                    with lock:
                        admissions[job.job_id] += 1
            elif waiting and action < 0.65:
                job = rng.choice(waiting)  # the user cancels a waiting job, racing its admission
                with contextlib.suppress(ConcurrentUpdate, IllegalTransition):
                    repo.save_transition(job, transition(job, S.CANCELLED, utc_now()))
                store.release(job.job_id)  # as the API does after a cancel (a no-op if it never held one)
            elif holders:
                job = repo.get(rng.choice(holders).job_id)
                end = S.COMPLETED if rng.random() < 0.8 else S.CANCELLED
                if job.status is S.PROCESSING:
                    with contextlib.suppress(ConcurrentUpdate, IllegalTransition):
                        repo.save_transition(job, transition(job, end, utc_now()))
                store.release(job.job_id)
            check_limits()

    threads = [threading.Thread(target=worker, args=(seed,)) for seed in range(WORKERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert violations == []
    assert all(count == 1 for count in admissions.values()), admissions
    jobs = [repo.get(job_id) for job_id in admissions]
    assert all(job.status.terminal for job in jobs)
    assert store.running().total == 0
    assert store.slot_holders() == []
    # Nothing was left behind: each job either ran once or was cancelled while waiting.
    assert len(admissions) >= JOBS // 2
