"""The REST API: Powertools routes over the upload and job services; every error is {error, message, field}.

The caller is the owner the token authorizer (lambdas/handlers/authorize.py) put in
`requestContext.authorizer`; API Gateway refuses requests without a valid token before they get here.
A request that arrives without that context anyway (a misconfigured method) is answered 401, never served.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from functools import cache
from http import HTTPStatus
from pathlib import Path
from typing import Annotated, Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, CORSConfig, Response, content_types
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestUnsupportedContentType, RequestValidationError
from aws_lambda_powertools.event_handler.openapi.models import HTTPBearer
from aws_lambda_powertools.event_handler.openapi.params import Body, Query
from aws_lambda_powertools.event_handler.openapi.params import Path as PathParam
from aws_lambda_powertools.utilities.typing import LambdaContext

from lambdas.api.errors import ApiError, ErrorKind
from lambdas.api.jobs import JobService
from lambdas.api.models import (
    CompleteUpload,
    CreateUpload,
    ErrorBody,
    JobEvents,
    JobPage,
    PartNumbers,
    PresignedParts,
    PublicJob,
    UploadCreated,
    UploadParts,
    public_job,
)
from lambdas.api.uploads import UploadService
from lambdas.auth.tokens import OWNER_PATTERN
from lambdas.jobs.model import JOB_ID_PATTERN, JobStatus
from lambdas.jobs.transitions import QueueStats

logger = Logger(child=True)

OPENAPI_FILE = Path(__file__).with_name("openapi.json")
# A listing cursor is unpadded base64url (see jobs.dynamodb); anything else is refused by validation.
CURSOR_PATTERN = r"^[A-Za-z0-9_-]+$"
# Path parameter of every job route: a ULID as POST /uploads handed it out; anything else is refused (422).
JobId = Annotated[str, PathParam(pattern=JOB_ID_PATTERN, description="The job's id (a ULID, from POST /uploads)")]
OPENAPI_PATH = "/openapi.json"
TITLE = "vodpipe"
API_VERSION = "1.0.0"
DESCRIPTION = (
    "Upload videos straight to S3 with presigned multipart URLs, then follow, cancel and retry the transcode "
    "jobs they start. Every route but GET /openapi.json needs `Authorization: Bearer <token>`. A caller only "
    "ever sees its own jobs: another user's job is 404, and /stats covers the caller's jobs only."
)

_DESCRIPTIONS = {
    400: "The body is not valid JSON",
    401: "Missing or unknown credential",
    404: "No such job for this caller",
    409: "The job's state does not allow it",
    415: "The body is not JSON",
    422: "A field is invalid; `field` names it",
    503: "A backing service is unavailable; retry later",
}


def _responses(success: int, description: str, *errors: int) -> dict[int, Any]:
    answers: dict[int, Any] = {success: {"description": description}}
    for code in (401, 422, 503, *errors):
        answers[code] = {"description": _DESCRIPTIONS[code], "content": {"application/json": {"model": ErrorBody}}}
    return answers


_BODY = (400, 415)
_JOB = (404,)


@dataclass(frozen=True)
class ApiServices:
    uploads: UploadService
    jobs: JobService


def _error(status: int, kind: ErrorKind, message: str, field: str | None = None) -> Response[dict[str, Any]]:
    return Response(
        status_code=status,
        content_type=content_types.APPLICATION_JSON,
        body=ErrorBody(error=kind, message=message, field=field).model_dump(mode="json"),
    )


def field_path(location: tuple[Any, ...]) -> str | None:
    """`("body", "parts", 0, "etag")` -> `parts[0].etag`; the bare body or a JSON position -> None."""
    path = ""
    for part in location[1:] if location and location[0] in {"body", "query", "path", "header"} else location:
        if isinstance(part, int):
            if not path:
                return None  # a position in an unparsable body, or the body itself is a list
            path += f"[{part}]"
        else:
            path += f".{part}" if path else str(part)
    return path or None


# A pattern mismatch quotes the regex; for these fields, say what is expected instead.
_PATTERN_MESSAGES = {
    "job_id": "not a job id (job ids are the 26-character ids POST /uploads answers)",
    "cursor": "not a cursor (pass the next_cursor of the page before, unchanged)",
}


def _validation_answer(error: RequestValidationError) -> Response[dict[str, Any]]:
    problems = list(error.errors())
    if not problems:
        return _error(HTTPStatus.UNPROCESSABLE_ENTITY, ErrorKind.VALIDATION_ERROR, "the request is invalid")
    first = problems[0]
    if first.get("type") == "json_invalid":
        detail = (first.get("ctx") or {}).get("error", "")
        return _error(HTTPStatus.BAD_REQUEST, ErrorKind.VALIDATION_ERROR, f"the body is not valid JSON: {detail}")
    field = field_path(tuple(first.get("loc", ())))
    message = str(first.get("msg", "invalid value")).removeprefix("Value error, ")
    if first.get("type") == "missing" and field is None:
        message = "a JSON body is required"
    if first.get("type") == "string_pattern_mismatch" and field in _PATTERN_MESSAGES:
        message = _PATTERN_MESSAGES[field]
    more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
    return _error(
        HTTPStatus.UNPROCESSABLE_ENTITY,
        ErrorKind.VALIDATION_ERROR,
        f"{field}: {message}{more}" if field else f"{message}{more}",
        field,
    )


def caller(event: Mapping[str, Any]) -> str | None:
    """The owner the token authorizer found for this request's credential, if one ran."""
    context = event.get("requestContext") or {}
    authorizer = context.get("authorizer") or {}
    owner = authorizer.get("owner") or authorizer.get("principalId")
    return owner if isinstance(owner, str) and owner else None


