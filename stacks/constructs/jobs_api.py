"""The REST job API (API Gateway v1: LocalStack community has no HTTP APIs) with a token authorizer."""

from __future__ import annotations

import json

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from stacks.config import DeploymentConfig
from stacks.nag import acknowledge

STAGE = "v1"
# A deployment's own come from its DeploymentConfig (api_rate_limit, api_burst_limit); these are its defaults.
DEFAULT_RATE_LIMIT: float = DeploymentConfig.model_fields["api_rate_limit"].default
DEFAULT_BURST_LIMIT: int = DeploymentConfig.model_fields["api_burst_limit"].default


def gateway_cors_headers(origins: list[str]) -> dict[str, str]:
    """The CORS headers of API Gateway's own responses, as gateway-response mappings: a static origin, or, with
    several, the caller's own `Origin` echoed (those responses carry no data and the API takes no cookies)."""
    origin = f"'{origins[0]}'" if len(origins) == 1 else "method.request.header.Origin"
    headers = {
        "Access-Control-Allow-Origin": origin,
        "Access-Control-Allow-Headers": "'Authorization,Content-Type,If-None-Match'",
        "Access-Control-Expose-Headers": "'Retry-After,ETag'",
    }
    return headers if len(origins) == 1 else {**headers, "Vary": "'Origin'"}


class JobsApi(Construct):
    """Every route is a Lambda proxy to one function (Powertools REST resolver validates with pydantic).

    `rate_limit` (requests per second, steady) and `burst_limit` throttle every method of the stage, for all
    callers together: past them API Gateway answers 429 itself, before the authorizer or the function run.
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        handler: lambda_.IFunction,
        authorizer: lambda_.IFunction,
        log_retention: logs.RetentionDays,
        removal_policy: RemovalPolicy,
        rate_limit: float = DEFAULT_RATE_LIMIT,
        burst_limit: int = DEFAULT_BURST_LIMIT,
        cors_origins: list[str] | None = None,
        cloud_watch_role: bool = False,
    ) -> None:
        """`cors_origins`: DeploymentConfig.cors_allowed_origins; the function answers CORS on its own responses
        (CORS_ALLOWED_ORIGINS), this construct on the preflight and on the gateway's own refusals.
        `cloud_watch_role`: DeploymentConfig.api_gateway_cloudwatch_role (the account-wide logging role)."""
        super().__init__(scope, id)
        origins = cors_origins or ["*"]
        access_logs = logs.LogGroup(self, "AccessLogs", retention=log_retention, removal_policy=removal_policy)
        self.authorizer = apigw.TokenAuthorizer(
            self,
            "TokenAuthorizer",
            handler=authorizer,
            identity_source=apigw.IdentitySource.header("Authorization"),
            results_cache_ttl=Duration.minutes(5),
        )
        self.api = apigw.RestApi(
            self,
            "Api",
            description="vodpipe jobs and uploads",
            # The account's logging role (AWS::ApiGateway::Account) is a per-region singleton: made here only when
            # the deployment says so. Stage and access logs need it set once in the account, by whoever owns it.
            cloud_watch_role=cloud_watch_role,
            cloud_watch_role_removal_policy=removal_policy if cloud_watch_role else None,
            deploy_options=apigw.StageOptions(
                stage_name=STAGE,
                tracing_enabled=True,
                logging_level=apigw.MethodLoggingLevel.INFO,
                access_log_destination=apigw.LogGroupLogDestination(access_logs),
                access_log_format=apigw.AccessLogFormat.json_with_standard_fields(
                    caller=False,
                    http_method=True,
                    ip=True,
                    protocol=True,
                    request_time=True,
                    resource_path=True,
                    response_length=True,
                    status=True,
                    user=True,
                ),
                throttling_rate_limit=rate_limit,
                throttling_burst_limit=burst_limit,
            ),
            default_method_options=apigw.MethodOptions(
                authorizer=self.authorizer, authorization_type=apigw.AuthorizationType.CUSTOM
            ),
            default_cors_preflight_options=apigw.CorsOptions(
                allow_origins=origins,
                allow_headers=["Authorization", "Content-Type", "If-None-Match"],
                allow_methods=apigw.Cors.ALL_METHODS,
                max_age=Duration.minutes(10),
            ),
        )
        # The gateway's own refusals in the function's error shape, so clients parse one format, and with CORS
        # headers: without them a browser shows a CORS error instead of the 401, 403, 429 or 5xx.
        cors = gateway_cors_headers(origins)
        for name, response_type, status, message in (
            ("Unauthorized", apigw.ResponseType.UNAUTHORIZED, "401", "Unauthorized"),
            ("AccessDenied", apigw.ResponseType.ACCESS_DENIED, "403", "Forbidden"),
        ):
            self.api.add_gateway_response(
                name,
                type=response_type,
                status_code=status,
                response_headers=cors,
                templates={
                    "application/json": json.dumps(
                        {"error": "unauthorized", "message": message, "field": "Authorization"}
                    )
                },
            )
        for name, response_type in (
            ("Default4xx", apigw.ResponseType.DEFAULT_4_XX),
            ("Default5xx", apigw.ResponseType.DEFAULT_5_XX),
        ):
            self.api.add_gateway_response(name, type=response_type, response_headers=cors)
        integration = apigw.LambdaIntegration(handler, proxy=True)
        self.api.root.add_method("ANY", integration)
        self.api.root.add_proxy(default_integration=integration, any_method=True)
        # The OpenAPI document is public so clients and tools can read it without a credential.
        self.api.root.add_resource("openapi.json").add_method(
            "GET", integration, authorization_type=apigw.AuthorizationType.NONE
        )
        acknowledge(
            self.api,
            {
                "AwsSolutions-APIG2": "Requests are validated by pydantic in the handler, which names the "
                "failing field.",
                "AwsSolutions-APIG3": "WAF is an account-level choice; attach a web ACL per deployment.",
                "AwsSolutions-APIG4": "Only OPTIONS (CORS preflight) and GET /openapi.json are open; every other "
                "method uses the token authorizer.",
                "AwsSolutions-COG4": "A Lambda token authorizer maps credentials to users; swap in Cognito per "
                "deployment.",
                "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
                "AmazonAPIGatewayPushToCloudWatchLogs]": "The API Gateway account role only pushes logs.",
            },
        )

    @property
    def url(self) -> str:
        return self.api.url
