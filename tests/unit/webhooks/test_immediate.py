"""First attempts at once: the router's deliveries are attempted where the event arrives, retries go to the queue."""

from __future__ import annotations

from datetime import UTC, datetime

from lambdas.feed.model import EventType
from lambdas.webhooks.config import WebhookConfig
from lambdas.webhooks.immediate import AttemptNow
from lambdas.webhooks.model import DeliveryStatus
from lambdas.webhooks.ports import DeliveryRef
from lambdas.webhooks.router import route
from lambdas.webhooks.sender import deliver
from lambdas.webhooks.service import WebhookService
from tests.contract.job_repository_contract import Clock
from tests.fakes.webhooks import (
    InMemoryWebhookStore,
    RecordingDeliveryQueue,
    ScriptedTransport,
    answer,
    feed_event,
    public_resolver,
)

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
CONFIG = WebhookConfig(retry_schedule=(5, 300))


def _setup() -> tuple[InMemoryWebhookStore, RecordingDeliveryQueue, WebhookService, Clock]:
    store, queue, clock = InMemoryWebhookStore(), RecordingDeliveryQueue(), Clock(T0)
    return store, queue, WebhookService(store, queue, CONFIG, resolve=public_resolver, clock=clock), clock


def test_the_first_attempt_is_made_at_once_and_only_a_retry_is_queued() -> None:
    store, queue, service, clock = _setup()
    ok, _ = service.create("alice", "https://ok.example.com/hook", ["*"])
    failing, _ = service.create("alice", "https://down.example.com/hook", ["*"])
    transport = ScriptedTransport(then=lambda request: answer(200) if "ok.example.com" in request.url else answer(503))
    now = AttemptNow(queue, lambda ref: deliver(ref, store, queue, transport, CONFIG, clock=clock, rng=lambda: 0.5))

    made = route(feed_event("alice", EventType.JOB_COMPLETED, at=T0), store, now, clock)
    assert now.finish() == 0

    assert len(transport.requests) == 2  # both attempted here, side by side
    by_endpoint = {d.endpoint_id: store.get_delivery(d.endpoint_id, d.delivery_id) for d in made}
    assert by_endpoint[ok.endpoint_id].status is DeliveryStatus.SUCCEEDED
    assert by_endpoint[failing.endpoint_id].status is DeliveryStatus.PENDING
    # Only the failed one's next attempt is on the queue, with the schedule's first delay.
    ((message),) = queue.enqueued
    assert (message.endpoint_id, message.delay_s) == (failing.endpoint_id, 5)


def test_an_attempt_that_cannot_be_made_here_is_left_to_the_queue_due_now() -> None:
    store, queue, service, clock = _setup()
    endpoint, _ = service.create("alice", "https://ok.example.com/hook", ["*"])

    def unavailable(ref: DeliveryRef) -> object:
        raise ConnectionError("the table is throttled")

    now = AttemptNow(queue, unavailable)
    (delivery,) = route(feed_event("alice", EventType.JOB_STARTED, at=T0), store, now, clock)
    assert now.finish() == 1
    ((message),) = queue.enqueued
    assert (message.delivery_id, message.delay_s) == (delivery.delivery_id, 0)
    assert store.get_delivery(endpoint.endpoint_id, delivery.delivery_id).status is DeliveryStatus.PENDING


def test_later_attempts_pass_straight_to_the_queue() -> None:
    queue = RecordingDeliveryQueue()
    now = AttemptNow(queue, lambda ref: (_ for _ in ()).throw(AssertionError("not attempted here")))
    now.enqueue("wh_x", "msg_y", "alice", 300)
    assert now.finish() == 0
    assert [(m.delivery_id, m.delay_s) for m in queue.enqueued] == [("msg_y", 300)]
