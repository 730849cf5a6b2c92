"""The in-memory job repository passes the same contract as the DynamoDB adapter."""

from __future__ import annotations

import pytest

from tests.contract.job_repository_contract import JobRepositoryContract, RepositoryFactory
from tests.fakes.jobs import InMemoryJobRepository


class TestInMemoryJobRepository(JobRepositoryContract):
    @pytest.fixture
    def repository_factory(self) -> RepositoryFactory:
        return lambda clock: InMemoryJobRepository(clock=clock)
