"""MakeThumbnails: poster, stills and a sprite-sheet storyboard under outputs/{job}/thumbnails/."""

from typing import Any

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.utilities.typing import LambdaContext

from lambdas.handlers import _metering as metering
from lambdas.handlers import _wiring as wiring
from lambdas.pipeline.thumbnails import ThumbnailsRequest, make_thumbnails

logger = Logger()
tracer = Tracer()


@metering.metered("MakeThumbnails")
@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = ThumbnailsRequest.model_validate(event)
    logger.append_keys(job_id=request.job.job_id)
    result = make_thumbnails(
        request,
        wiring.job_repository(),
        wiring.media_store(),
        wiring.pipeline_config(),
        time_budget_s=wiring.time_budget(context),
    )
    return result.model_dump(mode="json")
