"""A feed event to the deliveries it makes: one per enabled endpoint of the event's owner that subscribes to it."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import suppress
from datetime import datetime

from lambdas.feed.model import FeedEvent
from lambdas.jobs.model import utc_now
from lambdas.webhooks.model import Delivery
from lambdas.webhooks.ports import DeliveryQueue, WebhookStore, WebhooksUnavailable


def _subject(event: FeedEvent) -> str | None:
    """The endpoint a webhook.* event is about: it is told of itself by the API, not by its own deliveries."""
    if event.type.about_job:
        return None
    for name in ("endpoint_id", "id"):
        value = event.data.get(name)
        if isinstance(value, str):
            return value
    return None


def route(
    event: FeedEvent, store: WebhookStore, queue: DeliveryQueue, clock: Callable[[], datetime] = utc_now
) -> list[Delivery]:
    """The deliveries this event made, each stored and enqueued to be attempted at once.

    Only the owner's endpoints are read, so no other user's can receive the event. An event that arrives again
    (EventBridge delivers at least once) finds its deliveries stored and makes none. A delivery that cannot be
    enqueued is removed again and the error raised, so the event's retry makes it anew.
    """
    now, subject = clock(), _subject(event)
    made: list[Delivery] = []
    for endpoint in store.list_endpoints(event.owner):
        if endpoint.owner != event.owner or not endpoint.enabled or endpoint.endpoint_id == subject:
            continue
        if not endpoint.matches(event.type):
            continue
        delivery = Delivery.of_event(endpoint, event, now)
        if not store.put_delivery_if_absent(delivery):
            continue
        try:
            queue.enqueue(delivery.endpoint_id, delivery.delivery_id, delivery.owner, 0)
        except Exception:
            # If even this fails the delivery stays, never attempted: the error raised is the queue's.
            with suppress(WebhooksUnavailable):
                store.delete_delivery(delivery)
            raise
        made.append(delivery)
    return made
