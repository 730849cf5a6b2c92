"""The webhook service: registration (egress, event names, the endpoint limit), rotation, tests, listings, replay."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from lambdas.feed.model import EventType
from lambdas.jobs.ports import InvalidCursor
from lambdas.webhooks.config import WebhookConfig
from lambdas.webhooks.egress import EgressRefused
from lambdas.webhooks.model import DeliveryStatus, EndpointStatus
from lambdas.webhooks.ports import DeliveryNotFound, EndpointNotFound, TooManyEndpoints
from lambdas.webhooks.router import route
from lambdas.webhooks.sender import deliver
from lambdas.webhooks.service import PREVIOUS_SECRET_VALID, EndpointDisabled, InvalidWebhook, WebhookService
from tests.contract.job_repository_contract import Clock
from tests.fakes.webhooks import (
    InMemoryWebhookStore,
    RecordingDeliveryQueue,
    Request,
    ScriptedTransport,
    answer,
    feed_event,
    public_resolver,
    receiver_verifies,
)

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
URL = "https://hooks.example.com/vodpipe"


class Setup:
    def __init__(self, config: WebhookConfig | None = None) -> None:
        self.config = config or WebhookConfig()
        self.clock = Clock(T0)
        self.store = InMemoryWebhookStore()
        self.queue = RecordingDeliveryQueue()
        self.transport = ScriptedTransport(then=answer(200))
        self.service = WebhookService(self.store, self.queue, self.config, resolve=public_resolver, clock=self.clock)

    def send_all(self) -> None:
        while self.queue.waiting:
            message = self.queue.take()
            self.clock.advance(message.delay_s)
            deliver(message.ref, self.store, self.queue, self.transport, self.config, clock=self.clock)

    def last_request(self) -> Request:
        return self.transport.requests[-1]


@pytest.fixture
def setup() -> Setup:
    return Setup()


# --- registration ---------------------------------------------------------------------------------


def test_a_new_endpoint_is_stored_enabled_with_its_secret(setup: Setup) -> None:
    endpoint, secret = setup.service.create("alice", URL, ["job.completed", "job.failed"], "the CMS")

    assert secret.startswith("whsec_")
    assert endpoint.signing_secrets(T0) == (secret,)
    assert (endpoint.owner, endpoint.url, endpoint.events, endpoint.description) == (
        "alice",
        URL,
        ("job.completed", "job.failed"),
        "the CMS",
    )
    assert (endpoint.status, endpoint.created_at, endpoint.updated_at) == (EndpointStatus.ENABLED, T0, T0)
    assert setup.service.get("alice", endpoint.endpoint_id) == endpoint
    assert setup.service.list("alice") == [endpoint]


@pytest.mark.parametrize(
    ("events", "stored"),
    [
        (["*"], ("*",)),
        (["job.*", "webhook.*"], ("job.*", "webhook.*")),
        ([" job.failed", "job.failed", "job.completed "], ("job.failed", "job.completed")),
        ([str(t) for t in EventType], tuple(str(t) for t in EventType)),
    ],
)
def test_event_types_are_known_names_families_or_all(setup: Setup, events: list[str], stored: tuple[str, ...]) -> None:
    endpoint, _ = setup.service.create("alice", URL, events)
    assert endpoint.events == stored


@pytest.mark.parametrize("events", [[], ["job.finished"], ["jobs.*"], ["job"], ["*.*"], ["JOB.COMPLETED"], [""]])
def test_unknown_event_types_are_refused(setup: Setup, events: list[str]) -> None:
    with pytest.raises(InvalidWebhook) as refused:
        setup.service.create("alice", URL, events)
    assert refused.value.field == "events"
    assert setup.service.list("alice") == []


def test_a_long_description_is_refused(setup: Setup) -> None:
    with pytest.raises(InvalidWebhook) as refused:
        setup.service.create("alice", URL, ["*"], "x" * 501)
    assert refused.value.field == "description"


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:8080/hook", "https://[::1]:8443/hook", "http://hooks.example.com/vodpipe"]
)
def test_loopback_and_plain_http_are_refused_by_default(setup: Setup, url: str) -> None:
    with pytest.raises(EgressRefused):
        setup.service.create("alice", url, ["*"])
    assert setup.service.list("alice") == []


def test_a_name_resolving_to_a_private_address_is_refused(setup: Setup) -> None:
    service = WebhookService(
        setup.store, setup.queue, setup.config, resolve=lambda host, port: ["10.0.0.7", "127.0.0.1"]
    )
    with pytest.raises(EgressRefused):
        service.create("alice", URL, ["*"])


def test_loopback_is_accepted_when_insecure_targets_are_allowed() -> None:
    setup = Setup(WebhookConfig(allow_insecure_targets=True))
    endpoint, _ = setup.service.create("alice", "http://127.0.0.1:8080/hook", ["*"])
    assert endpoint.url == "http://127.0.0.1:8080/hook"


def test_an_owner_has_at_most_max_endpoints() -> None:
    setup = Setup(WebhookConfig(max_endpoints=2))
    for _ in range(2):
        setup.service.create("alice", URL, ["*"])
    with pytest.raises(TooManyEndpoints):
        setup.service.create("alice", URL, ["*"])
    setup.service.create("bob", URL, ["*"])
    setup.service.delete("alice", setup.service.list("alice")[0].endpoint_id)
    setup.service.create("alice", URL, ["*"])


def test_another_owners_endpoint_is_not_found(setup: Setup) -> None:
    endpoint, _ = setup.service.create("alice", URL, ["*"])
    for call in (
        lambda: setup.service.get("bob", endpoint.endpoint_id),
        lambda: setup.service.delete("bob", endpoint.endpoint_id),
        lambda: setup.service.rotate_secret("bob", endpoint.endpoint_id),
        lambda: setup.service.send_test("bob", endpoint.endpoint_id),
        lambda: setup.service.deliveries("bob", endpoint.endpoint_id),
    ):
        with pytest.raises(EndpointNotFound):
            call()
    assert setup.service.list("bob") == []


# --- secrets --------------------------------------------------------------------------------------


def test_after_a_rotation_both_secrets_verify_for_24_hours_then_only_the_new_one(setup: Setup) -> None:
    endpoint, old = setup.service.create("alice", URL, ["*"])
    rotated, new = setup.service.rotate_secret("alice", endpoint.endpoint_id)
    assert new != old
    assert rotated.signing_secrets(T0) == (new, old)

    setup.service.send_test("alice", endpoint.endpoint_id)
    setup.send_all()
    during = setup.last_request()
    assert receiver_verifies(old, during, setup.clock())
    assert receiver_verifies(new, during, setup.clock())

    setup.clock.now = T0 + PREVIOUS_SECRET_VALID - timedelta(seconds=1)
    setup.service.send_test("alice", endpoint.endpoint_id)
    setup.send_all()
    assert receiver_verifies(old, setup.last_request(), setup.clock())

    setup.clock.now = T0 + PREVIOUS_SECRET_VALID
    setup.service.send_test("alice", endpoint.endpoint_id)
    setup.send_all()
    after = setup.last_request()
    assert receiver_verifies(new, after, setup.clock())
    assert not receiver_verifies(old, after, setup.clock())
    assert len(after.headers["webhook-signature"].split(" ")) == 1


def test_rotating_again_drops_expired_secrets_and_keeps_a_few_at_most(setup: Setup) -> None:
    endpoint, first = setup.service.create("alice", URL, ["*"])
    assert setup.store.get_endpoint("alice", endpoint.endpoint_id).signing_secrets(T0) == (first,)
    _, second = setup.service.rotate_secret("alice", endpoint.endpoint_id)
    setup.clock.advance(3600)
    _, third = setup.service.rotate_secret("alice", endpoint.endpoint_id)
    setup.clock.advance(3600)
    rotated, fourth = setup.service.rotate_secret("alice", endpoint.endpoint_id)
    assert rotated.signing_secrets(setup.clock()) == (fourth, third, second)  # `first` retired early

    setup.clock.advance(PREVIOUS_SECRET_VALID.total_seconds())
    rotated, fifth = setup.service.rotate_secret("alice", endpoint.endpoint_id)
    assert [s.value for s in rotated.secrets] == [fifth, fourth]
    assert setup.store.get_endpoint("alice", endpoint.endpoint_id) == rotated


def test_a_rotation_survives_a_concurrent_change_of_the_endpoint(setup: Setup) -> None:
    endpoint, _ = setup.service.create("alice", URL, ["*"])
    real_save = setup.store.save_endpoint
    raced: list[bool] = []

    def save_after_a_sender(before, after):  # type: ignore[no-untyped-def]
        if not raced:
            raced.append(True)
            stored = setup.store.get_endpoint("alice", endpoint.endpoint_id)
            real_save(stored, stored.revised(T0, failing_since=T0))
        real_save(before, after)

    setup.store.save_endpoint = save_after_a_sender  # type: ignore[method-assign]
    rotated, new = setup.service.rotate_secret("alice", endpoint.endpoint_id)
    stored = setup.store.get_endpoint("alice", endpoint.endpoint_id)
    assert stored == rotated
    assert (stored.failing_since, stored.secrets[0].value, stored.version) == (T0, new, 3)


# --- tests, listings, replay ------------------------------------------------------------------------


def test_a_test_event_goes_to_that_endpoint_only_whatever_it_subscribes_to(setup: Setup) -> None:
    endpoint, secret = setup.service.create("alice", URL, ["job.failed"])
    setup.service.create("alice", "https://other.example.com/hook", ["*"])

    delivery = setup.service.send_test("alice", endpoint.endpoint_id)

    assert delivery.event_type == "webhook.test"
    assert [(m.endpoint_id, m.delivery_id, m.delay_s) for m in setup.queue.enqueued] == [
        (endpoint.endpoint_id, delivery.delivery_id, 0)
    ]
    setup.send_all()
    request = setup.last_request()
    assert request.headers["webhook-id"] == delivery.delivery_id
    assert receiver_verifies(secret, request, setup.clock())
    sent = setup.store.get_delivery(endpoint.endpoint_id, delivery.delivery_id)
    assert sent.status is DeliveryStatus.SUCCEEDED
    assert '"type":"webhook.test"' in sent.body
    assert endpoint.endpoint_id in sent.body
    assert secret not in sent.body


def test_each_test_is_a_new_delivery(setup: Setup) -> None:
    endpoint, _ = setup.service.create("alice", URL, ["*"])
    first = setup.service.send_test("alice", endpoint.endpoint_id)
    second = setup.service.send_test("alice", endpoint.endpoint_id)
    assert first.delivery_id != second.delivery_id


def test_nothing_is_sent_to_a_disabled_endpoint_until_it_is_enabled(setup: Setup) -> None:
    endpoint, _ = setup.service.create("alice", URL, ["*"])
    setup.store.save_endpoint(
        endpoint, endpoint.revised(T0, status=EndpointStatus.DISABLED, disabled_reason="gone", failing_since=T0)
    )
    with pytest.raises(EndpointDisabled):
        setup.service.send_test("alice", endpoint.endpoint_id)

    enabled = setup.service.enable("alice", endpoint.endpoint_id)
    assert (enabled.status, enabled.disabled_reason, enabled.failing_since) == (EndpointStatus.ENABLED, None, None)
    setup.service.send_test("alice", endpoint.endpoint_id)
    assert setup.service.enable("alice", endpoint.endpoint_id) == enabled  # enabled already: unchanged


def test_deliveries_are_listed_newest_first_for_their_owner_only(setup: Setup) -> None:
    endpoint, _ = setup.service.create("alice", URL, ["*"])
    made = []
    for n in range(3):
        made += route(feed_event("alice", at=setup.clock(), n=n), setup.store, setup.queue, setup.clock)
        setup.clock.advance(1)

    page, cursor = setup.service.deliveries("alice", endpoint.endpoint_id, limit=2)
    rest, end = setup.service.deliveries("alice", endpoint.endpoint_id, limit=2, cursor=cursor)
    assert [*page, *rest] == made[::-1]
    assert end is None
    assert setup.service.delivery("alice", endpoint.endpoint_id, made[0].delivery_id) == made[0]
    with pytest.raises(InvalidCursor):
        setup.service.deliveries("alice", endpoint.endpoint_id, cursor="bogus")
    with pytest.raises(EndpointNotFound):
        setup.service.delivery("bob", endpoint.endpoint_id, made[0].delivery_id)


def test_a_replay_of_an_unknown_delivery_is_not_found(setup: Setup) -> None:
    endpoint, _ = setup.service.create("alice", URL, ["*"])
    with pytest.raises(DeliveryNotFound):
        setup.service.replay("alice", endpoint.endpoint_id, "msg_" + "0" * 29)


def test_a_replay_of_a_succeeded_delivery_sends_it_again_as_it_was(setup: Setup) -> None:
    endpoint, _ = setup.service.create("alice", URL, ["*"])
    (delivery,) = route(feed_event("alice", at=T0), setup.store, setup.queue, setup.clock)
    setup.send_all()
    setup.clock.advance(600)

    replayed = setup.service.replay("alice", endpoint.endpoint_id, delivery.delivery_id)
    assert setup.queue.waiting[-1].delay_s == 0
    setup.send_all()

    first, again = setup.transport.requests
    assert (first.body, first.headers["webhook-id"]) == (again.body, again.headers["webhook-id"])
    assert first.headers["webhook-timestamp"] != again.headers["webhook-timestamp"]
    stored = setup.store.get_delivery(endpoint.endpoint_id, delivery.delivery_id)
    assert (stored.status, stored.attempt_count, replayed.attempt_count) == (DeliveryStatus.SUCCEEDED, 2, 1)
