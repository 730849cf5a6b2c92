"""What the workflow used for a job, as counts, and the priced breakdown of any such usage (estimate or measured)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Annotated, Self

from pydantic import BaseModel, ConfigDict, Field

from lambdas.cost.model import CostBreakdown
from lambdas.cost.prices import Prices

Count = Annotated[int, Field(ge=0)]
MB_PER_GB = 1024


class Invocation(BaseModel):
    """One metered Lambda invocation (lambdas/handlers/_metering.py): what it is billed for and what it called.

    `billed_ms`: the handler's wall time rounded up to the millisecond, plus the INIT phase of a cold start (AWS
    bills INIT of on-demand functions since August 2025); `init_ms` is that INIT share.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    function: str
    request_id: str
    memory_mb: Annotated[int, Field(ge=1)]
    billed_ms: Count
    init_ms: Count = 0
    s3_writes: Count = 0
    s3_reads: Count = 0
    dynamodb_writes: Count = 0
    dynamodb_reads: Count = 0

    @property
    def gb_seconds(self) -> float:
        return self.memory_mb / MB_PER_GB * self.billed_ms / 1000

    def encode(self) -> str:
        """One element of the job item's usage string set: compact, and unique by its request id."""
        return self.model_dump_json(exclude_defaults=True)

    @classmethod
    def decode(cls, text: str) -> Self:
        return cls.model_validate(json.loads(text))


class Usage(BaseModel):
    """Counts to price: a job's invocations added up, or what its plan predicts."""

    model_config = ConfigDict(frozen=True)

    gb_seconds_by_function: dict[str, float] = Field(default_factory=dict)
    lambda_requests: Count = 0
    state_transitions: Count = 0
    s3_writes: Count = 0
    s3_reads: Count = 0
    dynamodb_writes: Count = 0
    dynamodb_reads: Count = 0
    stored_bytes: Count = 0

    @classmethod
    def of(cls, invocations: Iterable[Invocation], *, state_transitions: int, stored_bytes: int) -> Usage:
        by_function: dict[str, float] = {}
        totals = dict.fromkeys(("s3_writes", "s3_reads", "dynamodb_writes", "dynamodb_reads"), 0)
        requests = 0
        for invocation in invocations:
            requests += 1
            by_function[invocation.function] = by_function.get(invocation.function, 0.0) + invocation.gb_seconds
            for name in totals:
                totals[name] += getattr(invocation, name)
        return cls(
            gb_seconds_by_function=by_function,
            lambda_requests=requests,
            state_transitions=state_transitions,
            stored_bytes=stored_bytes,
            **totals,
        )

    @property
    def gb_seconds(self) -> float:
        return sum(self.gb_seconds_by_function.values())


def priced(usage: Usage, prices: Prices) -> CostBreakdown:
    """`usage` in USD at `prices`: Lambda duration and requests, transitions, S3/DynamoDB requests, storage."""
    rates = prices.rates
    lambda_usd = usage.gb_seconds * prices.gb_second + usage.lambda_requests * rates.lambda_per_million_requests / 1e6
    states_usd = usage.state_transitions * rates.states_per_thousand_transitions / 1e3
    requests_usd = (
        usage.s3_writes * rates.s3_per_thousand_writes / 1e3
        + usage.s3_reads * rates.s3_per_thousand_reads / 1e3
        + usage.dynamodb_writes * rates.dynamodb_per_million_writes / 1e6
        + usage.dynamodb_reads * rates.dynamodb_per_million_reads / 1e6
    )
    storage = usage.stored_bytes / 1024**3 * rates.s3_storage_gb_month
    return CostBreakdown(
        lambda_gb_seconds=round(usage.gb_seconds, 6),
        lambda_requests=usage.lambda_requests,
        lambda_gb_seconds_by_function={name: round(value, 6) for name, value in usage.gb_seconds_by_function.items()},
        state_transitions=usage.state_transitions,
        s3_write_requests=usage.s3_writes,
        s3_read_requests=usage.s3_reads,
        dynamodb_write_requests=usage.dynamodb_writes,
        dynamodb_read_requests=usage.dynamodb_reads,
        stored_bytes=usage.stored_bytes,
        lambda_usd=_usd(lambda_usd),
        states_usd=_usd(states_usd),
        requests_usd=_usd(requests_usd),
        storage_usd_per_month=_usd(storage),
        total_usd=_usd(lambda_usd + states_usd + requests_usd + storage),
        region=prices.region,
        architecture=prices.architecture,
        prices_as_of=prices.as_of,
    )


def _usd(value: float) -> float:
    """Micro-dollars: a short job costs fractions of a cent, and float noise past that means nothing."""
    return round(value, 8)
