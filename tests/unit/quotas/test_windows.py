"""The quotas' windows: UTC hours, the seconds to the next one, the minutes of an hour within a window."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from lambdas.quotas.windows import hours_between, minutes_in, seconds_to_next_hour, utc_hour

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def test_the_hour_is_the_utc_hour() -> None:
    assert utc_hour(T0 + timedelta(minutes=59, seconds=59)) == "2026-03-01T12"
    assert utc_hour(T0.astimezone(ZoneInfo("Asia/Kolkata"))) == "2026-03-01T12"


@pytest.mark.parametrize(
    ("offset", "seconds"),
    [
        (timedelta(0), 3600),
        (timedelta(minutes=59, seconds=30), 30),
        (timedelta(minutes=59, seconds=59, microseconds=500_000), 1),  # rounded up: never 0
        (timedelta(minutes=20, microseconds=1), 2400),
    ],
)
def test_seconds_to_the_next_hour_are_whole_and_rounded_up(offset: timedelta, seconds: int) -> None:
    assert seconds_to_next_hour(T0 + offset) == seconds


def test_a_window_covers_every_hour_it_overlaps_and_their_minutes_within_it() -> None:
    since, until = T0 + timedelta(minutes=50), T0 + timedelta(hours=1, minutes=9, seconds=30)
    assert list(hours_between(since, until)) == [T0, T0 + timedelta(hours=1)]
    assert minutes_in(T0, since, until) == range(50, 60)
    assert minutes_in(T0 + timedelta(hours=1), since, until) == range(10)
    assert minutes_in(T0 + timedelta(hours=2), since, until) == range(0)
    assert list(hours_between(until, since)) == []
