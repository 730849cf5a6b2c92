"""The committed price list: dated, sourced, every region priced for both Lambda architectures."""

from __future__ import annotations

import re

from lambdas.cost.prices import PRICES_FILE, loads, prices_for


def test_the_price_list_is_dated_sourced_and_covers_the_main_regions() -> None:
    listing = loads(PRICES_FILE.read_text())
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", listing.as_of)
    assert all(url.startswith("https://aws.amazon.com/") for url in listing.sources)
    assert {"us-east-1", "us-west-2", "eu-west-1", "eu-central-1", "ap-northeast-1"} <= set(listing.regions)
    for region, rates in listing.regions.items():
        assert set(rates.lambda_gb_second) == {"x86_64", "arm64"}, region
        assert rates.lambda_gb_second["arm64"] < rates.lambda_gb_second["x86_64"], region
        assert rates.s3_per_thousand_reads < rates.s3_per_thousand_writes, region
        assert rates.dynamodb_per_million_reads < rates.dynamodb_per_million_writes, region


def test_a_region_and_architecture_pick_their_rates() -> None:
    x86, arm = prices_for("eu-west-1"), prices_for("eu-west-1", "arm64")
    assert (x86.region, x86.architecture, arm.architecture) == ("eu-west-1", "x86_64", "arm64")
    assert x86.gb_second == 0.0000166667
    assert arm.gb_second == 0.0000133334
    assert x86.as_of == arm.as_of


def test_an_unlisted_region_is_priced_as_us_east_1_and_says_so() -> None:
    prices = prices_for("ap-south-2")
    assert prices.region == "us-east-1 (for ap-south-2)"
    assert prices.rates == prices_for("us-east-1").rates
