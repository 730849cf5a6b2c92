"""PlayManifest: GET /play/{job_id}/{file+}, a private job's manifest with every URI signed (lambdas/api/play.py)."""

from typing import Any

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from lambdas.api.play import answer_play
from lambdas.handlers import _wiring as wiring

logger = Logger()
tracer = Tracer()


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@tracer.capture_lambda_handler(capture_response=False)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return answer_play(wiring.private_playback(), event)
