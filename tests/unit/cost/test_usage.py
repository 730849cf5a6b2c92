"""Invocation records and the priced breakdown of any usage."""

from __future__ import annotations

import pytest

from lambdas.cost.measure import measure
from lambdas.cost.prices import prices_for
from lambdas.cost.usage import Invocation, Usage, priced
from lambdas.cost.workflow import OTHER_STATES

US = prices_for("us-east-1")


def invocation(request_id: str = "r1", **changes: object) -> Invocation:
    values: dict[str, object] = {"function": "EncodeChunk", "request_id": request_id, "memory_mb": 2048}
    return Invocation.model_validate(values | {"billed_ms": 1500, "s3_writes": 3, "s3_reads": 2} | changes)


def test_a_record_round_trips_through_its_set_element() -> None:
    record = invocation(init_ms=250, dynamodb_writes=4)
    assert Invocation.decode(record.encode()) == record
    assert record.gb_seconds == pytest.approx(2 * 1.5)


def test_usage_is_priced_part_by_part() -> None:
    usage = Usage(
        gb_seconds_by_function={"EncodeChunk": 1000.0},
        lambda_requests=1_000_000,
        state_transitions=1000,
        s3_writes=1000,
        s3_reads=1000,
        dynamodb_writes=1_000_000,
        dynamodb_reads=1_000_000,
        stored_bytes=1024**3,
    )
    cost = priced(usage, US)
    assert cost.lambda_usd == pytest.approx(1000 * 0.0000166667 + 0.20)
    assert cost.states_usd == pytest.approx(0.025)
    assert cost.requests_usd == pytest.approx(0.005 + 0.0004 + 0.625 + 0.125)
    assert cost.storage_usd_per_month == pytest.approx(0.023)
    assert cost.total_usd == pytest.approx(cost.lambda_usd + cost.states_usd + cost.requests_usd + 0.023)
    assert (cost.region, cost.architecture, cost.prices_as_of) == ("us-east-1", "x86_64", US.as_of)


def test_the_measurement_adds_every_invocation_once_and_counts_the_transitions_that_ran() -> None:
    records = [
        invocation("a", function="RegisterJob", memory_mb=512, billed_ms=300),
        invocation("b"),
        invocation("c"),
        invocation("c"),  # the same request written twice
    ]
    cost = measure(records, stored_bytes=5_000_000, prices=US)
    assert cost.lambda_requests == 3
    assert cost.lambda_gb_seconds == pytest.approx(0.5 * 0.3 + 2 * 3.0)
    assert cost.lambda_gb_seconds_by_function == pytest.approx({"RegisterJob": 0.15, "EncodeChunk": 6.0})
    assert cost.state_transitions == len(OTHER_STATES) + 3
    assert (cost.s3_write_requests, cost.s3_read_requests) == (9, 6)
    assert cost.stored_bytes == 5_000_000
