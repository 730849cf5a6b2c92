"""The REST API's routes: Powertools handlers over the upload and job services, one per operation."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from functools import cache
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, CORSConfig, Response, content_types
from aws_lambda_powertools.event_handler.openapi.params import Body, Query
from aws_lambda_powertools.event_handler.openapi.params import Path as PathParam
from aws_lambda_powertools.utilities.typing import LambdaContext

from lambdas.api.access import check_priority, require_admin
from lambdas.api.caption_routes import add_caption_routes
from lambdas.api.captions import CaptionService
from lambdas.api.clips import ClipService
from lambdas.api.downloads import DownloadService, add_download_routes
from lambdas.api.error_responses import answer_errors, documented
from lambdas.api.jobs import JobService
from lambdas.api.models import (
    CompleteUpload,
    CreateClip,
    CreateUpload,
    JobEvents,
    JobPage,
    PartNumbers,
    PresignedParts,
    PriorityChange,
    PublicJob,
    UploadCreated,
    UploadParts,
    public_job,
)
from lambdas.api.openapi import OPENAPI_PATH, committed_document
from lambdas.api.operators import OperatorService
from lambdas.api.owner import Caller, caller_of, owner_of, require_owner
from lambdas.api.presets import add_preset_routes
from lambdas.api.uploads import UploadService
from lambdas.api.webhooks import add_webhook_routes
from lambdas.jobs.model import JOB_ID_PATTERN, JobStatus
from lambdas.jobs.stats import QueueStats
from lambdas.media.presets import PresetCatalog
from lambdas.queue.views import AdminQueue, Health
from lambdas.webhooks.service import WebhookService

# A listing cursor is unpadded base64url (see jobs.dynamodb); anything else is refused by validation.
CURSOR_PATTERN = r"^[A-Za-z0-9_-]+$"
# Path parameter of every job route: a ULID as POST /uploads handed it out; anything else is refused (422).
JobId = Annotated[str, PathParam(pattern=JOB_ID_PATTERN, description="The job's id (a ULID, from POST /uploads)")]

_BODY = (400, 415)
_JOB = (404,)


@dataclass(frozen=True)
class ApiServices:
    uploads: UploadService
    jobs: JobService
    operators: OperatorService
    webhooks: WebhookService
    captions: CaptionService
    downloads: DownloadService
    presets: PresetCatalog
    clips: ClipService


class ApiRoutes:
    """`ApiRoutes(services)(event, context)`: the Lambda proxy answer. `services` is called once, lazily."""

    def __init__(self, services: Callable[[], ApiServices], cors_origins: tuple[str, ...] = ("*",)) -> None:
        """`cors_origins`: the pages that may read the answers ("*": any), as the deployment allows them."""
        self._services = cache(services)
        self.app = build_resolver(self, cors_origins)

    @property
    def services(self) -> ApiServices:
        return self._services()

    @property
    def owner(self) -> str:
        return owner_of(self.app)

    @property
    def caller(self) -> Caller:
        return caller_of(self.app)

    def __call__(self, event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
        return self.app.resolve(opaque_multipart(event), context)


def opaque_multipart(event: dict[str, Any]) -> dict[str, Any]:
    """Every body this API takes is JSON. Powertools parses a multipart body as a file upload before any route
    sees it, and a missing boundary is then a bare ValueError (a 500); passed on as an opaque type, the request
    gets the API's own 415 instead."""
    headers = event.get("headers") or {}
    names = [
        name
        for name, value in headers.items()
        if name.lower() == "content-type" and str(value).lower().startswith("multipart/")
    ]
    if not names:
        return event
    return {**event, "headers": {**headers, **dict.fromkeys(names, "application/octet-stream")}}


def etag_of(body: str) -> str:
    """A strong validator of the exact answer (queue position and estimate included, not only the stored job)."""
    return '"' + hashlib.sha256(body.encode()).hexdigest()[:32] + '"'


def conditional(view: PublicJob, if_none_match: str | None) -> Response[str]:
    """200 with an ETag, or 304 (no body) when the caller already has this exact answer."""
    body = view.model_dump_json()
    etag = etag_of(body)
    headers = {"ETag": etag, "Cache-Control": "no-cache"}
    if if_none_match and etag in {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}:
        return Response(status_code=304, headers=headers, body="")
    return Response(status_code=200, content_type=content_types.APPLICATION_JSON, headers=headers, body=body)


