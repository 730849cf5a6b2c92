"""The webhook store on the jobs table of the local runtime: the WebhookStore contract, and the items' TTL."""

from __future__ import annotations

from typing import Any

import pytest

from lambdas.jobs.schema import TTL_ATTRIBUTE
from lambdas.webhooks.dynamodb import DELIVERY_RETENTION, DynamoDBWebhookStore, delivery_key, endpoint_key
from tests.contract.webhook_store_contract import WebhookStoreContract, make_delivery, make_endpoint, someone
from tests.integration.jobs.test_dynamodb_repository import dynamodb, jobs_table  # noqa: F401 - fixtures


class TestDynamoDBWebhookStore(WebhookStoreContract):
    @pytest.fixture
    def store(self, dynamodb: Any, jobs_table: str) -> DynamoDBWebhookStore:  # noqa: F811
        return DynamoDBWebhookStore(dynamodb, jobs_table)


def test_deliveries_expire_endpoints_do_not(dynamodb: Any, jobs_table: str) -> None:  # noqa: F811
    store = DynamoDBWebhookStore(dynamodb, jobs_table)
    endpoint = make_endpoint(someone())
    delivery = make_delivery(endpoint)
    store.create_endpoint(endpoint, max_endpoints=20)
    store.put_delivery_if_absent(delivery)

    stored_endpoint = dynamodb.get_item(TableName=jobs_table, Key=endpoint_key(endpoint.owner, endpoint.endpoint_id))
    stored_delivery = dynamodb.get_item(
        TableName=jobs_table, Key=delivery_key(endpoint.endpoint_id, delivery.delivery_id)
    )
    assert TTL_ATTRIBUTE not in stored_endpoint["Item"]
    expected = int((delivery.created_at + DELIVERY_RETENTION).timestamp())
    assert stored_delivery["Item"][TTL_ATTRIBUTE] == {"N": str(expected)}


def test_webhook_items_stay_out_of_the_jobs_indexes(dynamodb: Any, jobs_table: str) -> None:  # noqa: F811
    store = DynamoDBWebhookStore(dynamodb, jobs_table)
    endpoint = make_endpoint(someone())
    store.create_endpoint(endpoint, max_endpoints=20)
    store.put_delivery_if_absent(make_delivery(endpoint))
    item = dynamodb.get_item(TableName=jobs_table, Key=endpoint_key(endpoint.owner, endpoint.endpoint_id))["Item"]
    assert not {name for name in item if name.startswith("gsi")}
