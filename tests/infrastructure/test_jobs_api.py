"""The API stage's throttling: every method limited to the deployment's api_rate_limit and api_burst_limit."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk.assertions import Template

from stacks.config import DeploymentConfig
from stacks.constructs.jobs_api import JobsApi
from stacks.names import PIPELINE_STACK

CDK_JSON = Path(__file__).parents[2] / "cdk.json"


def _throttling(settings: list[dict[str, Any]]) -> list[tuple[str, str, float, int]]:
    return [(s["httpMethod"], s["resourcePath"], s["throttlingRateLimit"], s["throttlingBurstLimit"]) for s in settings]


def test_the_construct_throttles_every_method_of_its_stage_as_told(tmp_path: Path) -> None:
    stack = cdk.Stack(cdk.App(outdir=str(tmp_path)), "Api")
    code = lambda_.Code.from_inline("def handler(event, context): return None")

    def function(name: str) -> lambda_.Function:
        return lambda_.Function(stack, name, runtime=lambda_.Runtime.PYTHON_3_13, handler="index.handler", code=code)

    JobsApi(
        stack,
        "JobsApi",
        handler=function("Handler"),
        authorizer=function("Authorizer"),
        log_retention=logs.RetentionDays.ONE_DAY,
        removal_policy=cdk.RemovalPolicy.DESTROY,
        rate_limit=7.5,
        burst_limit=15,
    )

    stages = Template.from_stack(stack).find_resources("AWS::ApiGateway::Stage")
    ((stage,),) = [list(stages.values())]
    settings = stage["Properties"]["MethodSettings"]
    assert [
        (s["HttpMethod"], s["ResourcePath"], s["ThrottlingRateLimit"], s["ThrottlingBurstLimit"]) for s in settings
    ] == [("*", "/*", 7.5, 15)]


def test_the_apps_stage_carries_the_throttling_of_its_configuration(tmp_path: Path) -> None:
    # Not the defaults, so a stack that forgot to pass them on fails; the construct tree is read, no synth needed.
    from app import build_app

    context = json.loads(CDK_JSON.read_text())["context"]
    context["vodpipe"] = {
        **context["vodpipe"],
        "api_rate_limit": 7.5,
        "api_burst_limit": 15,
        "api_gateway_cloudwatch_role": True,  # off by default (test_aws_pitfalls.py): passed on when asked for
    }
    config = DeploymentConfig.from_context(context["vodpipe"])
    app = build_app(cdk.App(outdir=str(tmp_path), context=context, builtin_cloud_formation_validation=False))

    pipeline = next(c for c in app.node.children if isinstance(c, cdk.Stack) and c.stack_name == PIPELINE_STACK)
    (stage,) = [c for c in pipeline.node.find_all() if isinstance(c, apigw.CfnStage)]
    settings = pipeline.resolve(stage.method_settings)
    assert _throttling(settings) == [("*", "/*", config.api_rate_limit, config.api_burst_limit)]
    assert [c for c in pipeline.node.find_all() if isinstance(c, apigw.CfnAccount)]
