"""One delivery queue message: the attempt it asks for, signed and sent, and what its answer means for what follows."""

from __future__ import annotations

import random
from collections.abc import Callable
from contextlib import suppress
from datetime import datetime, timedelta

from lambdas.jobs.model import utc_iso, utc_now
from lambdas.webhooks.config import WebhookConfig
from lambdas.webhooks.model import MAX_EXCERPT_CHARS, Attempt, Delivery, DeliveryStatus, Endpoint, EndpointStatus
from lambdas.webhooks.ports import (
    ConcurrentChange,
    DeliveryNotFound,
    DeliveryQueue,
    DeliveryRef,
    EndpointNotFound,
    WebhookStore,
    WebhooksUnavailable,
)
from lambdas.webhooks.retry import next_delay
from lambdas.webhooks.signing import signature_headers
from lambdas.webhooks.transport import Response, Transport

USER_AGENT = "vodpipe-webhooks/1"
GONE_STATUS = 410
GONE = "the receiver answered 410 Gone"
ENDPOINT_DISABLED = "endpoint disabled"
# A message a little early is not worth another round trip through the queue.
DUE_TOLERANCE = timedelta(seconds=1)
# Successes refresh the endpoint's last_success_at at most this often: not one endpoint write per delivery.
SUCCESS_REFRESH = timedelta(minutes=1)
_SAVE_ATTEMPTS = 3

type Clock = Callable[[], datetime]
type EndpointChange = Callable[[Endpoint, datetime], Endpoint]


def deliver(
    ref: DeliveryRef,
    store: WebhookStore,
    queue: DeliveryQueue,
    transport: Transport,
    config: WebhookConfig,
    *,
    clock: Clock = utc_now,
    rng: Callable[[], float] = random.random,
) -> Delivery | None:
    """Make the attempt `ref` asks for if it is due; the delivery as it then stands, None if there was nothing to do.

    Nothing to do: the endpoint or delivery is gone, the delivery finished already (a message delivered twice), or
    another sender recorded this attempt first. A message that arrives early is put back for the time left. Store
    and queue errors propagate (the message is then received again and finds the delivery as it was left).
    """
    try:
        endpoint = store.get_endpoint(ref.owner, ref.endpoint_id)
        delivery = store.get_delivery(ref.endpoint_id, ref.delivery_id)
    except (EndpointNotFound, DeliveryNotFound):
        return None
    if delivery.owner != ref.owner or delivery.status.finished:
        return None
    now = clock()
    if not endpoint.enabled:
        reason = f"{ENDPOINT_DISABLED}: {endpoint.disabled_reason}" if endpoint.disabled_reason else ENDPOINT_DISABLED
        return _saved(
            store,
            delivery,
            delivery.revised(now, status=DeliveryStatus.FAILED, next_attempt_at=None, last_error=reason),
        )
    due = delivery.next_attempt_at or now
    if due > now + DUE_TOLERANCE:
        queue.enqueue(delivery.endpoint_id, delivery.delivery_id, delivery.owner, (due - now).total_seconds())
        return delivery

    response = _post(transport, endpoint, delivery, now, config.timeout_s)
    attempt = Attempt(
        number=delivery.attempt_count + 1,
        at=now,
        status_code=response.status,
        latency_ms=max(0, response.latency_ms),
        error=response.error,
        response_excerpt=response.body_excerpt[:MAX_EXCERPT_CHARS],
    )
    after, change = _outcome(delivery, endpoint, attempt, now=now, config=config, rng=rng)
    saved = _saved(store, delivery, after)
    if saved is None:
        return None
    if saved.status is DeliveryStatus.PENDING and saved.next_attempt_at is not None:
        queue.enqueue(saved.endpoint_id, saved.delivery_id, saved.owner, (saved.next_attempt_at - now).total_seconds())
    if change is not None:
        # Bookkeeping the next failure or success redoes: the attempt is recorded and its successor enqueued, so
        # failing here would only have the message received again.
        with suppress(ConcurrentChange, WebhooksUnavailable):
            _change_endpoint(store, endpoint, change, clock)
    return saved


def _post(transport: Transport, endpoint: Endpoint, delivery: Delivery, now: datetime, timeout_s: float) -> Response:
    headers = signature_headers(delivery.delivery_id, now, delivery.body, endpoint.signing_secrets(now))
    headers |= {"content-type": "application/json", "user-agent": USER_AGENT}
    try:
        return transport.post(endpoint.url, delivery.body.encode(), headers, timeout_s)
    except Exception as error:  # a transport reports failures as data; anything else is this attempt failing
        return Response(None, 0, f"{type(error).__name__}: {error}")


