"""In-memory fakes of the webhook ports (store, delivery queue) and a scripted Transport that records requests."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from typing import TYPE_CHECKING, Any
from unittest import mock

import pytest
import standardwebhooks
import standardwebhooks.webhooks

from lambdas.feed.model import EventType, FeedEvent, event_id
from lambdas.jobs.model import new_job_id
from lambdas.jobs.ports import check_page_size
from lambdas.webhooks.dynamodb import decode_cursor, encode_cursor
from lambdas.webhooks.model import Delivery, Endpoint
from lambdas.webhooks.ports import (
    ConcurrentChange,
    DeliveryNotFound,
    DeliveryRef,
    EndpointNotFound,
    TooManyEndpoints,
)
from lambdas.webhooks.transport import Response

if TYPE_CHECKING:
    from lambdas.webhooks.ports import DeliveryQueue, WebhookStore
    from lambdas.webhooks.transport import Transport


class _Hooks:
    """`fail_next["save_endpoint"].append(error)` makes the next call of that method raise `error` (for instance
    WebhooksUnavailable, what the adapters raise when throttled or unreachable)."""

    def __init__(self) -> None:
        self.fail_next: dict[str, list[Exception]] = {}
        self.calls: dict[str, int] = {}

    def _hook(self, name: str) -> None:
        self.calls[name] = self.calls.get(name, 0) + 1
        failures = self.fail_next.get(name)
        if failures:
            raise failures.pop(0)


class InMemoryWebhookStore(_Hooks):
    """The same rules as the DynamoDB store: owners' partitions, conditional saves on the stored version."""

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self.endpoints: dict[tuple[str, str], Endpoint] = {}  # (owner, endpoint id)
        self.deliveries: dict[tuple[str, str], Delivery] = {}  # (endpoint id, delivery id)

    # --- endpoints --------------------------------------------------------------------------------

    def create_endpoint(self, endpoint: Endpoint, max_endpoints: int) -> None:
        with self._lock:
            self._hook("create_endpoint")
            if sum(1 for owner, _ in self.endpoints if owner == endpoint.owner) >= max_endpoints:
                raise TooManyEndpoints(max_endpoints)
            key = (endpoint.owner, endpoint.endpoint_id)
            if key in self.endpoints:
                raise ConcurrentChange(f"webhook endpoint {endpoint.endpoint_id} exists already")
            self.endpoints[key] = endpoint

    def get_endpoint(self, owner: str, endpoint_id: str) -> Endpoint:
        with self._lock:
            self._hook("get_endpoint")
            endpoint = self.endpoints.get((owner, endpoint_id))
        if endpoint is None:
            raise EndpointNotFound(endpoint_id)
        return endpoint

    def list_endpoints(self, owner: str) -> list[Endpoint]:
        with self._lock:
            self._hook("list_endpoints")
            return sorted((e for (o, _), e in self.endpoints.items() if o == owner), key=lambda e: e.endpoint_id)

    def delete_endpoint(self, owner: str, endpoint_id: str) -> None:
        with self._lock:
            self._hook("delete_endpoint")
            if self.endpoints.pop((owner, endpoint_id), None) is None:
                raise EndpointNotFound(endpoint_id)

    def save_endpoint(self, before: Endpoint, after: Endpoint) -> None:
        _check_successor(before, after)
        with self._lock:
            self._hook("save_endpoint")
            key = (before.owner, before.endpoint_id)
            stored = self.endpoints.get(key)
            if stored is None:
                raise EndpointNotFound(before.endpoint_id)
            if stored.version != before.version or stored.status != before.status:
                raise ConcurrentChange(f"webhook endpoint {before.endpoint_id} changed meanwhile")
            self.endpoints[key] = after

    # --- deliveries -------------------------------------------------------------------------------

    def put_delivery_if_absent(self, delivery: Delivery) -> bool:
        with self._lock:
            self._hook("put_delivery_if_absent")
            key = (delivery.endpoint_id, delivery.delivery_id)
            if key in self.deliveries:
                return False
            self.deliveries[key] = delivery
            return True

    def get_delivery(self, endpoint_id: str, delivery_id: str) -> Delivery:
        with self._lock:
            self._hook("get_delivery")
            delivery = self.deliveries.get((endpoint_id, delivery_id))
        if delivery is None:
            raise DeliveryNotFound(delivery_id)
        return delivery

    def save_delivery(self, delivery: Delivery, before: Delivery | None = None) -> None:
        if before is not None:
            _check_successor(before, delivery)
        with self._lock:
            self._hook("save_delivery")
            key = (delivery.endpoint_id, delivery.delivery_id)
            stored = self.deliveries.get(key)
            if stored is None:
                raise DeliveryNotFound(delivery.delivery_id)
            if before is not None and stored.version != before.version:
                raise ConcurrentChange(f"webhook delivery {delivery.delivery_id} changed meanwhile")
            self.deliveries[key] = delivery

    def delete_delivery(self, delivery: Delivery) -> None:
        with self._lock:
            self._hook("delete_delivery")
            key = (delivery.endpoint_id, delivery.delivery_id)
            stored = self.deliveries.get(key)
            if stored is not None and stored.version == delivery.version:
                del self.deliveries[key]

    def list_deliveries(
        self, endpoint_id: str, limit: int = 20, cursor: str | None = None
    ) -> tuple[list[Delivery], str | None]:
        check_page_size(limit)
        after = decode_cursor(cursor, endpoint_id) if cursor is not None else None
        with self._lock:
            self._hook("list_deliveries")
            ids = sorted((d for e, d in self.deliveries if e == endpoint_id), reverse=True)
            if after is not None:
                ids = [d for d in ids if d < after]
            page = [self.deliveries[(endpoint_id, d)] for d in ids[:limit]]
        more = len(ids) > limit
        return page, encode_cursor(endpoint_id, page[-1].delivery_id) if more else None


