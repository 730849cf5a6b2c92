"""The quotas' time windows: UTC hours (upload counts, refusal counts) and the minutes within them."""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

HOUR = timedelta(hours=1)


def hour_start(now: datetime) -> datetime:
    return now.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def utc_hour(now: datetime) -> str:
    """`yyyy-mm-ddThh`, the hour in the quota items' sort keys (lambdas/jobs/schema.uploads_sk)."""
    return hour_start(now).strftime("%Y-%m-%dT%H")


def seconds_to_next_hour(now: datetime) -> int:
    """Whole seconds until the next UTC hour begins (at least 1): when an hourly quota is counted afresh."""
    return max(1, math.ceil((hour_start(now) + HOUR - now).total_seconds()))


def minute_start(now: datetime) -> datetime:
    return now.astimezone(UTC).replace(second=0, microsecond=0)


def hours_between(since: datetime, until: datetime) -> Iterator[datetime]:
    """The start of every UTC hour that overlaps [since, until], oldest first."""
    hour = hour_start(since)
    while hour <= until:
        yield hour
        hour += HOUR


def minutes_in(hour: datetime, since: datetime, until: datetime) -> range:
    """The minutes (0-59) of `hour` within [since, until], each whole minute counted if it overlaps."""
    first = max(minute_start(since), hour)
    last = min(minute_start(until), hour + HOUR - timedelta(minutes=1))
    if last < first:
        return range(0)
    return range(first.minute, last.minute + 1)
