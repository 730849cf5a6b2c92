"""When a failed webhook delivery is tried again: a schedule of delays with jitter, and when it gives up."""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence

# Seconds after the previous attempt: 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h (8 attempts over ~27.6 h).
DEFAULT_SCHEDULE: tuple[float, ...] = (5, 300, 1800, 7200, 18000, 36000, 36000)
DEFAULT_JITTER = 0.2


def max_attempts(schedule: Sequence[float]) -> int:
    """The first attempt and one after each delay."""
    return len(schedule) + 1


MAX_ATTEMPTS = max_attempts(DEFAULT_SCHEDULE)


def next_delay(
    attempts_made: int,
    schedule: Sequence[float],
    rng: Callable[[], float] = random.random,
    jitter: float = DEFAULT_JITTER,
) -> float | None:
    """Seconds to wait before the next attempt after `attempts_made` failed ones (1 after the first), spread by
    ±`jitter` so endpoints that failed together are not retried together; None when that was the last attempt."""
    if attempts_made < 1:
        raise ValueError(f"attempts_made counts attempts already made (from 1), not {attempts_made}")
    if attempts_made > len(schedule):
        return None
    base = schedule[attempts_made - 1]
    return base * (1 + jitter * (2 * rng() - 1))


def parse_schedule(text: str) -> tuple[float, ...]:
    """A schedule from a setting: "5,300,1800" (seconds, comma-separated, each positive)."""
    parts = [part.strip() for part in text.split(",")]
    if not text.strip() or any(not part for part in parts):
        raise ValueError(f"a retry schedule is comma-separated seconds, e.g. 5,300,1800; not {text!r}")
    delays: list[float] = []
    for part in parts:
        try:
            delay = float(part)
        except ValueError:
            raise ValueError(f"retry delay is not a number of seconds: {part!r}") from None
        if not math.isfinite(delay) or delay <= 0:
            raise ValueError(f"retry delay must be a positive number of seconds: {part!r}")
        delays.append(delay)
    return tuple(delays)


def total_span(schedule: Sequence[float]) -> float:
    """Seconds from the first attempt to the last, before jitter."""
    return float(sum(schedule))
