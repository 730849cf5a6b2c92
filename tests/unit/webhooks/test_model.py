"""Endpoints and deliveries: ids, event type patterns, signing secrets, the public view, the attempt log."""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from lambdas.feed.model import EventType
from lambdas.webhooks.model import (
    DELIVERY_ID_PATTERN,
    ENDPOINT_ID_PATTERN,
    MAX_ATTEMPTS_KEPT,
    Attempt,
    Delivery,
    DeliveryStatus,
    Secret,
    delivery_id_for,
    event_type_matches,
    new_endpoint_id,
)
from tests.contract.webhook_store_contract import make_endpoint
from tests.fakes.webhooks import feed_event

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def test_an_endpoint_id_is_wh_and_a_ulid_sorting_by_creation() -> None:
    first, second = new_endpoint_id(T0), new_endpoint_id(T0 + timedelta(milliseconds=1))
    assert re.fullmatch(ENDPOINT_ID_PATTERN, first)
    assert first < second


def test_a_delivery_id_is_the_event_time_and_a_hash_of_endpoint_and_event() -> None:
    event = feed_event("alice", at=T0)
    delivery_id = delivery_id_for("wh_01J0000000000000000000000A", event)
    assert re.fullmatch(DELIVERY_ID_PATTERN, delivery_id)
    assert delivery_id[4:17] == f"{int(T0.timestamp() * 1000):013x}"
    assert delivery_id[17:] == hashlib.sha256(f"wh_01J0000000000000000000000A{event.id}".encode()).hexdigest()[:16]


def test_a_delivery_id_is_the_same_for_the_same_event_and_endpoint_only() -> None:
    event, other = feed_event("alice", at=T0), feed_event("alice", at=T0, n=1)
    a, b = "wh_01J0000000000000000000000A", "wh_01J0000000000000000000000B"
    assert delivery_id_for(a, event) == delivery_id_for(a, event.model_copy())
    assert len({delivery_id_for(a, event), delivery_id_for(b, event), delivery_id_for(a, other)}) == 3


def test_delivery_ids_sort_by_the_event_time() -> None:
    endpoint = "wh_01J0000000000000000000000A"
    ids = [delivery_id_for(endpoint, feed_event("alice", at=T0 + timedelta(milliseconds=ms))) for ms in (0, 1, 999)]
    assert ids == sorted(ids)


@pytest.mark.parametrize(
    ("pattern", "event_type", "matches"),
    [
        ("*", "job.completed", True),
        ("*", "webhook.disabled", True),
        ("job.*", "job.completed", True),
        ("job.*", "webhook.disabled", False),
        ("job.*", "jobs.completed", False),
        ("job.completed", "job.completed", True),
        ("job.completed", "job.completed_late", False),
        ("webhook.*", "webhook.test", True),
    ],
)
def test_event_type_patterns(pattern: str, event_type: str, matches: bool) -> None:
    assert event_type_matches(pattern, event_type) is matches


def test_an_endpoint_matches_any_of_its_patterns() -> None:
    endpoint = make_endpoint("alice", events=("job.failed", "webhook.*"))
    assert [t for t in EventType if endpoint.matches(t)] == [
        EventType.JOB_FAILED,
        EventType.WEBHOOK_DISABLED,
        EventType.WEBHOOK_TEST,
    ]


def test_an_endpoint_signs_with_its_unexpired_secrets_current_first() -> None:
    secrets = (
        Secret(value="whsec_new"),
        Secret(value="whsec_previous", expires_at=T0 + timedelta(hours=24)),
        Secret(value="whsec_older", expires_at=T0),
    )
    endpoint = make_endpoint("alice", secrets=secrets)
    assert endpoint.signing_secrets(T0 - timedelta(seconds=1)) == ("whsec_new", "whsec_previous", "whsec_older")
    assert endpoint.signing_secrets(T0) == ("whsec_new", "whsec_previous")
    assert endpoint.signing_secrets(T0 + timedelta(hours=24)) == ("whsec_new",)


def test_the_current_secret_never_expires() -> None:
    with pytest.raises(ValidationError, match="current secret"):
        make_endpoint("alice", secrets=(Secret(value="whsec_x", expires_at=T0),))
    with pytest.raises(ValidationError):
        make_endpoint("alice", secrets=())


def test_the_public_view_has_no_secrets() -> None:
    endpoint = make_endpoint("alice", description="CMS")
    view = endpoint.public().model_dump(mode="json")
    assert "secrets" not in view
    assert endpoint.secrets[0].value not in str(view)
    assert view["endpoint_id"] == endpoint.endpoint_id
    assert view["status"] == "enabled"
    assert view["created_at"] == "2031-05-17T09:00:00.123456Z"


def test_a_revision_is_the_next_version_at_its_time() -> None:
    endpoint = make_endpoint("alice")
    later = endpoint.revised(T0, description="x")
    assert (later.version, later.updated_at, later.description) == (2, T0, "x")
    assert later.created_at == endpoint.created_at


def _delivery() -> Delivery:
    endpoint = make_endpoint("alice")
    return Delivery.of_event(endpoint, feed_event("alice", at=T0), T0)


def test_a_new_delivery_is_due_at_once_with_the_event_body() -> None:
    event = feed_event("alice", at=T0)
    endpoint = make_endpoint("alice")
    delivery = Delivery.of_event(endpoint, event, T0 + timedelta(seconds=3))
    assert delivery.delivery_id == delivery_id_for(endpoint.endpoint_id, event)
    assert delivery.body == event.body()
    assert (delivery.status, delivery.next_attempt_at, delivery.attempt_count) == (
        DeliveryStatus.PENDING,
        T0 + timedelta(seconds=3),
        0,
    )


def test_the_attempt_log_keeps_the_latest_and_counts_them_all() -> None:
    delivery = _delivery()
    for n in range(1, MAX_ATTEMPTS_KEPT + 6):
        attempt = Attempt(number=n, at=T0 + timedelta(minutes=n), status_code=500, latency_ms=n)
        delivery = delivery.with_attempt(attempt, attempt.at, last_error="the receiver answered 500")
    assert len(delivery.attempts) == MAX_ATTEMPTS_KEPT
    assert [a.number for a in delivery.attempts] == list(range(6, MAX_ATTEMPTS_KEPT + 6))
    assert (delivery.attempt_count, delivery.round_attempts) == (MAX_ATTEMPTS_KEPT + 5, MAX_ATTEMPTS_KEPT + 5)
    assert (delivery.last_status_code, delivery.last_latency_ms, delivery.last_error) == (
        500,
        MAX_ATTEMPTS_KEPT + 5,
        "the receiver answered 500",
    )


def test_an_attempt_keeps_at_most_500_characters_of_the_answer() -> None:
    Attempt(number=1, at=T0, status_code=200, latency_ms=1, response_excerpt="x" * 500)
    with pytest.raises(ValidationError):
        Attempt(number=1, at=T0, status_code=200, latency_ms=1, response_excerpt="x" * 501)
