"""The webhook store and the delivery queue as the service, router and sender need them, with their typed errors."""

from __future__ import annotations

from typing import Protocol

from pydantic import BaseModel, ConfigDict

from lambdas.webhooks.model import Delivery, DeliveryId, Endpoint, EndpointId


class WebhookError(Exception):
    """Base of the webhook errors."""


class EndpointNotFound(WebhookError):
    def __init__(self, endpoint_id: str) -> None:
        self.endpoint_id = endpoint_id
        super().__init__(f"webhook endpoint {endpoint_id} not found")


class DeliveryNotFound(WebhookError):
    def __init__(self, delivery_id: str) -> None:
        self.delivery_id = delivery_id
        super().__init__(f"webhook delivery {delivery_id} not found")


class TooManyEndpoints(WebhookError):
    def __init__(self, limit: int) -> None:
        self.limit = limit
        super().__init__(f"you have {limit} webhook endpoints, the most allowed: delete one before adding another")


class ConcurrentChange(WebhookError):
    """The endpoint or delivery changed since it was read (or already exists): read it again and retry."""


class WebhooksUnavailable(WebhookError):
    """The store or the queue throttled, failed or could not be reached: the request may succeed if retried."""


class WebhookStore(Protocol):
    # --- endpoints: pk OWNER#<owner>, so only an owner's own are ever read -------------------------

    def create_endpoint(self, endpoint: Endpoint, max_endpoints: int) -> None:
        """Store a new endpoint; TooManyEndpoints if its owner has `max_endpoints` already (counted as stored:
        concurrent creations by one owner may end one or two over), ConcurrentChange if its id is taken."""
        ...

    def get_endpoint(self, owner: str, endpoint_id: str) -> Endpoint:
        """EndpointNotFound unless `owner` has it (another owner's endpoint is not found either)."""
        ...

    def list_endpoints(self, owner: str) -> list[Endpoint]:
        """Every endpoint of `owner`, oldest first."""
        ...

    def delete_endpoint(self, owner: str, endpoint_id: str) -> None:
        """EndpointNotFound unless `owner` has it. Its deliveries stay until they expire (30 days)."""
        ...

    def save_endpoint(self, before: Endpoint, after: Endpoint) -> None:
        """Store `after` (`before.revised(...)`) if the endpoint is still `before` as stored (same version and
        status); else ConcurrentChange, or EndpointNotFound if it was deleted."""
        ...

    # --- deliveries: pk WEBHOOK#<endpoint id>, newest first by their ids ------------------------------

    def put_delivery_if_absent(self, delivery: Delivery) -> bool:
        """Store a new delivery; False (nothing written) if one with its id exists already."""
        ...

    def get_delivery(self, endpoint_id: str, delivery_id: str) -> Delivery:
        """DeliveryNotFound if the endpoint has no such delivery (or it expired)."""
        ...

    def save_delivery(self, delivery: Delivery, before: Delivery | None = None) -> None:
        """Store a changed delivery. With `before` (what `delivery` was revised from): only if the delivery is still
        `before` as stored, else ConcurrentChange: two senders handling one delivery at once record one attempt and
        go on with one schedule. DeliveryNotFound if it is not stored (expired)."""
        ...

    def delete_delivery(self, delivery: Delivery) -> None:
        """Remove a delivery no attempt was made of (its enqueueing failed: the event is routed again)."""
        ...

    def list_deliveries(
        self, endpoint_id: str, limit: int = 20, cursor: str | None = None
    ) -> tuple[list[Delivery], str | None]:
        """The endpoint's deliveries, newest first, at most `limit` (1..100), and the cursor of the next page (None
        on the last). A cursor this listing did not hand out for this endpoint is InvalidCursor."""
        ...


class DeliveryRef(BaseModel):
    """A delivery queue message: which delivery to attempt (the store says whether and when)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    endpoint_id: EndpointId
    delivery_id: DeliveryId
    owner: str


class DeliveryQueue(Protocol):
    def enqueue(self, endpoint_id: str, delivery_id: str, owner: str, delay_s: float) -> None:
        """Ask for an attempt of the delivery in about `delay_s` seconds (at most the queue's longest delay: a
        message that arrives before the delivery is due is put back with the rest). WebhooksUnavailable if it
        cannot be sent."""
        ...
