"""The captions routes: add a caption track to a completed job, complete it, list and delete them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.event_handler.openapi.params import Body
from aws_lambda_powertools.event_handler.openapi.params import Path as PathParam

from lambdas.api.captions import CaptionCreated, CaptionList, CaptionService, CreateCaption
from lambdas.api.error_responses import documented
from lambdas.jobs.model import CAPTION_ID_PATTERN, JOB_ID_PATTERN, Caption

JobIdParam = Annotated[str, PathParam(pattern=JOB_ID_PATTERN, description="The job's id")]
CaptionIdParam = Annotated[str, PathParam(pattern=CAPTION_ID_PATTERN, description="The caption's id (cap_…)")]
_TAGS = ["captions"]


def add_caption_routes(
    app: APIGatewayRestResolver, service: Callable[[], CaptionService], owner: Callable[[], str]
) -> None:
    @app.post(
        "/jobs/<job_id>/captions",
        status_code=201,
        summary="Add a caption track to a completed job",
        description="Answers a PENDING caption and a short-lived URL: PUT the file there (WebVTT or SubRip, "
        "UTF-8, at most 2 MiB), then POST …/complete. Only a COMPLETED job takes captions (409 otherwise).",
        responses=documented(201, "The caption (pending) and where to upload its file", 400, 404, 409, 415),
        tags=_TAGS,
        operation_id="create_caption",
    )
    def create_caption(job_id: JobIdParam, request: Annotated[CreateCaption, Body()]) -> CaptionCreated:
        return service().create(owner(), job_id, request)

    @app.post(
        "/jobs/<job_id>/captions/<caption_id>/complete",
        summary="Check, clean and publish an uploaded caption file",
        description="The file is parsed strictly (a 422 with `field: file` names the line at fault), cue "
        "timings are checked against the video, markup is reduced to what WebVTT allows (no script, no "
        "styles, no remote references), and the WebVTT track is added to the HLS master (SUBTITLES group) "
        "and the DASH MPD. No video is re-encoded.",
        responses=documented(200, "The caption, ready", 404, 409),
        tags=_TAGS,
        operation_id="complete_caption",
    )
    def complete_caption(job_id: JobIdParam, caption_id: CaptionIdParam) -> Caption:
        return service().complete(owner(), job_id, caption_id)

    @app.get(
        "/jobs/<job_id>/captions",
        summary="The job's captions",
        responses=documented(200, "The captions, in the order they were added", 404),
        tags=_TAGS,
        operation_id="list_captions",
    )
    def list_captions(job_id: JobIdParam) -> CaptionList:
        return CaptionList(captions=service().list(owner(), job_id))

    @app.delete(
        "/jobs/<job_id>/captions/<caption_id>",
        status_code=204,
        summary="Remove a caption track: from the manifests, the job and the outputs bucket",
        responses=documented(204, "Removed", 404),
        tags=_TAGS,
        operation_id="delete_caption",
    )
    def delete_caption(job_id: JobIdParam, caption_id: CaptionIdParam) -> Response[None]:
        service().delete(owner(), job_id, caption_id)
        return Response(status_code=204, body=None)
