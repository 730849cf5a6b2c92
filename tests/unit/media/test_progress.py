"""ffmpeg's `-progress` blocks, parsed."""

from __future__ import annotations

import pytest

from lambdas.media.progress import iter_progress, parse_progress

PROGRESS = """\
frame=30
fps=0.00
out_time_us=1000000
out_time_ms=1000000
out_time=00:00:01.000000
speed=2.01x
progress=continue
frame=60
fps=0.00
out_time_us=N/A
out_time=00:00:01.933333
speed=N/A
progress=end
"""


def test_progress_blocks() -> None:
    blocks = list(iter_progress(PROGRESS.splitlines(), duration=2.0))
    assert [(b.out_time, b.percent, b.speed, b.frame, b.done) for b in blocks] == [
        (1.0, 50.0, 2.01, 30, False),
        (pytest.approx(1.933333), 100.0, None, 60, True),  # out_time_us N/A: the clock is read instead
    ]
    last = parse_progress(PROGRESS.splitlines())
    assert last is not None
    assert last.done
    assert last.percent is None  # no duration, no percentage
    assert parse_progress(["frame=1", "garbage"]) is None  # no complete block yet


def test_out_time_ms_is_microseconds_too() -> None:
    (block,) = iter_progress(["out_time_ms=2500000", "progress=continue"], duration=10.0)
    assert (block.out_time, block.percent) == (2.5, 25.0)


def test_percent_stays_below_100_until_the_end_and_never_above() -> None:
    lines = ["out_time_us=12000000", "progress=continue", "out_time_us=12000000", "progress=end"]
    assert [(b.percent, b.done) for b in iter_progress(lines, duration=10.0)] == [(100.0, False), (100.0, True)]
    (early,) = iter_progress(["out_time_us=999", "progress=continue"], duration=10.0)
    assert early.percent == 0.0


@pytest.mark.parametrize(
    ("line", "expected"),
    [("out_time_us=-23000", 0.0), ("out_time=garbage", 0.0), ("x=1", 0.0)],
)
def test_negative_or_unreadable_times_read_as_zero(line: str, expected: float) -> None:
    (block,) = iter_progress([line, "progress=continue"])
    assert block.out_time == expected


def test_blocks_are_independent_and_lines_may_carry_whitespace() -> None:
    lines = ["frame=5 \n", " speed= 1.5x\n", "progress=continue\n", "out_time_us=1\n", "progress=continue\n"]
    first, second = iter_progress(lines)
    assert (first.frame, first.speed) == (5, 1.5)
    assert (second.frame, second.speed) == (None, None)  # nothing carried over from the previous block
