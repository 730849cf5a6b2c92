"""The AWS prices a job's cost is computed with: `prices.json` beside this module, per region, with its date."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

PRICES_FILE = Path(__file__).with_name("prices.json")
DEFAULT_REGION = "us-east-1"

Architecture = Literal["x86_64", "arm64"]
Price = Annotated[float, Field(ge=0)]


class RegionPrices(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    lambda_gb_second: dict[Architecture, Price]
    lambda_per_million_requests: Price
    states_per_thousand_transitions: Price  # Standard workflows
    s3_storage_gb_month: Price  # S3 Standard, first 50 TB
    s3_per_thousand_writes: Price
    s3_per_thousand_reads: Price
    dynamodb_per_million_writes: Price  # on-demand write request units
    dynamodb_per_million_reads: Price


class PriceList(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    as_of: str = Field(pattern=r"^\d{4}-\d{2}-\d{2}$")
    currency: Literal["USD"]
    note: str
    sources: tuple[str, ...]
    regions: dict[str, RegionPrices]


class Prices(BaseModel):
    """One region's prices for one Lambda architecture: what the estimate and the measurement multiply by."""

    model_config = ConfigDict(frozen=True)

    region: str
    architecture: Architecture
    as_of: str
    rates: RegionPrices

    @property
    def gb_second(self) -> float:
        return self.rates.lambda_gb_second[self.architecture]


@cache
def price_list() -> PriceList:
    return PriceList.model_validate_json(PRICES_FILE.read_text())


def prices_for(region: str, architecture: Architecture = "x86_64") -> Prices:
    """`region`'s prices; a region the file does not list is priced as us-east-1 (and says so in `region`)."""
    listing = price_list()
    known = region if region in listing.regions else DEFAULT_REGION
    return Prices(
        region=known if known == region else f"{DEFAULT_REGION} (for {region})",
        architecture=architecture,
        as_of=listing.as_of,
        rates=listing.regions[known],
    )


def loads(text: str) -> PriceList:
    """A price list document (tests check the committed file with it)."""
    return PriceList.model_validate(json.loads(text))
