"""Webhook endpoints and deliveries: what a user registers, what each event sent to it becomes, and their ids."""

from __future__ import annotations

import hashlib
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any, Self

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from lambdas.jobs.model import UtcDatetime, new_job_id

if TYPE_CHECKING:
    from lambdas.feed.model import FeedEvent

ENDPOINT_ID_PREFIX = "wh_"
DELIVERY_ID_PREFIX = "msg_"
ENDPOINT_ID_PATTERN = r"^wh_[0-9A-HJKMNP-TV-Z]{26}$"
# msg_ + 13 hex of the event time in ms (sorts as the time until the year 10889) + 16 hex of a hash.
DELIVERY_ID_PATTERN = r"^msg_[0-9a-f]{29}$"
# Subscribe to everything, or to a family of types by prefix ("job.*").
ALL_EVENTS = "*"
WILDCARD_SUFFIX = ".*"
# The attempt log keeps the latest ones only (an item stays far below DynamoDB's 400 KB); the total is counted.
MAX_ATTEMPTS_KEPT = 20
MAX_EXCERPT_CHARS = 500

EndpointId = Annotated[str, StringConstraints(pattern=ENDPOINT_ID_PATTERN)]
DeliveryId = Annotated[str, StringConstraints(pattern=DELIVERY_ID_PATTERN)]


def new_endpoint_id(now: datetime | None = None) -> str:
    return ENDPOINT_ID_PREFIX + new_job_id(now)


def delivery_id_of(endpoint_id: str, event_id: str, event_time: datetime) -> str:
    millis = int(event_time.timestamp() * 1000)
    digest = hashlib.sha256(f"{endpoint_id}{event_id}".encode()).hexdigest()
    return f"{DELIVERY_ID_PREFIX}{millis:013x}{digest[:16]}"


def delivery_id_for(endpoint_id: str, event: FeedEvent) -> str:
    """The delivery of `event` to one endpoint, the same however often the event arrives: its `webhook-id`."""
    return delivery_id_of(endpoint_id, event.id, event.timestamp)


class EndpointStatus(StrEnum):
    ENABLED = "enabled"
    DISABLED = "disabled"


class DeliveryStatus(StrEnum):
    PENDING = "pending"  # an attempt is due at next_attempt_at
    SUCCEEDED = "succeeded"  # the receiver answered 2xx
    FAILED = "failed"  # not tried again: the receiver answered 410 Gone, or the endpoint is disabled
    DEAD = "dead"  # every attempt of the schedule failed (dead-lettered); a replay starts a new round

    @property
    def finished(self) -> bool:
        return self is not DeliveryStatus.PENDING


def event_type_matches(pattern: str, event_type: str) -> bool:
    if pattern == ALL_EVENTS:
        return True
    if pattern.endswith(WILDCARD_SUFFIX):
        return event_type.startswith(pattern[:-1])
    return pattern == event_type


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Secret(_Frozen):
    """A signing secret ("whsec_..."); `expires_at` None for the current one, set on the ones a rotation replaced."""

    value: str = Field(min_length=1)
    expires_at: UtcDatetime | None = None

    def valid_at(self, now: datetime) -> bool:
        return self.expires_at is None or now < self.expires_at


class PublicEndpoint(_Frozen):
    """An endpoint as its owner sees it (the API's answers, the data of webhook.* events): never its secrets."""

    endpoint_id: EndpointId
    owner: str
    url: str
    events: tuple[str, ...]
    description: str
    status: EndpointStatus
    disabled_reason: str | None
    created_at: UtcDatetime
    updated_at: UtcDatetime
    failing_since: UtcDatetime | None
    last_success_at: UtcDatetime | None


