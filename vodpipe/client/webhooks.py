"""Waiting for a webhook delivery's outcome: the endpoint's delivery log, read until the delivery is settled."""

from __future__ import annotations

import threading
import time
from typing import Any

from vodpipe.client.api import ApiClient, Json
from vodpipe.client.errors import ClientError

PENDING = "pending"
SUCCEEDED = "succeeded"
MAX_PAGES = 5  # a delivery just made is on the first page (newest first); a few more for a busy endpoint


class DeliveryPending(ClientError):
    """The delivery was still pending at the deadline; `delivery` is its last state."""

    def __init__(self, delivery: Json, waited: float) -> None:
        self.delivery = delivery
        super().__init__(f"delivery {delivery.get('id')} still pending after {waited:.0f} s: {describe(delivery)}")

    def document(self) -> dict[str, Any]:
        return super().document() | {"delivery": self.delivery}


class DeliveryNotListed(ClientError):
    """The endpoint's delivery log does not (or no longer) hold the delivery."""


def describe(delivery: Json) -> str:
    """`succeeded: HTTP 200 in 42 ms after 1 attempt`, `pending: attempt 2 answered HTTP 500 …, next …`."""
    status, count = delivery.get("status"), delivery.get("attempt_count") or 0
    if not count:
        return f"{status}: no attempt yet" + _next(delivery)
    code, error = delivery.get("last_status_code"), delivery.get("last_error")
    answer = f"HTTP {code}" if code is not None else "no answer"
    latency = delivery.get("last_latency_ms")
    timing = f" in {latency} ms" if latency is not None else ""
    problem = f" ({error})" if error else ""
    attempts = f"{count} attempt{'s' if count != 1 else ''}"
    if status == PENDING:
        return f"{status}: attempt {count} got {answer}{timing}{problem}" + _next(delivery)
    return f"{status}: {answer}{timing}{problem} after {attempts}"


def _next(delivery: Json) -> str:
    at = delivery.get("next_attempt_at")
    return f", next attempt at {str(at)[:19].replace('T', ' ')} UTC" if at else ""


def find_delivery(api: ApiClient, webhook_id: str, delivery_id: str) -> Json:
    """The delivery as the endpoint's log shows it now."""
    cursor: str | None = None
    for _ in range(MAX_PAGES):
        page = api.webhook_deliveries(webhook_id, limit=100, cursor=cursor)
        for delivery in page.get("deliveries") or ():
            if delivery.get("id") == delivery_id:
                return dict(delivery)
        cursor = page.get("next_cursor")
        if not cursor:
            break
    raise DeliveryNotListed(f"delivery {delivery_id} is not in the log of webhook {webhook_id}")


def wait_for_delivery(
    api: ApiClient,
    webhook_id: str,
    delivery_id: str,
    *,
    timeout: float = 60.0,
    interval: float = 1.0,
    stop: threading.Event | None = None,
) -> Json:
    """Read the delivery log every `interval` seconds until the delivery is no longer pending (succeeded, failed
    or dead): its final state. DeliveryPending after `timeout` seconds."""
    stop = stop or threading.Event()
    started = time.monotonic()
    while True:
        delivery = find_delivery(api, webhook_id, delivery_id)
        if delivery.get("status") != PENDING:
            return delivery
        left = timeout - (time.monotonic() - started)
        if left <= 0 or stop.wait(min(interval, left)):
            raise DeliveryPending(delivery, time.monotonic() - started)
