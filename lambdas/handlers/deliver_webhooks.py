"""DeliverWebhooks: a batch of the delivery queue's messages -> one signed POST each, side by side.

A message whose attempt raised (the table or the queue unavailable) is reported and received again; a receiver's
failure is not an error here: it is recorded and the next attempt scheduled through the queue.
"""

from concurrent.futures import ThreadPoolExecutor
from typing import Any

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.utilities.typing import LambdaContext

from lambdas.handlers import _wiring as wiring
from lambdas.webhooks.sender import deliver
from lambdas.webhooks.sqs import parse_message

logger = Logger()
tracer = Tracer()


def _attempt(record: dict[str, Any]) -> str | None:
    """None when handled; the message id when it must come back."""
    try:
        ref = parse_message(record["body"])
    except ValueError:
        logger.exception("not a delivery message: dropped", extra={"body": record.get("body", "")[:500]})
        return None
    try:
        outcome = deliver(
            ref, wiring.webhook_store(), wiring.delivery_queue(), wiring.webhook_transport(), wiring.webhook_config()
        )
    except Exception:
        logger.exception("attempt failed; the message comes back", extra={"delivery_id": ref.delivery_id})
        return str(record["messageId"])
    if outcome is not None:
        logger.info(
            "attempted",
            extra={
                "delivery_id": outcome.delivery_id,
                "status": outcome.status,
                "code": outcome.last_status_code,
                "latency_ms": outcome.last_latency_ms,
            },
        )
    return None


@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    records = event.get("Records", [])
    with ThreadPoolExecutor(max_workers=max(1, len(records))) as pool:
        failed = [message_id for message_id in pool.map(_attempt, records) if message_id]
    return {"batchItemFailures": [{"itemIdentifier": message_id} for message_id in failed]}
