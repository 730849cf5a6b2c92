"""Queue statistics on a hand-made set of jobs, the percentiles they use, and the priority classes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from lambdas.jobs.model import Job, JobStatus, new_job_id
from lambdas.jobs.stats import PriorityClass, compute_stats, p50, p95, percentile, priority_class

S = JobStatus
NOW = datetime(2025, 1, 2, 0, 0, tzinfo=UTC)
DAY = timedelta(days=1)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def make(
    status: JobStatus,
    priority: int,
    created: str,
    queued: str | None = None,
    started: str | None = None,
    ended: str | None = None,
) -> Job:
    return Job(
        job_id=new_job_id(at(created)),
        owner="alice",
        source={"bucket": "uploads-bucket", "key": "k"},  # type: ignore[arg-type]
        status=status,
        priority=priority,
        requested_renditions=("720p",),
        progress=100 if status is S.COMPLETED else 0,
        error_type="Boom" if status is S.FAILED else None,
        created_at=at(created),
        queued_at=at(queued) if queued else None,
        started_at=at(started) if started else None,
        completed_at=at(ended) if ended else None,
        updated_at=at(ended or started or queued or created),
    )


# The window is 2025-01-01T00:00 .. 2025-01-02T00:00.
JOBS = {
    # name: job                                      counted  processing  ends  wait
    "A": make(S.COMPLETED, 9, "2025-01-01T01:00", "2025-01-01T01:00", "2025-01-01T01:10", "2025-01-01T01:20"),
    #                                                yes      600 s       ok    600 s
    "B": make(S.COMPLETED, 5, "2025-01-01T02:00", "2025-01-01T02:00", "2025-01-01T02:01", "2025-01-01T02:21"),
    #                                                yes      1200 s      ok    60 s
    "C": make(S.FAILED, 2, "2025-01-01T03:00", "2025-01-01T03:00", "2025-01-01T03:02", "2025-01-01T03:05"),
    #                                                yes      -           fail  120 s
    "D": make(S.CANCELLED, 5, "2025-01-01T04:00", "2025-01-01T04:00", None, "2025-01-01T04:30"),
    #                                                yes      -           -     -
    "E": make(S.PROCESSING, 8, "2025-01-01T05:00", "2025-01-01T05:00", "2025-01-01T05:30"),
    #                                                yes      -           -     1800 s
    "F": make(S.QUEUED, 1, "2024-12-25T00:00", "2024-12-25T00:00"),
    #                                                yes (still queued)
    "G": make(S.COMPLETED, 10, "2024-12-31T10:00", "2024-12-31T10:00", "2024-12-31T23:00", "2025-01-01T00:30"),
    #                                                no       5400 s      ok    - (started before the window)
    "H": make(S.COMPLETED, 5, "2024-12-20T00:00", "2024-12-20T00:00", "2024-12-20T00:01", "2024-12-20T00:02"),
    #                                                no       -           -     -
    "I": make(S.UPLOADING, 4, "2025-01-01T06:00"),
    #                                                yes
}


def test_hand_made_set() -> None:
    stats = compute_stats(JOBS.values(), NOW, DAY)
    assert (stats.since, stats.until) == (NOW - DAY, NOW)
    assert stats.jobs == 7
    assert stats.by_status == {
        S.UPLOADING: 1,
        S.QUEUED: 1,
        S.PROCESSING: 1,
        S.COMPLETED: 2,
        S.FAILED: 1,
        S.CANCELLED: 1,
    }
    # high: C (2), F (1); normal: B, D (5), I (4); bulk: A (9), E (8)
    assert stats.by_priority_class == {PriorityClass.HIGH: 2, PriorityClass.NORMAL: 3, PriorityClass.BULK: 2}
    assert stats.mean_processing_seconds == pytest.approx((600 + 1200 + 5400) / 3)
    assert stats.p95_processing_seconds == 5400
    assert stats.success_rate == pytest.approx(3 / 4)
    assert stats.mean_queue_wait_seconds == pytest.approx((600 + 60 + 120 + 1800) / 4)


def test_a_shorter_window() -> None:
    existing = [JOBS[name] for name in "ABCFGH"]  # those created by 03:30
    stats = compute_stats(existing, at("2025-01-01T03:30"), timedelta(hours=2))  # 01:30 .. 03:30
    assert stats.jobs == 3  # B and C created inside, F still queued; A ended before 01:30
    assert stats.by_status[S.QUEUED] == 1
    assert stats.mean_processing_seconds == pytest.approx(1200)
    assert stats.success_rate == pytest.approx(1 / 2)
    assert stats.mean_queue_wait_seconds == pytest.approx((60 + 120) / 2)


def test_nothing_measured() -> None:
    stats = compute_stats([], NOW, DAY)
    assert stats.jobs == 0
    assert set(stats.by_status.values()) == {0}
    assert set(stats.by_priority_class.values()) == {0}
    assert (stats.mean_processing_seconds, stats.p95_processing_seconds) == (None, None)
    assert (stats.success_rate, stats.mean_queue_wait_seconds) == (None, None)


def test_only_cancellations_have_no_success_rate() -> None:
    assert compute_stats([JOBS["D"]], NOW, DAY).success_rate is None


@pytest.mark.parametrize("window", [timedelta(0), -DAY])
def test_window_must_be_positive(window: timedelta) -> None:
    with pytest.raises(ValueError, match="window"):
        compute_stats(JOBS.values(), NOW, window)


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([], None),
        ([7.0], 7.0),
        ([2.0, 1.0], 2.0),
        (list(range(1, 21)), 19),  # ceil(0.95 * 20) = 19th; interpolation would say 19.05
        (list(range(1, 11)), 10),  # ceil(9.5) = 10th
        (list(range(1, 101)), 95),
        (list(range(1, 22)), 20),  # ceil(19.95) = 20th
        ([5, 1, 4, 2, 3] * 4, 5),  # order of the input does not matter
    ],
)
def test_p95_nearest_rank(values: list[float], expected: float | None) -> None:
    assert p95(values) == expected


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([], None),
        ([7.0], 7.0),
        ([2.0, 1.0], 1.0),  # ceil(0.5 * 2) = 1st: the lower middle, not the mean 1.5
        ([3.0, 1.0, 2.0], 2.0),
        (list(range(1, 11)), 5),
        (list(range(1, 12)), 6),
    ],
)
def test_p50_nearest_rank(values: list[float], expected: float | None) -> None:
    assert p50(values) == expected


@pytest.mark.parametrize("percent", [0, -5, 101])
def test_percentile_must_be_a_percentage(percent: int) -> None:
    with pytest.raises(ValueError, match="percent"):
        percentile([1.0], percent)


def test_percentile_100_is_the_maximum() -> None:
    assert percentile([4.0, 9.0, 1.0], 100) == 9.0


@pytest.mark.parametrize(
    ("priority", "expected"),
    [(1, "high"), (3, "high"), (4, "normal"), (7, "normal"), (8, "bulk"), (10, "bulk")],
)
def test_priority_classes(priority: int, expected: str) -> None:
    assert priority_class(priority) == expected


def test_every_priority_has_a_class_in_order() -> None:
    classes = [priority_class(priority) for priority in range(1, 11)]
    assert classes == sorted(classes, key=list(PriorityClass).index), "a lower number is never in a lower class"
    assert set(classes) == set(PriorityClass)
    assert [str(member) for member in PriorityClass] == ["high", "normal", "bulk"]
