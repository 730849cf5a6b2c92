"""RegisterJob: an upload's S3 event or the API's retry -> the job, PROCESSING for this execution, and its expiry."""

from typing import Any

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.utilities.typing import LambdaContext

from lambdas.handlers import _wiring as wiring
from lambdas.pipeline.register import RegisterRequest, register, registration

logger = Logger()
tracer = Tracer()


@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = RegisterRequest.model_validate(event)
    logger.append_keys(object_key=request.event.detail.object.key, execution_arn=request.execution_arn)
    config = wiring.pipeline_config()
    job = register(request, wiring.job_repository(), wiring.media_store(), config)
    return registration(job, config).model_dump(mode="json")
