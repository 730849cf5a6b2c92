"""PublishJob: the job -> COMPLETED with its outputs, playback URL and step timings."""

from typing import Any

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.utilities.typing import LambdaContext

from lambdas.handlers import _metering as metering
from lambdas.handlers import _wiring as wiring
from lambdas.pipeline.publish import PublishRequest, publish

logger = Logger()
tracer = Tracer()


@metering.metered("PublishJob")
@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = PublishRequest.model_validate(event)
    logger.append_keys(job_id=request.job.job_id)
    job = publish(
        request,
        wiring.job_repository(),
        wiring.pipeline_config(),
        ledger=metering.usage_ledger(),
        running=metering.current,
    )
    return job.model_dump(mode="json")
