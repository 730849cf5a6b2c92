"""The router: an event becomes one delivery per matching enabled endpoint of its owner, once, enqueued at once."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from lambdas.feed.model import EventType
from lambdas.webhooks.config import WebhookConfig
from lambdas.webhooks.model import DeliveryStatus, delivery_id_for
from lambdas.webhooks.ports import WebhooksUnavailable
from lambdas.webhooks.router import route
from lambdas.webhooks.service import WebhookService
from tests.contract.job_repository_contract import Clock
from tests.fakes.webhooks import InMemoryWebhookStore, RecordingDeliveryQueue, feed_event, public_resolver

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> Clock:
    return Clock(T0)


@pytest.fixture
def store() -> InMemoryWebhookStore:
    return InMemoryWebhookStore()


@pytest.fixture
def queue() -> RecordingDeliveryQueue:
    return RecordingDeliveryQueue()


@pytest.fixture
def service(store: InMemoryWebhookStore, queue: RecordingDeliveryQueue, clock: Clock) -> WebhookService:
    return WebhookService(store, queue, WebhookConfig(), resolve=public_resolver, clock=clock)


def _url(name: str) -> str:
    return f"https://{name}.example.com/hook"


def test_each_matching_enabled_endpoint_gets_one_delivery_enqueued_at_once(
    service: WebhookService, store: InMemoryWebhookStore, queue: RecordingDeliveryQueue, clock: Clock
) -> None:
    every, jobs, completed = (
        service.create("alice", _url(n), e)[0]
        for n, e in (("all", ["*"]), ("jobs", ["job.*"]), ("done", ["job.completed"]))
    )
    service.create("alice", _url("failures"), ["job.failed"])
    disabled, _ = service.create("alice", _url("off"), ["*"])
    store.save_endpoint(disabled, disabled.revised(T0, status="disabled", disabled_reason="410"))
    event = feed_event("alice", EventType.JOB_COMPLETED, at=T0)

    made = route(event, store, queue, clock)

    assert {d.endpoint_id for d in made} == {every.endpoint_id, jobs.endpoint_id, completed.endpoint_id}
    for delivery in made:
        assert delivery.delivery_id == delivery_id_for(delivery.endpoint_id, event)
        assert (delivery.body, delivery.event_id, delivery.event_type) == (event.body(), event.id, "job.completed")
        assert (delivery.status, delivery.next_attempt_at) == (DeliveryStatus.PENDING, T0)
        assert store.get_delivery(delivery.endpoint_id, delivery.delivery_id) == delivery
    assert sorted((m.endpoint_id, m.delivery_id, m.owner, m.delay_s) for m in queue.enqueued) == sorted(
        (d.endpoint_id, d.delivery_id, "alice", 0) for d in made
    )


def test_another_owners_event_never_reaches_this_owners_endpoints(
    service: WebhookService, store: InMemoryWebhookStore, queue: RecordingDeliveryQueue, clock: Clock
) -> None:
    service.create("alice", _url("alice"), ["*"])
    bob, _ = service.create("bob", _url("bob"), ["*"])

    made = route(feed_event("bob", at=T0), store, queue, clock)

    assert [d.endpoint_id for d in made] == [bob.endpoint_id]
    assert {m.owner for m in queue.enqueued} == {"bob"}
    assert route(feed_event("carol", at=T0), store, queue, clock) == []


def test_an_event_routed_twice_makes_one_delivery_and_one_message(
    service: WebhookService, store: InMemoryWebhookStore, queue: RecordingDeliveryQueue, clock: Clock
) -> None:
    endpoint, _ = service.create("alice", _url("a"), ["*"])
    event = feed_event("alice", at=T0)
    (first,) = route(event, store, queue, clock)
    clock.advance(30)

    assert route(event, store, queue, clock) == []
    assert len(queue.enqueued) == 1
    assert store.list_deliveries(endpoint.endpoint_id) == ([first], None)


def test_a_webhook_event_goes_to_the_owners_other_endpoints(
    service: WebhookService, store: InMemoryWebhookStore, queue: RecordingDeliveryQueue, clock: Clock
) -> None:
    subject, _ = service.create("alice", _url("subject"), ["*"])
    watcher, _ = service.create("alice", _url("watcher"), ["webhook.*"])
    service.create("alice", _url("jobs-only"), ["job.*"])
    event = feed_event("alice", EventType.WEBHOOK_DISABLED, at=T0, data=subject.public().model_dump(mode="json"))

    made = route(event, store, queue, clock)

    assert [d.endpoint_id for d in made] == [watcher.endpoint_id]
    assert made[0].event_type == "webhook.disabled"


def test_a_delivery_that_cannot_be_enqueued_is_made_again_when_the_event_is_retried(
    service: WebhookService, store: InMemoryWebhookStore, queue: RecordingDeliveryQueue, clock: Clock
) -> None:
    endpoint, _ = service.create("alice", _url("a"), ["*"])
    event = feed_event("alice", at=T0)
    queue.fail_next["enqueue"] = [WebhooksUnavailable("throttled")]

    with pytest.raises(WebhooksUnavailable):
        route(event, store, queue, clock)
    assert store.list_deliveries(endpoint.endpoint_id) == ([], None)

    (delivery,) = route(event, store, queue, clock)  # EventBridge retries the event
    assert [m.delivery_id for m in queue.enqueued] == [delivery.delivery_id]
