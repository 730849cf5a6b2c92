"""A job's cost: what it used (Lambda GB-s, requests, transitions, stored bytes) and what that costs, priced."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

NonNegative = Annotated[float, Field(ge=0)]
Count = Annotated[int, Field(ge=0)]


class CostBreakdown(BaseModel):
    """One figure of a job's cost (its estimate or its measurement), every part priced in `region`'s USD."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    lambda_gb_seconds: NonNegative  # memory (GB) x billed duration (s), every invocation (and its INIT if cold)
    lambda_requests: Count
    # GB-s per function (RegisterJob, ProbeSource, EncodeChunk…): where the money goes.
    lambda_gb_seconds_by_function: dict[str, NonNegative] = Field(default_factory=dict)
    state_transitions: Count
    s3_write_requests: Count  # PUT, COPY, POST, LIST
    s3_read_requests: Count  # GET, HEAD and the rest (DELETE is free)
    dynamodb_write_requests: Count
    dynamodb_read_requests: Count
    stored_bytes: Count  # the job's outputs
    lambda_usd: NonNegative
    states_usd: NonNegative
    requests_usd: NonNegative  # S3 and DynamoDB requests
    storage_usd_per_month: NonNegative
    total_usd: NonNegative  # processing plus one month of storage
    region: str
    architecture: str
    prices_as_of: str  # the date prices.json was taken


class JobCost(BaseModel):
    """`estimate`: written by ProbeSource from the plan; `measured`: written by PublishJob from what ran."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    estimate: CostBreakdown | None = None
    measured: CostBreakdown | None = None
