"""The operators' documents and a queued job's place, as the terminal shows them."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from rich.console import Console, RenderableType

from vodpipe.admin.render import duration, health_view, queue_view, tokens_table
from vodpipe.client.render import job_view, queue_line

NOW = datetime(2026, 3, 1, 13, 30, tzinfo=UTC)


def text(renderable: RenderableType) -> str:
    console = Console(width=140, record=True, color_system=None)
    console.print(renderable)
    return console.export_text()


@pytest.mark.parametrize(
    ("seconds", "shown"), [(None, "-"), (0.4, "0 s"), (59, "59 s"), (312, "5 min 12 s"), (7385, "2 h 03 min")]
)
def test_durations_read_at_a_glance(seconds: float | None, shown: str) -> None:
    assert duration(seconds) == shown


@pytest.mark.parametrize(
    ("job", "line"),
    [
        (
            {"queue_position": 0, "estimated_start_at": "2026-03-01T13:32:10.000000Z"},
            "next in the queue, expected to start ~13:32 UTC",
        ),
        ({"queue_position": 2, "estimated_start_at": None}, "position 3 in the queue (2 ahead), start time unknown"),
        (
            {"queue_position": 4, "estimated_start_at": "2026-03-02T01:05:00Z"},
            "position 5 in the queue (4 ahead), expected to start ~2026-03-02 01:05 UTC",
        ),
        ({"queue_position": None}, "waiting in the queue, start time unknown"),
    ],
)
def test_a_queued_jobs_place(job: dict[str, object], line: str) -> None:
    assert queue_line(job, now=NOW) == line


def test_only_a_queued_job_shows_a_place() -> None:
    base = {"job_id": "01J", "priority": 5, "queue_position": 1, "estimated_start_at": None}
    assert "position 2 in the queue" in text(job_view(base | {"status": "QUEUED"}))
    assert "queue" not in text(job_view(base | {"status": "PROCESSING"}))
    assert "queue" not in text(job_view({"job_id": "01J", "status": "QUEUED"}))  # a server without places


def test_the_queue_view() -> None:
    shown = text(
        queue_view(
            {
                "generated_at": "2026-03-01T13:30:00.000000Z",
                "window_minutes": 60,
                "running": 3,
                "max_running_jobs": 4,
                "waiting": 12,
                "waiting_by_class": {"high": 2, "normal": 8, "bulk": 2},
                "oldest_wait_seconds": 312.0,
                "admissions_per_minute": 0.5,
                "completions_per_minute": 0.25,
                "wait_seconds": {
                    "high": {"count": 4, "p50": 12.0, "p95": 30.5},
                    "normal": {"count": 0, "p50": None, "p95": None},
                    "bulk": {"count": 1, "p50": 700.0, "p95": 700.0},
                },
            }
        )
    )
    assert "2026-03-01 13:30:00 UTC (last 60 min)" in shown
    assert "3 / 4" in shown
    assert "12 (high 2, normal 8, bulk 2)" in shown
    assert "5 min 12 s" in shown
    assert "0.50 / min" in shown
    assert "0.25 / min" in shown
    rows = [line.split() for line in shown.splitlines()]
    assert ["high", "4", "12", "s", "30", "s"] in rows
    assert ["normal", "0", "-", "-"] in rows
    assert ["bulk", "1", "11", "min", "40", "s", "11", "min", "40", "s"] in rows


def test_the_health_view() -> None:
    degraded = text(
        health_view(
            {
                "generated_at": "2026-03-01T13:30:00Z",
                "status": "degraded",
                "problems": ["2 start failures wait in the dead-letter queue"],
                "running": 0,
                "max_running_jobs": 4,
                "waiting": 5,
                "failed_last_hour": 1,
                "throttled_last_hour": 7,
                "start_failures": 2,
                "oldest_wait_seconds": None,
                "last_completed": {"job_id": "01JABC", "completed_at": "2026-03-01T12:00:00Z"},
            }
        )
    )
    assert "health DEGRADED" in degraded
    assert "problem: 2 start failures wait in the dead-letter queue" in degraded
    assert "throttled, last hour  7" in degraded
    assert "01JABC at 2026-03-01 12:00:00 UTC" in degraded
    ok = text(health_view({"status": "ok", "problems": [], "last_completed": None}))
    assert "health OK" in ok
    assert "none yet" in ok


def test_the_tokens_table_names_each_token_by_id() -> None:
    shown = text(
        tokens_table(
            [
                {
                    "token_id": "0123456789abcdef",
                    "user": "ops",
                    "role": "admin",
                    "max_priority": 1,
                    "created_at": "2026-03-01T12:00:00.000000Z",
                }
            ]
        )
    )
    assert shown.splitlines()[1].split() == ["0123456789abcdef", "ops", "admin", "1", "2026-03-01", "12:00:00"]
