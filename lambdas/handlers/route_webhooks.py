"""RouteWebhooks: a job or webhook event of the deployment's bus -> one delivery per matching endpoint of its owner."""

from typing import Any

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.utilities.typing import LambdaContext

from lambdas.feed.model import FeedEvent
from lambdas.handlers import _wiring as wiring
from lambdas.webhooks.immediate import AttemptNow
from lambdas.webhooks.ports import DeliveryRef
from lambdas.webhooks.router import route
from lambdas.webhooks.sender import deliver

logger = Logger()
tracer = Tracer()


@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    feed_event = FeedEvent.model_validate(event["detail"])
    logger.append_keys(event_id=feed_event.id, job_id=feed_event.job_id, type=str(feed_event.type))
    store, queue, config = wiring.webhook_store(), wiring.delivery_queue(), wiring.webhook_config()

    def attempt(ref: DeliveryRef) -> object:
        return deliver(ref, store, queue, wiring.webhook_transport(), config)

    # The first attempt of each delivery is made here, at once; its retries go through the delivery queue.
    now = AttemptNow(queue, attempt)
    try:
        # Errors raise: EventBridge retries the event, and deliveries already made are not made twice.
        made = route(feed_event, store, now)
    finally:
        queued = now.finish()
    logger.info("routed", extra={"deliveries": [d.delivery_id for d in made], "left_to_the_queue": queued})
    return {"deliveries": [d.delivery_id for d in made]}