class JobsApi:
    """`JobsApi(services)(event, context)`: the Lambda proxy answer. `services` is called once, lazily."""

    def __init__(self, services: Callable[[], ApiServices]) -> None:
        self._services = cache(services)
        self._owner: str | None = None
        self.app = build_resolver(self)

    @property
    def services(self) -> ApiServices:
        return self._services()

    @property
    def owner(self) -> str:
        if self._owner is None:  # only reachable if a protected route skipped __call__'s check
            raise PermissionError("no authenticated caller")
        return self._owner

    def __call__(self, event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
        self._owner = None
        if not _public(event):
            owner = caller(event)
            if owner is None or not _valid_owner(owner):
                answer = _error(HTTPStatus.UNAUTHORIZED, ErrorKind.UNAUTHORIZED, "Unauthorized", "Authorization")
                return {
                    "statusCode": answer.status_code,
                    "headers": {"Content-Type": content_types.APPLICATION_JSON, "WWW-Authenticate": "Bearer"},
                    "body": json.dumps(answer.body),
                    "isBase64Encoded": False,
                }
            self._owner = owner
        return self.app.resolve(event, context)


def _public(event: Mapping[str, Any]) -> bool:
    return event.get("httpMethod") == "GET" and OPENAPI_PATH in {event.get("resource"), event.get("path")}


def _valid_owner(owner: str) -> bool:
    return re.fullmatch(OWNER_PATTERN, owner) is not None


def build_resolver(api: JobsApi) -> APIGatewayRestResolver:
    app = APIGatewayRestResolver(
        enable_validation=True, cors=CORSConfig(allow_origin="*", allow_headers=["Authorization", "Content-Type"])
    )
    app.configure_openapi(
        title=TITLE,
        version=API_VERSION,
        description=DESCRIPTION,
        security_schemes={"bearerAuth": HTTPBearer(bearerFormat="opaque token")},
        security=[{"bearerAuth": []}],
    )

    @app.exception_handler(RequestValidationError)
    def _invalid(error: RequestValidationError) -> Response[dict[str, Any]]:
        return _validation_answer(error)

    @app.exception_handler(UnicodeDecodeError)
    def _not_text(error: UnicodeDecodeError) -> Response[dict[str, Any]]:
        # Powertools decodes a base64 body (binary media) as UTF-8 before it parses the JSON.
        return _error(HTTPStatus.BAD_REQUEST, ErrorKind.VALIDATION_ERROR, "the body is not valid JSON: not UTF-8")

    @app.exception_handler(RecursionError)
    def _too_deep(error: RecursionError) -> Response[dict[str, Any]]:
        # json.loads of a body like "[[[[…" (~100k levels) in Powertools' validation: bad input, not a bug.
        message = "the body is not valid JSON: nested too deeply"
        return _error(HTTPStatus.BAD_REQUEST, ErrorKind.VALIDATION_ERROR, message)

    @app.exception_handler(RequestUnsupportedContentType)
    def _unsupported(error: RequestUnsupportedContentType) -> Response[dict[str, Any]]:
        return _error(
            HTTPStatus.UNSUPPORTED_MEDIA_TYPE, ErrorKind.UNSUPPORTED_MEDIA_TYPE, "the body must be application/json"
        )

    @app.exception_handler(ApiError)
    def _refused(error: ApiError) -> Response[dict[str, Any]]:
        return _error(error.status, error.kind, error.message, error.field)

    @app.not_found
    def _no_route(error: NotFoundError) -> Response[dict[str, Any]]:
        return _error(HTTPStatus.NOT_FOUND, ErrorKind.NOT_FOUND, "no such route")

    @app.exception_handler(Exception)
    def _bug(error: Exception) -> Response[dict[str, Any]]:
        logger.exception("unhandled error")
        return _error(HTTPStatus.INTERNAL_SERVER_ERROR, ErrorKind.INTERNAL_ERROR, "internal error")

    @app.get(OPENAPI_PATH, include_in_schema=False)
    def openapi() -> Response[str]:
        return Response(status_code=200, content_type=content_types.APPLICATION_JSON, body=_openapi_document())

    # --- uploads -------------------------------------------------------------------------------------

    @app.post(
        "/uploads",
        status_code=201,
        summary="Create a job and its multipart upload",
        description="Answers the first (at most 100) presigned part URLs; PUT each part to its URL, keep the "
        "ETag of each response, then complete. The object key holds no part of the file name.",
        responses=_responses(201, "The job (UPLOADING) and the upload plan", *_BODY),
        tags=["uploads"],
        operation_id="create_upload",
    )
    def create_upload(request: Annotated[CreateUpload, Body()]) -> UploadCreated:
        return api.services.uploads.create(api.owner, request)

    @app.get(
        "/uploads/<job_id>/parts",
        summary="List the parts S3 has received",
        description="The source of truth to resume an interrupted upload: upload only the parts not listed.",
        responses=_responses(200, "The parts received so far", 404, 409),
        tags=["uploads"],
        operation_id="list_parts",
    )
    def list_parts(job_id: JobId) -> UploadParts:
        return api.services.uploads.list_parts(api.owner, job_id)

    @app.post(
        "/uploads/<job_id>/parts",
        summary="Presign more part URLs",
        responses=_responses(200, "Presigned URLs for the parts asked for", 404, 409, *_BODY),
        tags=["uploads"],
        operation_id="presign_parts",
    )
    def presign_parts(job_id: JobId, request: Annotated[PartNumbers, Body()]) -> PresignedParts:
        return api.services.uploads.presign_parts(api.owner, job_id, request.part_numbers)

    @app.post(
        "/uploads/<job_id>/complete",
        summary="Complete the upload: the job is QUEUED and the workflow starts",
        description="Without `parts`, the parts S3 received are used. Completing again answers the job as it is.",
        responses=_responses(200, "The job, QUEUED (or later if the workflow was quicker)", 404, 409, *_BODY),
        tags=["uploads"],
        operation_id="complete_upload",
    )
    def complete_upload(job_id: JobId, request: Annotated[CompleteUpload | None, Body()] = None) -> PublicJob:
        return public_job(api.services.uploads.complete(api.owner, job_id, request or CompleteUpload()))

    @app.delete(
        "/uploads/<job_id>",
        summary="Abandon an upload: the job is CANCELLED and the parts discarded",
        responses=_responses(200, "The job, CANCELLED", 404, 409),
        tags=["uploads"],
        operation_id="cancel_upload",
    )
    def cancel_upload(job_id: JobId) -> PublicJob:
        return public_job(api.services.uploads.cancel(api.owner, job_id))

    # --- jobs ----------------------------------------------------------------------------------------

    @app.get(
        "/jobs",
        summary="The caller's jobs, newest first",
        responses=_responses(200, "A page"),
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
        responses=_responses(200, "The job", *_JOB),
        tags=["jobs"],
        operation_id="get_job",
    )
    def get_job(job_id: JobId) -> PublicJob:
        return public_job(api.services.jobs.get(api.owner, job_id))

    @app.delete(
        "/jobs/<job_id>",
        summary="Cancel a job: its execution is stopped and its outputs deleted",
        responses=_responses(200, "The job, CANCELLED", 404, 409),
        tags=["jobs"],
        operation_id="cancel_job",
    )
    def cancel_job(job_id: JobId) -> PublicJob:
        return public_job(api.services.jobs.cancel(api.owner, job_id))

    @app.post(
        "/jobs/<job_id>/retry",
        status_code=202,
        summary="Run a FAILED or CANCELLED job again",
        description="The job is QUEUED with one more attempt counted and a new execution is started; 409 once "
        "`max_retries` attempts were made.",
        responses=_responses(202, "The job, QUEUED", 404, 409),
        tags=["jobs"],
        operation_id="retry_job",
    )
    def retry_job(job_id: JobId) -> PublicJob:
        return public_job(api.services.jobs.retry(api.owner, job_id))

    @app.get(
        "/jobs/<job_id>/events",
        summary="The job's history, oldest first",
        responses=_responses(200, "The events", *_JOB),
        tags=["jobs"],
        operation_id="job_events",
    )
    def job_events(job_id: JobId) -> JobEvents:
        return JobEvents(events=api.services.jobs.events(api.owner, job_id))

    @app.get(
        "/stats",
        summary="Queue statistics over the caller's own jobs",
        description="Counts by status and priority class (low 1-3, normal 4-7, high 8-10), mean and p95 "
        "processing seconds, success rate and mean queue wait over the last `window_hours`.",
        responses=_responses(200, "The statistics"),
        tags=["jobs"],
        operation_id="stats",
    )
    def stats(window_hours: Annotated[int, Query(ge=1, le=720)] = 24) -> QueueStats:
        return api.services.jobs.stats(api.owner, timedelta(hours=window_hours))

    return app


@cache
def _openapi_document() -> str:
    # The committed file (tests keep it equal to the generated one): no schema generation at cold start.
    return OPENAPI_FILE.read_text()


def generate_openapi() -> str:
    """The OpenAPI document of the routes above, as committed in lambdas/api/openapi.json."""

    def unused() -> ApiServices:
        raise RuntimeError("generating the document needs no services")

    document = json.loads(JobsApi(unused).app.get_openapi_json_schema())
    for operations in document["paths"].values():
        for operation in operations.values():
            operation["responses"] = dict(sorted(operation["responses"].items()))
    # Powertools adds its own validation error schemas; every error here answers ErrorBody instead.
    schemas = document["components"]["schemas"]
    for name in ("HTTPValidationError", "ValidationError", "ResponseValidationError"):
        schemas.pop(name, None)
    if '"#/components/schemas/ValidationError"' in json.dumps(document):
        raise AssertionError("an operation still refers to Powertools' validation error schema")
    return json.dumps(document, indent=2) + "\n"


if __name__ == "__main__":
    OPENAPI_FILE.write_text(generate_openapi())
    print(f"wrote {OPENAPI_FILE}")
