"""What the scheduler's tick measures of the waiting line (pure): `OldestQueuedSeconds` and `QueuedJobs`."""

from __future__ import annotations

from datetime import datetime

from lambdas.metrics import model as m
from lambdas.metrics.model import Measurement, MetricRecord, Unit
from lambdas.queue.backlog import Backlog


def backlog_metrics(backlog: Backlog, now: datetime) -> list[MetricRecord]:
    """One record under `service`; an empty line measures 0 (the alarm sees data, not silence)."""
    return [
        MetricRecord(
            timestamp=now,
            measurements=(
                Measurement(m.OLDEST_QUEUED_SECONDS, Unit.SECONDS, backlog.oldest_wait_s),
                Measurement(m.QUEUED_JOBS, Unit.COUNT, backlog.queued),
            ),
        )
    ]
