"""RegisterJob: the scheduler's admission -> the job, if this execution is its current one, and its expiry."""

from typing import Any

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.utilities.typing import LambdaContext

from lambdas.handlers import _metering as metering
from lambdas.handlers import _wiring as wiring
from lambdas.pipeline.register import RegisterRequest, register, registration

logger = Logger()
tracer = Tracer()


@metering.metered("RegisterJob", metering.job_of_admission)
@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = RegisterRequest.model_validate(event)
    logger.append_keys(job_id=request.event.detail.job_id, execution_arn=request.execution_arn)
    job = register(request, wiring.job_repository())
    return registration(job, wiring.pipeline_config()).model_dump(mode="json")
