"""The sender: signed attempts on the retry schedule, dead-lettering, replay, and endpoints disabled by failures."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest

from lambdas.feed.model import EventType
from lambdas.webhooks.config import WebhookConfig
from lambdas.webhooks.model import Delivery, DeliveryStatus, Endpoint, EndpointStatus
from lambdas.webhooks.ports import DeliveryRef, WebhooksUnavailable
from lambdas.webhooks.retry import DEFAULT_SCHEDULE
from lambdas.webhooks.router import route
from lambdas.webhooks.sender import USER_AGENT, deliver
from lambdas.webhooks.service import WebhookService
from lambdas.webhooks.transport import Response
from tests.contract.job_repository_contract import Clock
from tests.fakes.webhooks import (
    InMemoryWebhookStore,
    RecordingDeliveryQueue,
    Request,
    ScriptedTransport,
    answer,
    feed_event,
    no_answer,
    public_resolver,
    receiver_verifies,
)

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
URL = "https://hooks.example.com/vodpipe"


@dataclass
class World:
    config: WebhookConfig = field(default_factory=WebhookConfig)
    clock: Clock = field(default_factory=lambda: Clock(T0))
    store: InMemoryWebhookStore = field(default_factory=InMemoryWebhookStore)
    queue: RecordingDeliveryQueue = field(default_factory=RecordingDeliveryQueue)
    transport: ScriptedTransport = field(default_factory=ScriptedTransport)

    @property
    def service(self) -> WebhookService:
        return WebhookService(self.store, self.queue, self.config, resolve=public_resolver, clock=self.clock)

    def endpoint(self, owner: str = "alice", events: tuple[str, ...] = ("*",)) -> tuple[Endpoint, str]:
        return self.service.create(owner, URL, events)

    def publish(self, owner: str = "alice", type_: EventType = EventType.JOB_COMPLETED, n: int = 0) -> list[Delivery]:
        return route(feed_event(owner, type_, at=self.clock(), n=n), self.store, self.queue, self.clock)

    def receive(self, ref: DeliveryRef) -> Delivery | None:
        # rng 0.5: no jitter, so the delays are the schedule's own.
        return deliver(ref, self.store, self.queue, self.transport, self.config, clock=self.clock, rng=lambda: 0.5)

    def next_message(self) -> Delivery | None:
        """The oldest message waiting, received when it is due."""
        message = self.queue.take()
        self.clock.advance(message.delay_s)
        return self.receive(message.ref)

    def drain(self) -> Delivery | None:
        delivery = None
        while self.queue.waiting:
            delivery = self.next_message()
        return delivery

    def stored(self, delivery: Delivery) -> Delivery:
        return self.store.get_delivery(delivery.endpoint_id, delivery.delivery_id)


def test_a_delivery_succeeds_on_the_third_attempt_with_the_same_id_on_each() -> None:
    world = World(transport=ScriptedTransport([answer(500), answer(500), answer(200, "ok")]))
    endpoint, secret = world.endpoint()
    (delivery,) = world.publish()

    done = world.drain()

    assert done is not None
    assert done.status is DeliveryStatus.SUCCEEDED
    assert [a.status_code for a in done.attempts] == [500, 500, 200]
    assert [a.number for a in done.attempts] == [1, 2, 3]
    assert done.attempts[-1].response_excerpt == "ok"
    assert world.stored(delivery) == done
    # What the receiver saw: one message id, the same body, each attempt signed at its own time.
    requests = world.transport.requests
    assert {r.headers["webhook-id"] for r in requests} == {delivery.delivery_id}
    assert {r.body for r in requests} == {delivery.body.encode()}
    assert [r.headers["webhook-timestamp"] for r in requests] == [str(int(a.at.timestamp())) for a in done.attempts]
    assert all(receiver_verifies(secret, r, a.at) for r, a in zip(requests, done.attempts, strict=True))
    # The first attempt at once, then the schedule's delays after each failure.
    assert [m.delay_s for m in world.queue.enqueued] == [0, DEFAULT_SCHEDULE[0], DEFAULT_SCHEDULE[1]]
    assert [a.at - T0 for a in done.attempts] == [
        timedelta(0),
        timedelta(seconds=DEFAULT_SCHEDULE[0]),
        timedelta(seconds=DEFAULT_SCHEDULE[0] + DEFAULT_SCHEDULE[1]),
    ]
    stored_endpoint = world.store.get_endpoint("alice", endpoint.endpoint_id)
    assert (stored_endpoint.failing_since, stored_endpoint.last_success_at) == (None, done.attempts[-1].at)


def test_a_request_is_the_event_json_signed_with_our_headers() -> None:
    world = World(transport=ScriptedTransport([answer(204)]))
    _, secret = world.endpoint()
    (delivery,) = world.publish()
    world.drain()

    (request,) = world.transport.requests
    assert request.url == URL
    assert request.timeout_s == world.config.timeout_s
    assert request.headers["content-type"] == "application/json"
    assert request.headers["user-agent"] == USER_AGENT
    document = json.loads(request.body)
    assert (document["id"], document["type"], document["owner"]) == (delivery.event_id, "job.completed", "alice")
    assert receiver_verifies(secret, request, world.clock())
    assert not receiver_verifies(secret, request, world.clock() + timedelta(minutes=6))  # replayed later: refused


def test_a_receiver_that_never_answers_dead_letters_the_delivery_after_the_schedule() -> None:
    world = World(transport=ScriptedTransport(then=no_answer()))
    world.endpoint()
    (delivery,) = world.publish()

    dead = world.drain()

    attempts = len(DEFAULT_SCHEDULE) + 1
    assert dead is not None
    assert dead.status is DeliveryStatus.DEAD
    assert dead.next_attempt_at is None
    assert len(world.transport.requests) == attempts
    assert [a.error for a in dead.attempts] == ["timed out after 10 s"] * attempts
    assert dead.last_error == f"dead-lettered after {attempts} attempts: timed out after 10 s"
    assert world.stored(delivery) == dead
    assert dead.attempts[-1].at - T0 == timedelta(seconds=sum(DEFAULT_SCHEDULE))
    assert world.queue.waiting == []


def test_a_replayed_dead_delivery_succeeds_with_the_same_id_and_keeps_its_log() -> None:
    world = World(transport=ScriptedTransport(then=no_answer()))
    endpoint, secret = world.endpoint()
    (delivery,) = world.publish()
    world.drain()
    world.transport.then = answer(200)
    world.clock.advance(3600)

    replayed = world.service.replay("alice", endpoint.endpoint_id, delivery.delivery_id)
    assert (replayed.status, replayed.next_attempt_at, replayed.round_attempts) == (
        DeliveryStatus.PENDING,
        world.clock(),
        0,
    )
    done = world.drain()

    attempts = len(DEFAULT_SCHEDULE) + 1
    assert done is not None
    assert done.status is DeliveryStatus.SUCCEEDED
    assert done.delivery_id == delivery.delivery_id
    assert [a.status_code for a in done.attempts] == [None] * attempts + [200]
    assert done.attempt_count == attempts + 1
    last = world.transport.requests[-1]
    assert last.headers["webhook-id"] == delivery.delivery_id
    assert receiver_verifies(secret, last, world.clock())


def test_a_replayed_delivery_that_fails_again_gets_a_whole_new_round() -> None:
    world = World(config=WebhookConfig(retry_schedule=(5, 60)), transport=ScriptedTransport(then=answer(503)))
    endpoint, _ = world.endpoint()
    (delivery,) = world.publish()
    world.drain()
    world.service.replay("alice", endpoint.endpoint_id, delivery.delivery_id)
    dead = world.drain()
    assert dead is not None
    assert dead.status is DeliveryStatus.DEAD
    assert dead.attempt_count == 6
    assert dead.last_error == "dead-lettered after 3 attempts: the receiver answered 503"


def test_410_gone_fails_the_delivery_and_disables_the_endpoint() -> None:
    world = World(transport=ScriptedTransport([answer(410)]))
    endpoint, _ = world.endpoint()
    world.publish()

    failed = world.drain()

    assert failed is not None
    assert failed.status is DeliveryStatus.FAILED
    assert failed.last_error == "the receiver answered 410 Gone"
    stored = world.store.get_endpoint("alice", endpoint.endpoint_id)
    assert (stored.status, stored.disabled_reason) == (EndpointStatus.DISABLED, "the receiver answered 410 Gone")
    assert world.queue.waiting == []
    # Nothing more is sent to it: the next event finds no enabled endpoint.
    assert world.publish(n=1) == []


def test_a_delivery_to_a_disabled_endpoint_fails_without_a_request() -> None:
    world = World(transport=ScriptedTransport([answer(410)]))
    world.endpoint()
    first, second = world.publish(n=0)[0], world.publish(n=1)[0]  # both routed before the 410
    world.drain()

    assert world.stored(first).status is DeliveryStatus.FAILED
    late = world.stored(second)
    assert late.status is DeliveryStatus.FAILED
    assert late.last_error == "endpoint disabled: the receiver answered 410 Gone"
    assert late.attempts == ()
    assert len(world.transport.requests) == 1


def test_an_endpoint_failing_for_more_than_the_setting_is_disabled_on_its_next_failure() -> None:
    config = WebhookConfig(retry_schedule=(60,), disable_after_days=5)
    world = World(config=config, transport=ScriptedTransport(then=answer(500)))
    endpoint, _ = world.endpoint()
    world.publish(n=0)
    world.drain()
    assert world.store.get_endpoint("alice", endpoint.endpoint_id).failing_since == T0

    world.clock.now = T0 + timedelta(days=4)
    world.publish(n=1)
    world.drain()
    assert world.store.get_endpoint("alice", endpoint.endpoint_id).enabled  # four days: still trying

    world.clock.now = T0 + timedelta(days=5, seconds=1)
    (delivery,) = world.publish(n=2)
    world.drain()

    stored = world.store.get_endpoint("alice", endpoint.endpoint_id)
    assert stored.status is EndpointStatus.DISABLED
    assert stored.disabled_reason == (
        "failing since 2026-03-01T12:00:00.000000Z: no successful delivery for more than 5 days"
    )
    failed = world.stored(delivery)
    assert failed.status is DeliveryStatus.FAILED
    assert failed.last_error == f"endpoint disabled: {stored.disabled_reason}"
    assert len(failed.attempts) == 1


def test_a_success_clears_the_failure_record() -> None:
    config = WebhookConfig(retry_schedule=(60,), disable_after_days=5)
    world = World(config=config, transport=ScriptedTransport([answer(500), answer(500), answer(200)]))
    endpoint, _ = world.endpoint()
    world.publish(n=0)
    world.drain()
    world.clock.now = T0 + timedelta(days=4)
    world.transport.then = answer(500)
    world.publish(n=1)
    world.drain()  # 200 at its first attempt
    stored = world.store.get_endpoint("alice", endpoint.endpoint_id)
    assert (stored.failing_since, stored.last_success_at) == (None, T0 + timedelta(days=4))

    world.clock.now = T0 + timedelta(days=6)
    world.publish(n=2)
    world.drain()
    stored = world.store.get_endpoint("alice", endpoint.endpoint_id)
    assert stored.enabled
    assert stored.failing_since == T0 + timedelta(days=6)


def test_a_message_that_arrives_early_is_put_back_for_the_rest_of_the_delay() -> None:
    world = World(transport=ScriptedTransport([answer(500), answer(200)]))
    world.endpoint()
    (delivery,) = world.publish()
    world.next_message()  # 500: the next attempt in 5 s
    message = world.queue.take()

    early = world.receive(message.ref)  # at once, 5 s early

    assert early is not None
    assert early.status is DeliveryStatus.PENDING
    assert len(world.transport.requests) == 1
    assert [m.delay_s for m in world.queue.waiting] == [DEFAULT_SCHEDULE[0]]
    assert world.drain() == world.stored(delivery)
    assert world.stored(delivery).status is DeliveryStatus.SUCCEEDED


def test_a_message_received_again_after_the_delivery_finished_sends_nothing() -> None:
    world = World(transport=ScriptedTransport([answer(200)]))
    world.endpoint()
    world.publish()
    message = world.queue.take()
    assert world.receive(message.ref) is not None

    assert world.receive(message.ref) is None
    assert len(world.transport.requests) == 1
    assert world.queue.waiting == []


def test_a_message_for_a_deleted_endpoint_or_delivery_sends_nothing() -> None:
    world = World()
    endpoint, _ = world.endpoint()
    world.publish()
    message = world.queue.take()
    world.service.delete("alice", endpoint.endpoint_id)

    assert world.receive(message.ref) is None
    unknown = DeliveryRef(endpoint_id=endpoint.endpoint_id, delivery_id="msg_" + "0" * 29, owner="alice")
    assert world.receive(unknown) is None
    assert world.transport.requests == []


def test_a_message_naming_another_owner_sends_nothing() -> None:
    world = World()
    world.endpoint("alice")
    world.publish("alice")
    message = world.queue.take()
    forged = DeliveryRef(endpoint_id=message.endpoint_id, delivery_id=message.delivery_id, owner="mallory")
    assert world.receive(forged) is None
    assert world.transport.requests == []


def test_a_message_received_twice_at_once_records_one_attempt_and_one_successor() -> None:
    world = World()
    world.endpoint()
    (delivery,) = world.publish()
    message = world.queue.take()
    inner: list[Delivery | None] = []

    def duplicate_in_flight(request: Request) -> Response:
        if not inner:
            world.transport.then = answer(500)
            inner.append(world.receive(message.ref))  # the duplicate, while the first waits for its answer
        return answer(500)

    world.transport.then = duplicate_in_flight
    outer = world.receive(message.ref)

    assert len(world.transport.requests) == 2  # both sent: receivers dedupe by webhook-id
    assert inner[0] is not None
    assert outer is None  # lost the race: no second log entry, no second schedule
    stored = world.stored(delivery)
    assert stored.attempt_count == 1
    assert len(world.queue.waiting) == 1


def test_a_transport_that_raises_is_a_failed_attempt() -> None:
    world = World()
    world.endpoint()
    (delivery,) = world.publish()

    def broken(request: Request) -> Response:
        raise OSError("network is unreachable")

    world.transport.then = broken
    world.next_message()
    stored = world.stored(delivery)
    assert stored.status is DeliveryStatus.PENDING
    assert stored.attempts[0].error == "OSError: network is unreachable"


def test_a_store_outage_after_the_attempt_leaves_the_message_to_be_received_again() -> None:
    world = World(transport=ScriptedTransport([answer(200), answer(200)]))
    world.endpoint()
    (delivery,) = world.publish()
    message = world.queue.take()
    world.store.fail_next["save_delivery"] = [WebhooksUnavailable("throttled")]

    with pytest.raises(WebhooksUnavailable):
        world.receive(message.ref)
    assert world.stored(delivery).status is DeliveryStatus.PENDING

    world.receive(message.ref)  # SQS delivers it again: the attempt is made again (receivers dedupe by webhook-id)
    assert world.stored(delivery).status is DeliveryStatus.SUCCEEDED
    assert len(world.transport.requests) == 2


def test_an_endpoint_write_that_fails_does_not_fail_the_attempt() -> None:
    world = World(transport=ScriptedTransport([answer(500)]))
    endpoint, _ = world.endpoint()
    (delivery,) = world.publish()
    world.store.fail_next["save_endpoint"] = [WebhooksUnavailable("throttled")]

    after = world.next_message()

    assert after is not None
    assert after.status is DeliveryStatus.PENDING
    assert len(world.queue.waiting) == 1
    assert world.store.get_endpoint("alice", endpoint.endpoint_id).failing_since is None
    assert world.stored(delivery) == after
