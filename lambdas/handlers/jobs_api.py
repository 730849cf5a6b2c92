"""JobsApi: the REST API (uploads and jobs) behind API Gateway's Lambda proxy; routes in lambdas/api/routes.py."""

from functools import cache
from typing import Any

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from lambdas.api.routes import ApiRoutes, ApiServices
from lambdas.handlers import _wiring as wiring
from lambdas.settings import get_settings

logger = Logger()
tracer = Tracer()


def services() -> ApiServices:
    return ApiServices(
        uploads=wiring.upload_service(),
        jobs=wiring.job_service(),
        operators=wiring.operator_service(),
        webhooks=wiring.webhook_service(),
        captions=wiring.caption_service(),
        downloads=wiring.download_service(),
        presets=wiring.api_config().catalog(),
        clips=wiring.clip_service(),
    )


@cache
def api() -> ApiRoutes:
    return ApiRoutes(services, cors_origins=get_settings().cors_origins)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@tracer.capture_lambda_handler(capture_response=False)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return api()(event, context)
