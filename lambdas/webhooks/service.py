"""What the REST API does with webhooks: register endpoints (egress-checked), rotate secrets, test, list, replay."""

from __future__ import annotations

import builtins
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from secrets import token_hex

from lambdas.feed.model import EVENT_ID_PREFIX, EventType, FeedEvent
from lambdas.jobs.model import utc_now
from lambdas.webhooks.config import WebhookConfig
from lambdas.webhooks.egress import Resolver, check_url, system_resolver
from lambdas.webhooks.model import (
    ALL_EVENTS,
    WILDCARD_SUFFIX,
    Delivery,
    DeliveryStatus,
    Endpoint,
    EndpointStatus,
    Secret,
    new_endpoint_id,
)
from lambdas.webhooks.ports import (
    ConcurrentChange,
    DeliveryNotFound,
    DeliveryQueue,
    WebhookError,
    WebhookStore,
)
from lambdas.webhooks.signing import new_secret

# A rotated-out secret still signs for this long, so receivers can switch without losing a delivery.
PREVIOUS_SECRET_VALID = timedelta(hours=24)
# The current secret and at most this many rotated-out ones sign each delivery (rotating again and again within
# a day retires the oldest early rather than growing the signature header).
MAX_PREVIOUS_SECRETS = 2
MAX_DESCRIPTION_CHARS = 500
MAX_EVENT_PATTERNS = 32
# Read-modify-write of an endpoint that a sender changed meanwhile is tried again with what is stored then.
_SAVE_ATTEMPTS = 3
_FAMILIES = frozenset(str(t).split(".", 1)[0] for t in EventType)


class InvalidWebhook(WebhookError, ValueError):
    """A field of a new endpoint the API answers 422 for: `field` names it."""

    def __init__(self, field: str, message: str) -> None:
        self.field, self.message = field, message
        super().__init__(f"{field}: {message}")


class EndpointDisabled(WebhookError):
    """Nothing is sent to a disabled endpoint: no test, no replay."""

    def __init__(self, endpoint: Endpoint) -> None:
        self.endpoint_id, self.reason = endpoint.endpoint_id, endpoint.disabled_reason
        super().__init__(f"webhook endpoint {endpoint.endpoint_id} is disabled: {endpoint.disabled_reason or 'by you'}")


def normalized_events(events: Iterable[str]) -> tuple[str, ...]:
    """The subscribed event types, each once, in the order given: known types, "*" or a known "<family>.*"."""
    patterns: list[str] = []
    for raw in events:
        pattern = raw.strip()
        known = (
            pattern == ALL_EVENTS
            or pattern in EventType.__members__.values()
            or (pattern.endswith(WILDCARD_SUFFIX) and pattern.removesuffix(WILDCARD_SUFFIX) in _FAMILIES)
        )
        if not known:
            raise InvalidWebhook(
                "events",
                f"unknown event type {raw!r}: use one of {', '.join(EventType)}, "
                f"a family ({', '.join(f + WILDCARD_SUFFIX for f in sorted(_FAMILIES))}) or {ALL_EVENTS!r}",
            )
        if pattern not in patterns:
            patterns.append(pattern)
    if not patterns:
        raise InvalidWebhook("events", "subscribe to at least one event type (or '*' for all)")
    if len(patterns) > MAX_EVENT_PATTERNS:
        raise InvalidWebhook("events", f"at most {MAX_EVENT_PATTERNS} event types")
    return tuple(patterns)


