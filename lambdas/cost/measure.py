"""A job's measured cost (PublishJob): every metered invocation's billed GB-s and requests, the transitions that
ran, and the bytes its outputs store."""

from __future__ import annotations

from collections.abc import Iterable

from lambdas.cost.model import CostBreakdown
from lambdas.cost.prices import Prices
from lambdas.cost.usage import Invocation, Usage, priced
from lambdas.cost.workflow import state_transitions


def measure(invocations: Iterable[Invocation], *, stored_bytes: int, prices: Prices) -> CostBreakdown:
    """Duplicates of one request id (a write repeated) count once."""
    unique = list({invocation.request_id: invocation for invocation in invocations}.values())
    usage = Usage.of(unique, state_transitions=state_transitions(len(unique)), stored_bytes=stored_bytes)
    return priced(usage, prices)
