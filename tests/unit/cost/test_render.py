"""`vodpipe status` shows the estimate, the measurement and their difference; `vodpipe stats` the totals."""

from __future__ import annotations

from rich.console import Console

from lambdas.api.models import public_job
from lambdas.cost.model import JobCost
from lambdas.jobs.model import JobStatus
from tests.unit.cost.test_stats import ESTIMATE, MEASURED
from tests.unit.feed.test_records import T0, a_job
from vodpipe.client.render import cost_lines, job_view, stats_view


def shown(renderable: object) -> str:
    console = Console(width=200, record=True)
    console.print(renderable)
    return console.export_text()


def test_status_shows_both_and_the_difference() -> None:
    job = a_job(
        status=JobStatus.COMPLETED,
        progress=100,
        started_at=T0,
        completed_at=T0,
        cost=JobCost(estimate=ESTIMATE, measured=MEASURED),
    )
    text = shown(job_view(public_job(job).model_dump(mode="json")))
    assert f"estimate ${ESTIMATE.total_usd:.6f}" in text
    assert f"measured ${MEASURED.total_usd:.6f}" in text
    assert f"{MEASURED.total_usd / ESTIMATE.total_usd:.2f}x the estimate" in text
    assert "us-east-1, x86_64, prices of " + MEASURED.prices_as_of in text
    assert f"Lambda {MEASURED.lambda_gb_seconds:.2f} GB-s / 1 invocations" in text


def test_status_of_a_job_without_cost_shows_none_and_an_estimate_alone_shows_no_difference() -> None:
    assert cost_lines({}) == []
    text = shown(cost_lines({"estimate": ESTIMATE.model_dump(mode="json")})[0])
    assert "measured -" in text
    assert "the estimate" not in text


def test_stats_shows_the_cost_totals() -> None:
    text = shown(stats_view({"jobs": 1, "cost": {"estimate_usd": 0.001, "estimated_jobs": 1, "measured_usd": 0.0005}}))
    assert "$0.001000 (1 jobs)" in text
    assert "$0.000500 (0 jobs)" in text