class WebhookService:
    def __init__(
        self,
        store: WebhookStore,
        queue: DeliveryQueue,
        config: WebhookConfig,
        *,
        resolve: Resolver = system_resolver,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self._store, self._queue, self._config = store, queue, config
        self._resolve, self._clock = resolve, clock

    # --- endpoints --------------------------------------------------------------------------------

    def create(self, owner: str, url: str, events: Iterable[str], description: str = "") -> tuple[Endpoint, str]:
        """A new endpoint and its secret (shown once: the store keeps it to sign, the API never shows it again).

        EgressRefused (field `url`) if the URL is not one we send to under the configured policy, InvalidWebhook
        for the other fields, TooManyEndpoints past `max_endpoints`.
        """
        patterns = normalized_events(events)
        if len(description) > MAX_DESCRIPTION_CHARS:
            raise InvalidWebhook("description", f"at most {MAX_DESCRIPTION_CHARS} characters")
        check_url(url, self._config.egress, self._resolve)
        now, secret = self._clock(), new_secret()
        endpoint = Endpoint(
            endpoint_id=new_endpoint_id(now),
            owner=owner,
            url=url,
            events=patterns,
            description=description,
            created_at=now,
            updated_at=now,
            secrets=(Secret(value=secret),),
        )
        self._store.create_endpoint(endpoint, self._config.max_endpoints)
        return endpoint, secret

    def get(self, owner: str, endpoint_id: str) -> Endpoint:
        return self._store.get_endpoint(owner, endpoint_id)

    def list(self, owner: str) -> list[Endpoint]:
        return self._store.list_endpoints(owner)

    def delete(self, owner: str, endpoint_id: str) -> None:
        self._store.delete_endpoint(owner, endpoint_id)

    def rotate_secret(self, owner: str, endpoint_id: str) -> tuple[Endpoint, str]:
        """A new current secret; the one it replaces still signs for PREVIOUS_SECRET_VALID (expired ones go)."""
        secret = new_secret()

        def rotated(endpoint: Endpoint, now: datetime) -> Endpoint:
            current, *previous = endpoint.secrets
            kept = [s for s in previous if s.valid_at(now)][: MAX_PREVIOUS_SECRETS - 1]
            retired = Secret(value=current.value, expires_at=now + PREVIOUS_SECRET_VALID)
            return endpoint.revised(now, secrets=(Secret(value=secret), retired, *kept))

        return self._change(owner, endpoint_id, rotated), secret

    def enable(self, owner: str, endpoint_id: str) -> Endpoint:
        """Send to a disabled endpoint again (the receiver is fixed); its failure record starts afresh."""

        def enabled(endpoint: Endpoint, now: datetime) -> Endpoint:
            if endpoint.enabled:
                return endpoint
            return endpoint.revised(now, status=EndpointStatus.ENABLED, disabled_reason=None, failing_since=None)

        return self._change(owner, endpoint_id, enabled)

    def _change(self, owner: str, endpoint_id: str, change: Callable[[Endpoint, datetime], Endpoint]) -> Endpoint:
        for attempt in range(_SAVE_ATTEMPTS):
            before = self._store.get_endpoint(owner, endpoint_id)
            after = change(before, self._clock())
            if after is before:
                return before
            try:
                self._store.save_endpoint(before, after)
            except ConcurrentChange:
                if attempt == _SAVE_ATTEMPTS - 1:
                    raise
                continue
            return after
        raise AssertionError("unreachable")

    # --- deliveries -------------------------------------------------------------------------------

    def send_test(self, owner: str, endpoint_id: str) -> Delivery:
        """A webhook.test event to this endpoint only (whatever it subscribes to), attempted at once."""
        endpoint = self._enabled(owner, endpoint_id)
        now = self._clock()
        event = FeedEvent(
            id=f"{EVENT_ID_PREFIX}{token_hex(16)}",
            type=EventType.WEBHOOK_TEST,
            timestamp=now,
            job_id=None,
            owner=owner,
            version=0,
            sequence=0,
            data=endpoint.public().model_dump(mode="json"),
        )
        delivery = Delivery.of_event(endpoint, event, now)
        self._store.put_delivery_if_absent(delivery)
        self._enqueue(delivery)
        return delivery

    def deliveries(
        self, owner: str, endpoint_id: str, limit: int = 20, cursor: str | None = None
    ) -> tuple[builtins.list[Delivery], str | None]:
        """The endpoint's deliveries, newest first; InvalidCursor for a cursor this listing did not hand out."""
        self._store.get_endpoint(owner, endpoint_id)
        return self._store.list_deliveries(endpoint_id, limit, cursor)

    def delivery(self, owner: str, endpoint_id: str, delivery_id: str) -> Delivery:
        self._store.get_endpoint(owner, endpoint_id)
        delivery = self._store.get_delivery(endpoint_id, delivery_id)
        if delivery.owner != owner:
            raise DeliveryNotFound(delivery_id)
        return delivery

    def replay(self, owner: str, endpoint_id: str, delivery_id: str) -> Delivery:
        """Send the delivery again, as it was (same body, same webhook-id): a new round of the retry schedule whose
        first attempt is now; the attempts of earlier rounds stay in its log."""
        self._enabled(owner, endpoint_id)
        for attempt in range(_SAVE_ATTEMPTS):
            before = self.delivery(owner, endpoint_id, delivery_id)
            now = self._clock()
            after = before.revised(now, status=DeliveryStatus.PENDING, round_attempts=0, next_attempt_at=now)
            try:
                self._store.save_delivery(after, before)
            except ConcurrentChange:
                if attempt == _SAVE_ATTEMPTS - 1:
                    raise
                continue
            self._enqueue(after)
            return after
        raise AssertionError("unreachable")

    def _enabled(self, owner: str, endpoint_id: str) -> Endpoint:
        endpoint = self._store.get_endpoint(owner, endpoint_id)
        if not endpoint.enabled:
            raise EndpointDisabled(endpoint)
        return endpoint

    def _enqueue(self, delivery: Delivery) -> None:
        self._queue.enqueue(delivery.endpoint_id, delivery.delivery_id, delivery.owner, 0)
