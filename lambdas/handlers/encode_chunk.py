"""EncodeChunk: one work item (a chunk of video, or the whole audio) -> CMAF segments under outputs/{job}/cmaf/."""

from typing import Any

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.utilities.typing import LambdaContext

from lambdas.handlers import _metering as metering
from lambdas.handlers import _wiring as wiring
from lambdas.pipeline.encode import EncodeRequest, encode

logger = Logger()
tracer = Tracer()


@metering.metered("EncodeChunk")
@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = EncodeRequest.model_validate(event)
    logger.append_keys(job_id=request.job.job_id, item_id=request.item_id)
    result = encode(
        request,
        wiring.job_repository(),
        wiring.media_store(),
        wiring.pipeline_config(),
        time_budget_s=wiring.time_budget(context),
    )
    return result.model_dump(mode="json")
