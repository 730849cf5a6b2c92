"""The in-memory webhook store passes the same contract as the DynamoDB adapter."""

from __future__ import annotations

import pytest

from lambdas.webhooks.ports import WebhookStore
from tests.contract.webhook_store_contract import WebhookStoreContract
from tests.fakes.webhooks import InMemoryWebhookStore


class TestInMemoryWebhookStore(WebhookStoreContract):
    @pytest.fixture
    def store(self) -> WebhookStore:
        return InMemoryWebhookStore()
