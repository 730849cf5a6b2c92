"""The in-memory token registry and the DynamoDB one (over a dict standing in for the table) pass one contract."""

from __future__ import annotations

import pytest

from lambdas.auth.dynamodb import DynamoDBTokenStore
from lambdas.auth.ports import TokenRegistry
from tests.contract.token_registry_contract import TokenRegistryContract
from tests.fakes.auth import InMemoryTokenStore
from tests.unit.api.test_openapi_and_auth import FakeDynamoDB


class TestInMemoryTokenRegistry(TokenRegistryContract):
    @pytest.fixture
    def registry(self) -> TokenRegistry:
        return InMemoryTokenStore()


class TestDynamoDBTokenRegistryItems(TokenRegistryContract):
    @pytest.fixture
    def registry(self) -> TokenRegistry:
        return DynamoDBTokenStore(FakeDynamoDB(), "jobs")  # type: ignore[arg-type]
