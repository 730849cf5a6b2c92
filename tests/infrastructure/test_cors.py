"""Browsers in the templates: the allowed origins (DeploymentConfig.cors_allowed_origins) reach the API function,
its preflight, API Gateway's own refusals, the uploads and outputs buckets and CloudFront; the console has its
behaviour; a bad origin fails synth naming the setting."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from stacks.config import DeploymentConfig
from stacks.constructs.jobs_api import gateway_cors_headers
from stacks.names import PIPELINE_STACK, STORAGE_STACK
from tests.conftest import resources_of

CDK_JSON = Path(__file__).parents[2] / "cdk.json"
ORIGINS = ["https://app.example.com", "http://localhost:5173"]


@pytest.fixture(scope="module")
def narrowed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    """The app synthesized (cdk-nag included) with two allowed origins."""
    import aws_cdk as cdk

    from app import build_app

    context = json.loads(CDK_JSON.read_text())["context"]
    context["vodpipe"] = {**context["vodpipe"], "cors_allowed_origins": ORIGINS}
    outdir = tmp_path_factory.mktemp("narrowed")
    app = build_app(cdk.App(outdir=str(outdir), context=context, builtin_cloud_formation_validation=False))
    return {s.stack_name: s.template for s in app.synth().stacks}


def _bucket(template: dict[str, Any], logical_prefix: str) -> dict[str, Any]:
    (props,) = [
        r["Properties"]
        for name, r in resources_of(template, "AWS::S3::Bucket").items()
        if name.startswith(logical_prefix)
    ]
    assert isinstance(props, dict)
    return props


def _gateway_responses(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        r["Properties"]["ResponseType"]: r["Properties"]
        for r in resources_of(template, "AWS::ApiGateway::GatewayResponse").values()
    }


@pytest.mark.parametrize("which", ["default", "narrowed"])
def test_every_refusal_of_the_gateway_carries_cors(
    which: str, templates: dict[str, dict[str, Any]], narrowed: dict[str, dict[str, Any]]
) -> None:
    template = (templates if which == "default" else narrowed)[PIPELINE_STACK]
    responses = _gateway_responses(template)
    # The authorizer's 401 and 403, and every other 4xx/5xx API Gateway answers itself (429 throttling, 504).
    assert {"UNAUTHORIZED", "ACCESS_DENIED", "DEFAULT_4XX", "DEFAULT_5XX"} <= set(responses)
    expected = "'*'" if which == "default" else "method.request.header.Origin"
    for kind, response in responses.items():
        headers = response["ResponseParameters"]
        assert headers["gatewayresponse.header.Access-Control-Allow-Origin"] == expected, kind
        assert "ETag" in headers["gatewayresponse.header.Access-Control-Expose-Headers"], kind


def test_the_function_and_the_preflight_allow_exactly_the_configured_origins(
    narrowed: dict[str, dict[str, Any]],
) -> None:
    template = narrowed[PIPELINE_STACK]
    functions = resources_of(template, "AWS::Lambda::Function").values()
    values = {f["Properties"]["Environment"]["Variables"].get("CORS_ALLOWED_ORIGINS") for f in functions}
    assert values == {",".join(ORIGINS)}
    preflights = [
        m["Properties"]["Integration"]
        for m in resources_of(template, "AWS::ApiGateway::Method").values()
        if m["Properties"]["HttpMethod"] == "OPTIONS"
    ]
    assert preflights
    for integration in preflights:
        # With several origins CDK's preflight echoes the caller's Origin only when it is one of them.
        rendered = json.dumps(integration)
        assert all(origin in rendered for origin in ORIGINS)
        assert "'*'" not in json.dumps(integration["IntegrationResponses"])


def test_buckets_and_cdn_allow_the_origins_and_expose_etag(narrowed: dict[str, dict[str, Any]]) -> None:
    storage = narrowed[STORAGE_STACK]
    (uploads_rule,) = _bucket(storage, "BucketsUploads")["CorsConfiguration"]["CorsRules"]
    assert uploads_rule["AllowedOrigins"] == ORIGINS
    assert "ETag" in uploads_rule["ExposedHeaders"]  # a browser completes a multipart upload with each part's ETag
    (outputs_rule,) = _bucket(storage, "BucketsOutputs")["CorsConfiguration"]["CorsRules"]
    assert outputs_rule["AllowedOrigins"] == ORIGINS
    assert set(outputs_rule["AllowedMethods"]) == {"GET", "HEAD"}  # players read; nobody writes from a page
    (policy,) = resources_of(storage, "AWS::CloudFront::ResponseHeadersPolicy").values()
    cors = policy["Properties"]["ResponseHeadersPolicyConfig"]["CorsConfig"]
    assert cors["AccessControlAllowOrigins"]["Items"] == ORIGINS


def test_the_console_is_served_by_its_own_short_lived_behaviour(templates: dict[str, dict[str, Any]]) -> None:
    (dist,) = resources_of(templates[STORAGE_STACK], "AWS::CloudFront::Distribution").values()
    behaviors = {b["PathPattern"]: b for b in dist["Properties"]["DistributionConfig"]["CacheBehaviors"]}
    assert behaviors["console/*"]["CachePolicyId"] == behaviors["*.m3u8"]["CachePolicyId"]
    assert behaviors["console/*"]["ViewerProtocolPolicy"] == "redirect-to-https"


@pytest.mark.parametrize(
    "origins",
    [["https://app.example.com/"], ["app.example.com"], ["https://app.example.com/console"], ["*", "https://a.b"], []],
)
def test_a_bad_origin_is_refused_naming_the_setting(origins: list[str]) -> None:
    with pytest.raises(ValidationError, match="cors_allowed_origins"):
        DeploymentConfig(cors_allowed_origins=origins)


def test_one_origin_is_static_several_are_echoed() -> None:
    assert gateway_cors_headers(["*"])["Access-Control-Allow-Origin"] == "'*'"
    assert gateway_cors_headers(["https://a.example"])["Access-Control-Allow-Origin"] == "'https://a.example'"
    several = gateway_cors_headers(["https://a.example", "https://b.example"])
    assert (several["Access-Control-Allow-Origin"], several["Vary"]) == ("method.request.header.Origin", "'Origin'")
