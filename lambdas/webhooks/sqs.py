"""DeliveryQueue on SQS: one message per attempt to make, delayed up to SQS's 15 minutes."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from lambdas.aws_errors import SdkErrors
from lambdas.webhooks.ports import DeliveryRef, WebhooksUnavailable

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

    from lambdas.webhooks.ports import DeliveryQueue

# SQS's longest DelaySeconds: a later attempt is reached by putting the message back when it arrives early.
MAX_DELAY_S = 900
_ERRORS = SdkErrors[WebhooksUnavailable](transient=WebhooksUnavailable)


def delay_seconds(delay_s: float) -> int:
    return min(MAX_DELAY_S, max(0, round(delay_s)))


def message_body(endpoint_id: str, delivery_id: str, owner: str) -> str:
    return json.dumps({"endpoint_id": endpoint_id, "delivery_id": delivery_id, "owner": owner}, separators=(",", ":"))


def parse_message(body: str) -> DeliveryRef:
    """The delivery a message asks for; pydantic's ValidationError (a ValueError) if it is not one we sent."""
    return DeliveryRef.model_validate_json(body)


class SqsDeliveryQueue:
    def __init__(self, client: SQSClient, queue_url: str) -> None:
        self._client, self._url = client, queue_url

    def enqueue(self, endpoint_id: str, delivery_id: str, owner: str, delay_s: float) -> None:
        with _ERRORS.translated(f"enqueue {endpoint_id}/{delivery_id}"):
            self._client.send_message(
                QueueUrl=self._url,
                MessageBody=message_body(endpoint_id, delivery_id, owner),
                DelaySeconds=delay_seconds(delay_s),
            )


if TYPE_CHECKING:

    def _implements_port(queue: SqsDeliveryQueue) -> DeliveryQueue:
        return queue
