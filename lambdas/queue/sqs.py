"""DeadLetters on SQS: the approximate depth of the rules' dead-letter queue."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lambdas.aws_errors import SdkErrors
from lambdas.queue.ports import DeadLetters


class DeadLettersUnavailable(Exception):
    """SQS throttled, failed or refused."""


_translated = SdkErrors[DeadLettersUnavailable](
    transient=DeadLettersUnavailable, otherwise=DeadLettersUnavailable
).translated


class SqsDeadLetters:
    def __init__(self, client: Any, queue_url: str) -> None:
        self._client, self._url = client, queue_url

    def depth(self) -> int:
        with _translated("dead-letter depth"):
            response = self._client.get_queue_attributes(
                QueueUrl=self._url, AttributeNames=["ApproximateNumberOfMessages"]
            )
        return int(response.get("Attributes", {}).get("ApproximateNumberOfMessages", 0))


if TYPE_CHECKING:

    def _implements_port(letters: SqsDeadLetters) -> DeadLetters:
        return letters
