"""The quota store and the token registry on the jobs table of the local runtime: their shared contracts."""

from __future__ import annotations

from typing import Any

import pytest

from lambdas.auth.dynamodb import DynamoDBTokenStore
from lambdas.jobs.dynamodb import DynamoDBJobRepository
from lambdas.quotas.dynamodb import DynamoDBQuotaStore
from tests.contract.quota_store_contract import QuotaStoreContract
from tests.contract.token_registry_contract import TokenRegistryContract
from tests.integration.jobs.test_dynamodb_repository import dynamodb, jobs_table  # noqa: F401 - fixtures


class TestDynamoDBQuotaStore(QuotaStoreContract):
    @pytest.fixture
    def jobs(self, dynamodb: Any, jobs_table: str) -> DynamoDBJobRepository:  # noqa: F811
        return DynamoDBJobRepository(dynamodb, jobs_table)

    @pytest.fixture
    def store(self, dynamodb: Any, jobs_table: str) -> DynamoDBQuotaStore:  # noqa: F811
        return DynamoDBQuotaStore(dynamodb, jobs_table)


class TestDynamoDBTokenRegistry(TokenRegistryContract):
    @pytest.fixture
    def registry(self, dynamodb: Any, jobs_table: str) -> DynamoDBTokenStore:  # noqa: F811
        return DynamoDBTokenStore(dynamodb, jobs_table)
