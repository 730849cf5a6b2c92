"""The in-memory quota store passes the same contract as the DynamoDB adapter."""

from __future__ import annotations

import pytest

from lambdas.jobs.ports import JobRepository
from lambdas.quotas.ports import QuotaStore
from tests.contract.quota_store_contract import QuotaStoreContract
from tests.fakes.jobs import InMemoryJobRepository
from tests.fakes.quotas import InMemoryQuotaStore


class TestInMemoryQuotaStore(QuotaStoreContract):
    @pytest.fixture
    def jobs(self) -> JobRepository:
        return InMemoryJobRepository()

    @pytest.fixture
    def store(self, jobs: JobRepository) -> QuotaStore:
        return InMemoryQuotaStore(jobs)
