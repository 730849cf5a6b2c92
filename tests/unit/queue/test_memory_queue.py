"""The in-memory queue store holds to the same contract as the DynamoDB one."""

from __future__ import annotations

import pytest

from tests.contract.queue_store_contract import QueueFactory, QueueStoreContract
from tests.fakes.jobs import InMemoryJobRepository
from tests.fakes.queue import InMemoryQueueStore


class TestInMemoryQueueStore(QueueStoreContract):
    @pytest.fixture
    def queue_factory(self) -> QueueFactory:
        def build(clock):  # type: ignore[no-untyped-def]
            repo = InMemoryJobRepository(clock=clock)
            return repo, InMemoryQueueStore(repo)

        return build
