"""The DynamoDB webhook store's items and failures (the contract runs against LocalStack in tests/integration)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

from lambdas.jobs.schema import TTL_ATTRIBUTE
from lambdas.webhooks.dynamodb import (
    DynamoDBWebhookStore,
    delivery_from_item,
    delivery_item,
    endpoint_from_item,
    endpoint_item,
)
from lambdas.webhooks.model import Attempt, Secret
from lambdas.webhooks.ports import WebhooksUnavailable
from tests.contract.webhook_store_contract import T0, make_delivery, make_endpoint


def test_an_endpoint_item_is_keyed_by_owner_and_reads_back() -> None:
    endpoint = make_endpoint(
        "alice", secrets=(Secret(value="whsec_a"), Secret(value="whsec_b", expires_at=T0)), last_success_at=T0
    )
    item = endpoint_item(endpoint)
    assert (item["pk"], item["sk"]) == ({"S": "OWNER#alice"}, {"S": f"WEBHOOK#{endpoint.endpoint_id}"})
    assert item["status"] == {"S": "enabled"}  # what the feed reads from the stream for webhook.disabled
    assert item["updated_at"] == {"S": "2031-05-17T09:00:00.123456Z"}
    assert TTL_ATTRIBUTE not in item
    assert "failing_since" not in item
    assert endpoint_from_item(item) == endpoint


def test_a_delivery_item_is_keyed_by_endpoint_and_expires_after_30_days() -> None:
    delivery = make_delivery(make_endpoint("alice"))
    delivery = delivery.with_attempt(Attempt(number=1, at=T0, latency_ms=5, error="refused"), T0)
    item = delivery_item(delivery)
    assert item["pk"] == {"S": f"WEBHOOK#{delivery.endpoint_id}"}
    assert item["sk"] == {"S": f"DELIVERY#{delivery.delivery_id}"}
    assert item[TTL_ATTRIBUTE] == {"N": str(int((delivery.created_at + timedelta(days=30)).timestamp()))}
    assert delivery_from_item(item) == delivery


class _Failing:
    def __init__(self, error: Exception) -> None:
        self.error = error

    def __getattr__(self, name: str) -> Any:
        def fail(**_: Any) -> None:
            raise self.error

        return fail


@pytest.mark.parametrize(
    "error",
    [
        ClientError({"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "x"}}, "PutItem"),
        ClientError({"Error": {"Code": "InternalServerError", "Message": "x"}}, "Query"),
        EndpointConnectionError(endpoint_url="http://localhost:4566"),
    ],
)
def test_transient_failures_are_typed(error: Exception) -> None:
    store = DynamoDBWebhookStore(_Failing(error), "jobs")  # type: ignore[arg-type]
    endpoint = make_endpoint("alice")
    delivery = make_delivery(endpoint)
    calls: list[Callable[[], object]] = [
        lambda: store.create_endpoint(endpoint, 20),
        lambda: store.get_endpoint("alice", endpoint.endpoint_id),
        lambda: store.list_endpoints("alice"),
        lambda: store.delete_endpoint("alice", endpoint.endpoint_id),
        lambda: store.save_endpoint(endpoint, endpoint.revised(T0)),
        lambda: store.put_delivery_if_absent(delivery),
        lambda: store.get_delivery(endpoint.endpoint_id, delivery.delivery_id),
        lambda: store.save_delivery(delivery.revised(T0), delivery),
        lambda: store.delete_delivery(delivery),
        lambda: store.list_deliveries(endpoint.endpoint_id),
    ]
    for call in calls:
        with pytest.raises(WebhooksUnavailable):
            call()


def test_other_failures_keep_their_meaning() -> None:
    error = ClientError({"Error": {"Code": "AccessDeniedException", "Message": "no"}}, "GetItem")
    store = DynamoDBWebhookStore(_Failing(error), "jobs")  # type: ignore[arg-type]
    with pytest.raises(ClientError):
        store.get_endpoint("alice", make_endpoint("alice").endpoint_id)
