"""GET /stats cost totals: estimates of the window's jobs, measurements of the jobs completed in it."""

from __future__ import annotations

from datetime import timedelta

import pytest

from lambdas.cost.estimate import CostConfig, PlannedItem, PlanShape, estimate
from lambdas.cost.measure import measure
from lambdas.cost.model import JobCost
from lambdas.cost.prices import prices_for
from lambdas.cost.usage import Invocation
from lambdas.jobs.model import JobStatus
from lambdas.jobs.stats import compute_stats
from tests.unit.feed.test_records import T0, a_job

SHAPE = PlanShape(
    duration_s=4,
    source_bytes=10**6,
    pieces=2,
    items=(PlannedItem(weight=3, segments=2, tracks=2),) * 2,
    rungs=2,
    bitrate_kbps=1500,
)
ESTIMATE = estimate(SHAPE, CostConfig())
MEASURED = measure(
    [Invocation(function="EncodeChunk", request_id="r", memory_mb=3008, billed_ms=4000)],
    stored_bytes=2_000_000,
    prices=prices_for("us-east-1"),
)


def test_the_totals_add_the_window_jobs_costs() -> None:
    now = T0 + timedelta(hours=1)
    done = a_job(
        status=JobStatus.COMPLETED,
        progress=100,
        started_at=T0,
        queued_at=T0,
        completed_at=T0 + timedelta(minutes=5),
        cost=JobCost(estimate=ESTIMATE, measured=MEASURED),
    )
    running = a_job(status=JobStatus.PROCESSING, started_at=T0, queued_at=T0, cost=JobCost(estimate=ESTIMATE))
    old = a_job(
        status=JobStatus.COMPLETED,
        progress=100,
        started_at=T0,
        completed_at=T0 - timedelta(days=3),
        created_at=T0 - timedelta(days=3),
        cost=JobCost(estimate=ESTIMATE, measured=MEASURED),
    )
    plain = a_job()  # no cost yet (still uploading)

    cost = compute_stats([done, running, old, plain], now, timedelta(hours=6)).cost

    assert cost.estimated_jobs == 2
    assert cost.estimate_usd == pytest.approx(2 * ESTIMATE.total_usd)
    assert cost.measured_jobs == 1
    assert cost.measured_usd == pytest.approx(MEASURED.total_usd)
    assert cost.measured_jobs_estimate_usd == pytest.approx(ESTIMATE.total_usd)
    assert cost.lambda_gb_seconds == pytest.approx(MEASURED.lambda_gb_seconds)
    assert cost.stored_bytes == 2_000_000


def test_no_costed_job_totals_zero() -> None:
    cost = compute_stats([a_job()], T0, timedelta(hours=1)).cost
    assert (cost.estimated_jobs, cost.measured_jobs, cost.measured_usd) == (0, 0, 0.0)