def _failure(response_status: int | None, error: str | None) -> str:
    return error or f"the receiver answered {response_status}"


def _outcome(
    delivery: Delivery,
    endpoint: Endpoint,
    attempt: Attempt,
    *,
    now: datetime,
    config: WebhookConfig,
    rng: Callable[[], float],
) -> tuple[Delivery, EndpointChange | None]:
    """The delivery after `attempt`, and the change it makes to the endpoint (None: none)."""
    status = attempt.status_code
    if status is not None and 200 <= status < 300:
        return delivery.with_attempt(attempt, now, status=DeliveryStatus.SUCCEEDED, next_attempt_at=None), _succeeded
    if status == GONE_STATUS:
        failed = delivery.with_attempt(
            attempt, now, status=DeliveryStatus.FAILED, next_attempt_at=None, last_error=GONE
        )
        return failed, _disabling(GONE)
    reason = _failure(status, attempt.error)
    too_long = _failing_too_long(endpoint, now, config)
    if too_long is not None:
        failed = delivery.with_attempt(
            attempt,
            now,
            status=DeliveryStatus.FAILED,
            next_attempt_at=None,
            last_error=f"{ENDPOINT_DISABLED}: {too_long}",
        )
        return failed, _failed(config)
    made = delivery.round_attempts + 1
    delay = next_delay(made, config.retry_schedule, rng)
    if delay is None:
        dead = delivery.with_attempt(
            attempt,
            now,
            status=DeliveryStatus.DEAD,
            next_attempt_at=None,
            last_error=f"dead-lettered after {made} attempts: {reason}",
        )
        return dead, _failed(config)
    pending = delivery.with_attempt(attempt, now, next_attempt_at=now + timedelta(seconds=delay), last_error=reason)
    return pending, _failed(config)


def _failing_too_long(endpoint: Endpoint, now: datetime, config: WebhookConfig) -> str | None:
    """Why the endpoint is disabled on this failure (no success for too long), or None."""
    since = endpoint.failing_since
    if since is None or now - since <= config.disable_after:
        return None
    return f"failing since {utc_iso(since)}: no successful delivery for more than {config.disable_after_days:g} days"


def _succeeded(endpoint: Endpoint, now: datetime) -> Endpoint:
    last = endpoint.last_success_at
    if endpoint.failing_since is None and last is not None and now - last < SUCCESS_REFRESH:
        return endpoint
    return endpoint.revised(now, failing_since=None, last_success_at=now)


def _disabling(reason: str) -> EndpointChange:
    def disable(endpoint: Endpoint, now: datetime) -> Endpoint:
        if not endpoint.enabled:
            return endpoint
        return endpoint.revised(now, status=EndpointStatus.DISABLED, disabled_reason=reason)

    return disable


def _failed(config: WebhookConfig) -> EndpointChange:
    def failed(endpoint: Endpoint, now: datetime) -> Endpoint:
        if not endpoint.enabled:
            return endpoint
        if endpoint.failing_since is None:
            return endpoint.revised(now, failing_since=now)
        too_long = _failing_too_long(endpoint, now, config)
        return endpoint if too_long is None else _disabling(too_long)(endpoint, now)

    return failed


def _saved(store: WebhookStore, before: Delivery, after: Delivery) -> Delivery | None:
    try:
        store.save_delivery(after, before)
    except (ConcurrentChange, DeliveryNotFound):
        return None  # another sender (a duplicate message) or a replay got there first; or it expired
    return after


def _change_endpoint(store: WebhookStore, endpoint: Endpoint, change: EndpointChange, clock: Clock) -> None:
    """Apply `change` to the endpoint as stored, read again if a concurrent change (another delivery) won."""
    before = endpoint
    for attempt in range(_SAVE_ATTEMPTS):
        after = change(before, clock())
        if after is before:
            return
        try:
            store.save_endpoint(before, after)
        except EndpointNotFound:
            return
        except ConcurrentChange:
            if attempt == _SAVE_ATTEMPTS - 1:
                raise
            try:
                before = store.get_endpoint(endpoint.owner, endpoint.endpoint_id)
            except EndpointNotFound:
                return
            continue
        return
