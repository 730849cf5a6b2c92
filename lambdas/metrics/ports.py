"""Where metrics go: the port the handlers emit through."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from lambdas.metrics.model import MetricRecord


class MetricsSink(Protocol):
    def emit(self, records: Sequence[MetricRecord]) -> None:
        """Write each record (one EMF document each); never raises for a record it cannot write."""
        ...
