"""The QuotaStore contract: one suite that every implementation (in-memory fake, DynamoDB adapter) passes."""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from lambdas.jobs.model import JobStatus
from lambdas.jobs.ports import JobRepository
from lambdas.jobs.transitions import transition
from lambdas.quotas.ports import QuotaKind, QuotaStore
from tests.contract.job_repository_contract import make_job

# Far from any real clock, so refusals other tests count on a shared table stay outside these windows.
T0 = datetime(2031, 5, 17, 9, 0, tzinfo=UTC)
MINUTE = timedelta(minutes=1)


def someone() -> str:
    """An owner no other test uses (the adapter's tests may share a table)."""
    return f"user-{uuid.uuid4().hex[:12]}"


class QuotaStoreContract:
    """Subclass it and provide `store` (the QuotaStore under test) and `jobs` (a JobRepository whose jobs the
    store counts: the same table for the DynamoDB adapter).

    class TestMyQuotaStore(QuotaStoreContract):
        @pytest.fixture
        def jobs(self) -> JobRepository: ...

        @pytest.fixture
        def store(self, jobs: JobRepository) -> QuotaStore: ...
    """

    @pytest.fixture
    def jobs(self) -> JobRepository:
        raise NotImplementedError

    @pytest.fixture
    def store(self, jobs: JobRepository) -> QuotaStore:
        raise NotImplementedError

    # --- uploads per hour -------------------------------------------------------------------------

    def test_uploads_are_taken_up_to_the_limit_and_not_one_more(self, store: QuotaStore) -> None:
        owner = someone()
        taken = [store.take_upload(owner, T0 + n * MINUTE, limit=3) for n in range(5)]
        assert taken == [True, True, True, False, False]

    def test_each_utc_hour_counts_afresh(self, store: QuotaStore) -> None:
        owner = someone()
        assert store.take_upload(owner, T0 + timedelta(minutes=59, seconds=59), limit=1)
        assert not store.take_upload(owner, T0 + timedelta(minutes=59, seconds=59, microseconds=999_999), limit=1)
        assert store.take_upload(owner, T0 + timedelta(hours=1), limit=1)

    def test_the_hour_is_utc_whatever_the_clock_zone(self, store: QuotaStore) -> None:
        owner = someone()
        paris = T0.astimezone(ZoneInfo("Europe/Paris"))
        assert store.take_upload(owner, paris, limit=1)
        assert not store.take_upload(owner, T0 + 30 * MINUTE, limit=1)

    def test_owners_count_apart(self, store: QuotaStore) -> None:
        alice, bob = someone(), someone()
        assert store.take_upload(alice, T0, limit=1)
        assert store.take_upload(bob, T0, limit=1)
        assert not store.take_upload(alice, T0, limit=1)

    def test_a_raised_limit_allows_more_in_the_same_hour(self, store: QuotaStore) -> None:
        owner = someone()
        assert [store.take_upload(owner, T0, limit=1) for _ in range(2)] == [True, False]
        assert store.take_upload(owner, T0, limit=2)

    def test_concurrent_uploads_never_take_more_than_the_limit(self, store: QuotaStore) -> None:
        owner, limit, attempts = someone(), 5, 12
        results: list[bool] = []
        lock = threading.Lock()
        start = threading.Barrier(attempts)

        def take() -> None:
            start.wait(timeout=30)
            taken = store.take_upload(owner, T0, limit=limit)
            with lock:
                results.append(taken)

        threads = [threading.Thread(target=take) for _ in range(attempts)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert sorted(results) == [False] * (attempts - limit) + [True] * limit

    # --- waiting jobs -----------------------------------------------------------------------------

    def test_an_owner_without_jobs_has_none_waiting(self, store: QuotaStore) -> None:
        assert store.waiting_jobs(someone()) == 0

    def test_uploading_and_queued_jobs_wait_the_others_do_not(self, store: QuotaStore, jobs: JobRepository) -> None:
        owner, other = someone(), someone()
        moves = {
            "uploading": (),
            "queued": (JobStatus.QUEUED,),
            "processing": (JobStatus.QUEUED, JobStatus.PROCESSING),
            "completed": (JobStatus.QUEUED, JobStatus.PROCESSING, JobStatus.COMPLETED),
            "cancelled": (JobStatus.CANCELLED,),
        }
        for n, path in enumerate(moves.values()):
            job = make_job(owner, created_at=T0 + n * MINUTE)
            jobs.create(job)
            for status in path:
                job = jobs.save_transition(job, transition(job, status, T0 + n * MINUTE))
        jobs.create(make_job(other, created_at=T0))

        assert store.waiting_jobs(owner) == 2
        assert store.waiting_jobs(other) == 1

    # --- refusals ---------------------------------------------------------------------------------

    def test_refusals_are_counted_to_the_minute(self, store: QuotaStore) -> None:
        start = T0 + timedelta(hours=uuid.uuid4().int % 100_000)  # an hour of this test's own
        store.refused(start + 5 * MINUTE, QuotaKind.UPLOADS_PER_HOUR)
        store.refused(start + timedelta(minutes=5, seconds=59), QuotaKind.QUEUED_JOBS)
        store.refused(start + 70 * MINUTE, QuotaKind.UPLOADS_PER_HOUR)

        assert store.refusals_since(start, start + timedelta(hours=3)) == 3
        assert store.refusals_since(start + 5 * MINUTE, start + 5 * MINUTE) == 2
        assert store.refusals_since(start + 6 * MINUTE, start + 69 * MINUTE) == 0
        # "The last hour" across an hour boundary: the minutes of both hours it overlaps, no more.
        assert store.refusals_since(start + 10 * MINUTE, start + 70 * MINUTE) == 1
        assert store.refusals_since(start + 5 * MINUTE, start + 65 * MINUTE) == 2

    def test_no_refusals_in_a_quiet_window(self, store: QuotaStore) -> None:
        quiet = T0 - timedelta(days=400 + uuid.uuid4().int % 1000)
        assert store.refusals_since(quiet, quiet + timedelta(hours=1)) == 0
        assert store.refusals_since(quiet + MINUTE, quiet) == 0