def _check_successor(before: Endpoint | Delivery, after: Endpoint | Delivery) -> None:
    names = {"endpoint_id", "owner", "delivery_id"}
    if type(before) is not type(after) or before.model_dump(include=names) != after.model_dump(include=names):
        raise ValueError("save the next version of the same item")
    if after.version != before.version + 1:
        raise ValueError("save the next version of the same item: after = before.revised(...)")


@dataclass(frozen=True)
class Enqueued:
    endpoint_id: str
    delivery_id: str
    owner: str
    delay_s: float

    @property
    def ref(self) -> DeliveryRef:
        return DeliveryRef(endpoint_id=self.endpoint_id, delivery_id=self.delivery_id, owner=self.owner)


class RecordingDeliveryQueue(_Hooks):
    """Keeps every message enqueued, with its delay; `take()` receives the oldest not yet received."""

    def __init__(self) -> None:
        super().__init__()
        self.enqueued: list[Enqueued] = []
        self._received = 0

    def enqueue(self, endpoint_id: str, delivery_id: str, owner: str, delay_s: float) -> None:
        self._hook("enqueue")
        self.enqueued.append(Enqueued(endpoint_id, delivery_id, owner, delay_s))

    @property
    def waiting(self) -> list[Enqueued]:
        return self.enqueued[self._received :]

    def take(self) -> Enqueued:
        message = self.enqueued[self._received]
        self._received += 1
        return message


@dataclass(frozen=True)
class Request:
    """What a receiver saw of one POST."""

    url: str
    headers: Mapping[str, str]
    body: bytes
    timeout_s: float


@dataclass
class ScriptedTransport:
    """Answers `responses` in order, then `then` for ever (if set: else running out fails the test)."""

    responses: Sequence[Response] = ()
    then: Response | Callable[[Request], Response] | None = None
    requests: list[Request] = field(default_factory=list)

    def post(self, url: str, body: bytes, headers: Mapping[str, str], timeout_s: float) -> Response:
        request = Request(url, dict(headers), body, timeout_s)
        self.requests.append(request)
        if len(self.requests) <= len(self.responses):
            return self.responses[len(self.requests) - 1]
        if self.then is None:
            # pytest's Failed is no Exception: the sender cannot mistake it for a transport failure.
            pytest.fail(f"request {len(self.requests)} was not expected: {url}")
        return self.then(request) if callable(self.then) else self.then


def answer(status: int, body: str = "", latency_ms: int = 12) -> Response:
    return Response(status, latency_ms, None, body)


def no_answer(error: str = "timed out after 10 s", latency_ms: int = 10_000) -> Response:
    return Response(None, latency_ms, error)


if TYPE_CHECKING:

    def _implements_store(store: InMemoryWebhookStore) -> WebhookStore:
        return store

    def _implements_queue(queue: RecordingDeliveryQueue) -> DeliveryQueue:
        return queue

    def _implements_transport(transport: ScriptedTransport) -> Transport:
        return transport


# --- helpers for the webhook tests ----------------------------------------------------------------

PUBLIC_ADDRESS = "93.184.215.14"  # a global address: what the fake resolver answers for every name


def public_resolver(host: str, port: int) -> list[str]:
    return [PUBLIC_ADDRESS]


def feed_event(
    owner: str,
    type_: EventType = EventType.JOB_COMPLETED,
    *,
    at: datetime,
    n: int = 0,
    data: dict[str, Any] | None = None,
) -> FeedEvent:
    """A feed event of `owner` (job events about a job of theirs), as the feed's bus delivers it."""
    job_id = new_job_id(at)
    return FeedEvent(
        id=event_id("test", owner, str(type_), n, job_id),
        type=type_,
        timestamp=at,
        job_id=job_id if type_.about_job else None,
        owner=owner,
        version=n + 1,
        sequence=0,
        data={"job_id": job_id, "owner": owner, "status": "COMPLETED"} if data is None else data,
    )


def receiver_verifies(secret: str, request: Request, at: datetime) -> bool:
    """Whether a receiver holding `secret` accepts `request` at `at` (its clock: standardwebhooks refuses
    timestamps more than 5 minutes away from it), with the Standard Webhooks library receivers use."""

    class ReceiverClock(datetime):
        @classmethod
        def now(cls, tz: tzinfo | None = None) -> ReceiverClock:
            moment = at.astimezone(tz)
            return cls.fromtimestamp(moment.timestamp(), tz)

    with mock.patch.object(standardwebhooks.webhooks, "datetime", ReceiverClock):
        try:
            standardwebhooks.Webhook(secret).verify(request.body, dict(request.headers))
        except standardwebhooks.WebhookVerificationError:
            return False
    return True
