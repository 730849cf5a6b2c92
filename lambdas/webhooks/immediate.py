"""First attempts made at once: a DeliveryQueue that attempts a due delivery here, side by side with the others of
the same event, and leaves every later attempt (and a first attempt that could not be made) to the real queue.

The router uses it, so a receiver hears of an event one queue hop and one queue poll sooner; retries keep their
schedule on the delivery queue. A crash between the POST and its record repeats the POST with the same webhook-id
(deliveries are at least once).
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

from aws_lambda_powertools import Logger

from lambdas.webhooks.ports import DeliveryQueue, DeliveryRef

logger = Logger(child=True)

# Endpoints attempted side by side for one event (a user has at most max_endpoints).
WORKERS = 8


class AttemptNow:
    def __init__(self, queue: DeliveryQueue, attempt: Callable[[DeliveryRef], object], workers: int = WORKERS) -> None:
        self._queue, self._attempt = queue, attempt
        self._pool = ThreadPoolExecutor(max_workers=workers)
        self._started: list[tuple[DeliveryRef, Future[object]]] = []

    def enqueue(self, endpoint_id: str, delivery_id: str, owner: str, delay_s: float) -> None:
        if delay_s > 0:
            self._queue.enqueue(endpoint_id, delivery_id, owner, delay_s)
            return
        ref = DeliveryRef(endpoint_id=endpoint_id, delivery_id=delivery_id, owner=owner)
        self._started.append((ref, self._pool.submit(self._attempt, ref)))

    def finish(self) -> int:
        """Wait for the attempts started; each one that raised goes to the queue, due now. How many did."""
        handed = 0
        for ref, attempt in self._started:
            try:
                attempt.result()
            except Exception:
                logger.exception("first attempt not made here: queued", extra={"delivery_id": ref.delivery_id})
                self._queue.enqueue(ref.endpoint_id, ref.delivery_id, ref.owner, 0)
                handed += 1
        self._started.clear()
        self._pool.shutdown(wait=True)
        return handed