def build_resolver(api: ApiRoutes, cors_origins: tuple[str, ...] = ("*",)) -> APIGatewayRestResolver:
    first, *others = cors_origins or ("*",)
    app = APIGatewayRestResolver(
        enable_validation=True,
        # Every answer, errors included; with several origins the caller's own is echoed when it is listed.
        cors=CORSConfig(
            allow_origin=first,
            extra_origins=others,
            allow_headers=["Authorization", "Content-Type", "If-None-Match"],
            expose_headers=["Retry-After", "ETag"],
        ),
    )
    app.use(middlewares=[require_owner])
    answer_errors(app)

    @app.get(OPENAPI_PATH, include_in_schema=False)
    def openapi() -> Response[str]:
        return Response(status_code=200, content_type=content_types.APPLICATION_JSON, body=committed_document())

    # --- uploads -------------------------------------------------------------------------------------

    @app.post(
        "/uploads",
        status_code=201,
        summary="Create a job and its multipart upload",
        description="Answers the first (at most 100) presigned part URLs; PUT each part to its URL, keep the "
        "ETag of each response, then complete. The object key holds no part of the file name.",
        responses=documented(201, "The job (UPLOADING) and the upload plan", *_BODY, 403, 429),
        tags=["uploads"],
        operation_id="create_upload",
    )
    def create_upload(request: Annotated[CreateUpload, Body()]) -> UploadCreated:
        return api.services.uploads.create(api.caller, request)

    @app.get(
        "/uploads/<job_id>/parts",
        summary="List the parts S3 has received",
        description="The source of truth to resume an interrupted upload: upload only the parts not listed.",
        responses=documented(200, "The parts received so far", 404, 409),
        tags=["uploads"],
        operation_id="list_parts",
    )
    def list_parts(job_id: JobId) -> UploadParts:
        return api.services.uploads.list_parts(api.owner, job_id)

    @app.post(
        "/uploads/<job_id>/parts",
        summary="Presign more part URLs",
        responses=documented(200, "Presigned URLs for the parts asked for", 404, 409, *_BODY),
        tags=["uploads"],
        operation_id="presign_parts",
    )
    def presign_parts(job_id: JobId, request: Annotated[PartNumbers, Body()]) -> PresignedParts:
        return api.services.uploads.presign_parts(api.owner, job_id, request.part_numbers)

    @app.post(
        "/uploads/<job_id>/complete",
        summary="Complete the upload: the job is QUEUED until the scheduler admits it",
        description="Without `parts`, the parts S3 received are used. Completing again answers the job as it is.",
        responses=documented(200, "The job, QUEUED (or later if the workflow was quicker)", 404, 409, *_BODY),
        tags=["uploads"],
        operation_id="complete_upload",
    )
    def complete_upload(job_id: JobId, request: Annotated[CompleteUpload | None, Body()] = None) -> PublicJob:
        return public_job(api.services.uploads.complete(api.owner, job_id, request or CompleteUpload()))

    @app.delete(
        "/uploads/<job_id>",
        summary="Abandon an upload: the job is CANCELLED and the parts discarded",
        responses=documented(200, "The job, CANCELLED", 404, 409),
        tags=["uploads"],
        operation_id="cancel_upload",
    )
    def cancel_upload(job_id: JobId) -> PublicJob:
        return public_job(api.services.uploads.cancel(api.owner, job_id))

    # --- jobs ----------------------------------------------------------------------------------------

    @app.get(
        "/jobs",
        summary="The caller's jobs, newest first",
        responses=documented(200, "A page"),
        tags=["jobs"],
        operation_id="list_jobs",
    )
    def list_jobs(
        status: Annotated[JobStatus | None, Query(description="Only jobs with this status")] = None,
        limit: Annotated[int, Query(ge=1, le=100)] = 20,
        cursor: Annotated[
            str | None,
            Query(max_length=1024, pattern=CURSOR_PATTERN, description="`next_cursor` of the page before"),
        ] = None,
    ) -> JobPage:
        jobs, next_cursor = api.services.jobs.list_jobs(api.owner, status=status, limit=limit, cursor=cursor)
        return JobPage(jobs=[public_job(job) for job in jobs], next_cursor=next_cursor)

    @app.get(
        "/jobs/<job_id>",
        summary="One job",
        description="Every answer has an `ETag`; `If-None-Match` with it answers 304 when nothing changed. With "
        "`wait` the request is a long-poll: `vodpipe status --watch` follows a job this way.",
        responses=documented(200, "The job", *_JOB)
        | {
            # The body is serialised here (its ETag is its hash), so the schema is named, not inferred.
            200: {"description": "The job", "content": {"application/json": {"model": PublicJob}}},
            304: {"description": "Not modified: the answer would be the one of the ETag sent in If-None-Match"},
        },
        tags=["jobs"],
        operation_id="get_job",
    )
    def get_job(
        job_id: JobId,
        wait: Annotated[
            float | None,
            Query(
                gt=0,
                le=25,
                description="Long-poll: answer as soon as the job's `revision` passes `version`, or after this "
                "many seconds with the job as it is.",
            ),
        ] = None,
        version: Annotated[
            int | None,
            Query(ge=0, description="With `wait`: the `revision` the caller has seen (default: the current one)."),
        ] = None,
    ) -> Response[str]:
        jobs = api.services.jobs
        job = jobs.get(api.owner, job_id) if wait is None else jobs.wait_for_change(api.owner, job_id, version, wait)
        view = public_job(jobs.signed(job), jobs.place(job))  # a private job's URLs signed for this answer
        return conditional(view, api.app.current_event.headers.get("if-none-match"))

    @app.patch(
        "/jobs/<job_id>",
        summary="Change a waiting job's priority",
        description="Only an UPLOADING or QUEUED job; its place among jobs of the new priority keeps its queue "
        "time. A priority above the caller's tier answers 403 (admins may set any).",
        responses=documented(200, "The job, with its new queue position", 403, 404, 409, *_BODY),
        tags=["jobs"],
        operation_id="set_priority",
    )
    def set_priority(job_id: JobId, request: Annotated[PriorityChange, Body()]) -> PublicJob:
        check_priority(api.caller, request.priority)
        jobs = api.services.jobs
        job = jobs.set_priority(api.owner, job_id, request.priority)
        return public_job(job, jobs.place(job))

    @app.delete(
        "/jobs/<job_id>",
        summary="Cancel a job: its execution is stopped and its outputs deleted",
        responses=documented(200, "The job, CANCELLED", 404, 409),
        tags=["jobs"],
        operation_id="cancel_job",
    )
    def cancel_job(job_id: JobId) -> PublicJob:
        return public_job(api.services.jobs.cancel(api.owner, job_id))

    @app.post(
        "/jobs/<job_id>/retry",
        status_code=202,
        summary="Run a FAILED or CANCELLED job again",
        description="The job is QUEUED with one more attempt counted; the scheduler starts it when a slot is "
        "free. 409 once `max_retries` attempts were made.",
        responses=documented(202, "The job, QUEUED", 404, 409),
        tags=["jobs"],
        operation_id="retry_job",
    )
    def retry_job(job_id: JobId) -> PublicJob:
        return public_job(api.services.jobs.retry(api.owner, job_id))

    @app.post(
        "/jobs/<job_id>/clips",
        status_code=201,
        summary="Clip a range of one of the caller's jobs: a job of its own, QUEUED",
        description="Cut from the job's original source (kept in the uploads bucket). `exact` (default) is "
        "frame-accurate and made like any job, with the preset's ladder and outputs; `fast` copies the streams "
        "from the keyframe at or before `start_s` into one MP4, without re-encoding (the job's "
        "`outputs.clip` says where it really starts). Times count from the job's first frame (a clip's: from "
        "its own start). 409 while the job has not been probed or once its source is gone.",
        responses=documented(201, "The clip job, QUEUED", *_BODY, 403, *_JOB, 409, 429),
        tags=["jobs"],
        operation_id="create_clip",
    )
    def create_clip(job_id: JobId, request: Annotated[CreateClip, Body()]) -> PublicJob:
        return public_job(api.services.clips.create(api.caller, job_id, request))

    @app.get(
        "/jobs/<job_id>/events",
        summary="The job's history, oldest first",
        responses=documented(200, "The events", *_JOB),
        tags=["jobs"],
        operation_id="job_events",
    )
    def job_events(job_id: JobId) -> JobEvents:
        return JobEvents(events=api.services.jobs.events(api.owner, job_id))

    @app.get(
        "/stats",
        summary="Queue statistics over the caller's own jobs",
        description="Counts by status and priority class (high 1-3, normal 4-7, bulk 8-10), mean and p95 "
        "processing seconds, success rate and mean queue wait over the last `window_hours`.",
        responses=documented(200, "The statistics"),
        tags=["jobs"],
        operation_id="stats",
    )
    def stats(window_hours: Annotated[int, Query(ge=1, le=720)] = 24) -> QueueStats:
        return api.services.jobs.stats(api.owner, timedelta(hours=window_hours))

    add_webhook_routes(app, lambda: api.services.webhooks, lambda: api.caller)
    add_caption_routes(app, lambda: api.services.captions, lambda: api.owner)
    add_download_routes(app, lambda: api.services.downloads, lambda: api.owner)
    add_preset_routes(app, lambda: api.services.presets)

    # --- operators ---------------------------------------------------------------------------------------

    @app.get(
        "/admin/queue",
        summary="The whole queue (admin)",
        description="Waiting jobs by priority class, running, oldest wait, admissions and completions per minute, "
        "wait time p50/p95 per class over the last `window_minutes`.",
        responses=documented(200, "The queue", 403),
        tags=["operators"],
        operation_id="admin_queue",
    )
    def admin_queue(window_minutes: Annotated[int, Query(ge=1, le=24 * 60)] = 60) -> AdminQueue:
        require_admin(api.caller)
        return api.services.operators.queue(timedelta(minutes=window_minutes))

    @app.get(
        "/health",
        summary="The deployment's state (admin)",
        description="Running and waiting counts, failures and throttled requests in the last hour, the "
        "start-failure queue depth, the oldest waiting job's age, the last completed job.",
        responses=documented(200, "The health report", 403),
        tags=["operators"],
        operation_id="health",
    )
    def health() -> Health:
        require_admin(api.caller)
        return api.services.operators.health()

    return app
