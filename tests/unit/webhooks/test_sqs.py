"""The SQS delivery queue: the message body, delays within SQS's range, failures typed."""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError
from pydantic import ValidationError

from lambdas.webhooks.ports import WebhooksUnavailable
from lambdas.webhooks.sqs import SqsDeliveryQueue, parse_message

ENDPOINT, DELIVERY = "wh_01J0000000000000000000000A", "msg_" + "0" * 13 + "a" * 16


class _Recording:
    def __init__(self, error: Exception | None = None) -> None:
        self.sent: list[dict[str, Any]] = []
        self.error = error

    def send_message(self, **arguments: Any) -> dict[str, Any]:
        if self.error is not None:
            raise self.error
        self.sent.append(arguments)
        return {"MessageId": "1"}


@pytest.mark.parametrize(("delay", "seconds"), [(0, 0), (-3, 0), (4.6, 5), (300.2, 300), (900, 900), (36000, 900)])
def test_delays_are_whole_seconds_within_sqs_range(delay: float, seconds: int) -> None:
    client = _Recording()
    SqsDeliveryQueue(client, "https://sqs/q").enqueue(ENDPOINT, DELIVERY, "alice", delay)  # type: ignore[arg-type]
    (sent,) = client.sent
    assert sent["DelaySeconds"] == seconds
    assert sent["QueueUrl"] == "https://sqs/q"
    assert json.loads(sent["MessageBody"]) == {"endpoint_id": ENDPOINT, "delivery_id": DELIVERY, "owner": "alice"}


def test_a_message_parses_back_to_its_delivery() -> None:
    client = _Recording()
    SqsDeliveryQueue(client, "q").enqueue(ENDPOINT, DELIVERY, "alice", 0)  # type: ignore[arg-type]
    ref = parse_message(client.sent[0]["MessageBody"])
    assert (ref.endpoint_id, ref.delivery_id, ref.owner) == (ENDPOINT, DELIVERY, "alice")


@pytest.mark.parametrize(
    "body", ["", "{}", '{"endpoint_id":"x","delivery_id":"y","owner":"a"}', f'{{"endpoint_id":"{ENDPOINT}"}}']
)
def test_a_message_we_did_not_send_is_refused(body: str) -> None:
    with pytest.raises(ValidationError):
        parse_message(body)


@pytest.mark.parametrize(
    "error",
    [
        ClientError({"Error": {"Code": "ThrottlingException", "Message": "slow down"}}, "SendMessage"),
        EndpointConnectionError(endpoint_url="http://localhost:4566"),
    ],
)
def test_transient_failures_are_typed(error: Exception) -> None:
    with pytest.raises(WebhooksUnavailable):
        SqsDeliveryQueue(_Recording(error), "q").enqueue(ENDPOINT, DELIVERY, "alice", 0)  # type: ignore[arg-type]


def test_other_failures_keep_their_meaning() -> None:
    error = ClientError({"Error": {"Code": "AccessDenied", "Message": "no"}}, "SendMessage")
    with pytest.raises(ClientError):
        SqsDeliveryQueue(_Recording(error), "q").enqueue(ENDPOINT, DELIVERY, "alice", 0)  # type: ignore[arg-type]
