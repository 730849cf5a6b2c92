"""Webhook retries: the schedule, its jitter, when it gives up, and the schedule as a setting."""

from __future__ import annotations

import pytest

from lambdas.webhooks.retry import (
    DEFAULT_SCHEDULE,
    MAX_ATTEMPTS,
    max_attempts,
    next_delay,
    parse_schedule,
    total_span,
)


def test_the_default_schedule_is_eight_attempts_over_more_than_a_day() -> None:
    assert MAX_ATTEMPTS == max_attempts(DEFAULT_SCHEDULE) == 8
    assert total_span(DEFAULT_SCHEDULE) >= 24 * 3600
    assert total_span(DEFAULT_SCHEDULE) == 99_305


def test_each_delay_follows_the_schedule_without_jitter() -> None:
    delays = [next_delay(made, DEFAULT_SCHEDULE, rng=lambda: 0.5) for made in range(1, MAX_ATTEMPTS)]
    assert delays == list(DEFAULT_SCHEDULE)


@pytest.mark.parametrize("attempts_made", range(1, len(DEFAULT_SCHEDULE) + 1))
def test_jitter_stays_within_twenty_percent(attempts_made: int) -> None:
    base = DEFAULT_SCHEDULE[attempts_made - 1]
    low = next_delay(attempts_made, DEFAULT_SCHEDULE, rng=lambda: 0.0)
    high = next_delay(attempts_made, DEFAULT_SCHEDULE, rng=lambda: 0.999999)
    assert low == pytest.approx(base * 0.8)
    assert high == pytest.approx(base * 1.2, rel=1e-5)
    for _ in range(200):
        delay = next_delay(attempts_made, DEFAULT_SCHEDULE)
        assert delay is not None
        assert base * 0.8 <= delay <= base * 1.2


def test_the_jitter_is_a_parameter() -> None:
    assert next_delay(1, (100,), rng=lambda: 0.0, jitter=0) == 100
    assert next_delay(1, (100,), rng=lambda: 1.0, jitter=0.5) == 150


def test_no_delay_after_the_last_attempt() -> None:
    assert next_delay(MAX_ATTEMPTS - 1, DEFAULT_SCHEDULE) is not None
    assert next_delay(MAX_ATTEMPTS, DEFAULT_SCHEDULE) is None
    assert next_delay(MAX_ATTEMPTS + 3, DEFAULT_SCHEDULE) is None
    assert next_delay(1, ()) is None


def test_attempts_are_counted_from_one() -> None:
    with pytest.raises(ValueError, match="from 1"):
        next_delay(0, DEFAULT_SCHEDULE)


@pytest.mark.parametrize(
    ("text", "schedule"),
    [
        ("5,300,1800", (5.0, 300.0, 1800.0)),
        (" 5 , 0.5 ,60 ", (5.0, 0.5, 60.0)),
        ("30", (30.0,)),
        (",".join(str(int(delay)) for delay in DEFAULT_SCHEDULE), DEFAULT_SCHEDULE),
    ],
)
def test_a_schedule_setting_is_parsed(text: str, schedule: tuple[float, ...]) -> None:
    assert parse_schedule(text) == schedule


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "comma-separated"),
        ("  ", "comma-separated"),
        ("5,,300", "comma-separated"),
        ("5,300,", "comma-separated"),
        ("5,five", "not a number"),
        ("5,0", "positive"),
        ("-5", "positive"),
        ("5,inf", "positive"),
        ("nan", "positive"),
    ],
)
def test_a_bad_schedule_setting_is_refused(text: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        parse_schedule(text)