class Endpoint(_Frozen):
    endpoint_id: EndpointId
    owner: str = Field(min_length=1)
    url: str = Field(min_length=1)
    events: tuple[str, ...] = Field(min_length=1)
    description: str = ""
    status: EndpointStatus = EndpointStatus.ENABLED
    disabled_reason: str | None = None
    created_at: UtcDatetime
    updated_at: UtcDatetime
    # The current secret first; then the ones a rotation replaced, until they expire.
    secrets: tuple[Secret, ...] = Field(min_length=1)
    # The first failure since the last success (None while deliveries succeed); cleared by a success.
    failing_since: UtcDatetime | None = None
    last_success_at: UtcDatetime | None = None
    # The optimistic lock: every stored change adds one (WebhookStore.save_endpoint).
    version: int = Field(1, ge=1)

    @model_validator(mode="after")
    def _current_secret_first(self) -> Self:
        if self.secrets[0].expires_at is not None:
            raise ValueError("the current secret (the first) does not expire")
        return self

    @property
    def enabled(self) -> bool:
        return self.status is EndpointStatus.ENABLED

    def public(self) -> PublicEndpoint:
        return PublicEndpoint.model_validate(self.model_dump(exclude={"secrets", "version"}))

    def signing_secrets(self, now: datetime) -> tuple[str, ...]:
        """The secrets that sign a delivery sent at `now`: the current one and any replaced one still valid."""
        return tuple(secret.value for secret in self.secrets if secret.valid_at(now))

    def matches(self, event_type: str) -> bool:
        return any(event_type_matches(pattern, event_type) for pattern in self.events)

    def revised(self, now: datetime, **changes: Any) -> Endpoint:
        """The endpoint with `changes`, as the next version (what save_endpoint stores over this one)."""
        values = self.model_dump() | changes | {"updated_at": now, "version": self.version + 1}
        return Endpoint.model_validate(values)


class Attempt(_Frozen):
    """One POST to the receiver: its answer (`status_code`) or why there was none (`error`)."""

    number: int = Field(ge=1)  # counted over every round of the delivery
    at: UtcDatetime
    status_code: int | None = None
    latency_ms: int = Field(ge=0)
    error: str | None = None
    response_excerpt: str = Field("", max_length=MAX_EXCERPT_CHARS)


class Delivery(_Frozen):
    """One event sent to one endpoint: the exact body, where it stands, and the log of its attempts."""

    delivery_id: DeliveryId  # the `webhook-id` header of every attempt and replay
    endpoint_id: EndpointId
    owner: str = Field(min_length=1)
    event_id: str
    event_type: str
    body: str  # the JSON document sent, byte for byte what is signed
    status: DeliveryStatus = DeliveryStatus.PENDING
    attempts: tuple[Attempt, ...] = ()  # the latest MAX_ATTEMPTS_KEPT, oldest first
    attempt_count: int = Field(0, ge=0)  # every attempt made, over all rounds
    round_attempts: int = Field(0, ge=0)  # attempts made since the delivery started or was replayed
    next_attempt_at: UtcDatetime | None = None  # while pending
    created_at: UtcDatetime
    updated_at: UtcDatetime
    last_status_code: int | None = None
    last_latency_ms: int | None = None
    last_error: str | None = None
    version: int = Field(1, ge=1)

    @classmethod
    def of_event(cls, endpoint: Endpoint, event: FeedEvent, now: datetime) -> Delivery:
        """The delivery of `event` to `endpoint`, due at once."""
        return cls(
            delivery_id=delivery_id_for(endpoint.endpoint_id, event),
            endpoint_id=endpoint.endpoint_id,
            owner=endpoint.owner,
            event_id=event.id,
            event_type=str(event.type),
            body=event.body(),
            next_attempt_at=now,
            created_at=now,
            updated_at=now,
        )

    def revised(self, now: datetime, **changes: Any) -> Delivery:
        values = self.model_dump() | changes | {"updated_at": now, "version": self.version + 1}
        return Delivery.model_validate(values)

    def with_attempt(self, attempt: Attempt, now: datetime, **changes: Any) -> Delivery:
        """The delivery after `attempt`, logged and counted, with `changes` (its new status...)."""
        recorded = {
            "attempts": (*self.attempts, attempt)[-MAX_ATTEMPTS_KEPT:],
            "attempt_count": self.attempt_count + 1,
            "round_attempts": self.round_attempts + 1,
            "last_status_code": attempt.status_code,
            "last_latency_ms": attempt.latency_ms,
            "last_error": attempt.error,
        }
        return self.revised(now, **(recorded | changes))
