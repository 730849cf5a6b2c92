"""The estimate from a plan's shape: it grows with what the plan asks for, and prices what it predicts."""

from __future__ import annotations

import pytest

from lambdas.cost.estimate import CostConfig, FunctionMemory, PlannedItem, PlanShape, estimate, expected_usage
from lambdas.cost.workflow import FUNCTIONS, state_transitions


def shape(seconds: float = 10, items: int = 3, weight: float = 6.0, rungs: int = 4) -> PlanShape:
    return PlanShape(
        duration_s=seconds,
        source_bytes=5_000_000,
        pieces=items,
        items=tuple(PlannedItem(weight=weight, segments=2, tracks=rungs) for _ in range(items)),
        rungs=rungs,
        bitrate_kbps=8000,
        mp4_rungs=1,
        mp4_bitrate_kbps=2000,
        thumbnails=5,
    )


def test_every_function_is_estimated_and_priced() -> None:
    cost = estimate(shape(), CostConfig())
    assert set(cost.lambda_gb_seconds_by_function) == set(FUNCTIONS)
    assert cost.lambda_requests == 5 + 3
    assert cost.state_transitions == state_transitions(8)
    assert cost.s3_write_requests >= 3 * 2 * 4  # every segment of every rung
    assert cost.stored_bytes == round((8000 + 2000) * 1000 / 8 * 10 * CostConfig().assumptions.bitrate_fill)
    assert cost.total_usd == pytest.approx(
        cost.lambda_usd + cost.states_usd + cost.requests_usd + cost.storage_usd_per_month
    )
    assert cost.total_usd > 0


def test_the_encode_time_is_the_planned_cpu_over_the_workers_cpus() -> None:
    two = CostConfig(worker_vcpus=2.0)
    usage = expected_usage(shape(items=1, weight=10.0), two)
    io, cold = two.assumptions.item_io_s, two.assumptions.cold_start_s
    assert usage.gb_seconds_by_function["EncodeChunk"] == pytest.approx((10.0 / 2 + io + cold) * 3008 / 1024)


def test_more_work_costs_more_and_arm_costs_less() -> None:
    base = estimate(shape(), CostConfig())
    assert estimate(shape(seconds=60, items=12), CostConfig()).total_usd > base.total_usd
    bigger = CostConfig(memory=FunctionMemory(EncodeChunk=10240))
    assert estimate(shape(), bigger).lambda_gb_seconds > base.lambda_gb_seconds
    arm = estimate(shape(), CostConfig(architecture="arm64"))
    assert arm.lambda_gb_seconds == base.lambda_gb_seconds
    assert arm.lambda_usd < base.lambda_usd
    assert estimate(shape(), CostConfig(region="eu-central-1")).requests_usd > base.requests_usd
