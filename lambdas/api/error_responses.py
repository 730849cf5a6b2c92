"""The error answers: typed service errors, invalid requests, unknown routes and bugs, each as an ErrorBody."""

from __future__ import annotations

import math
from http import HTTPStatus
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestUnsupportedContentType, RequestValidationError

from lambdas.api.errors import ApiErrorResponse, ErrorKind, TooManyRequests, Unavailable
from lambdas.api.models import ErrorBody
from lambdas.api.owner import refusal

logger = Logger(child=True)

_DESCRIPTIONS = {
    400: "The body is not valid JSON",
    401: "Missing or unknown credential",
    403: "The caller's token does not allow it (an admin's route, or a priority above its tier)",
    404: "No such job for this caller",
    409: "The job's state does not allow it",
    415: "The body is not JSON",
    422: "A field is invalid; `field` names it",
    429: "A quota is reached; `Retry-After` says in how many seconds to try again",
    503: "A backing service is unavailable; `Retry-After` says in how many seconds to try again",
}
# A pattern mismatch quotes the regex; for these fields, say what is expected instead.
_PATTERN_MESSAGES = {
    "job_id": "not a job id (job ids are the 26-character ids POST /uploads answers)",
    "cursor": "not a cursor (pass the next_cursor of the page before, unchanged)",
}


_RETRY_AFTER = {
    "Retry-After": {"description": "Whole seconds to wait before asking again", "schema": {"type": "integer"}}
}


def documented(success: int, description: str, *errors: int) -> dict[int, Any]:
    """A route's OpenAPI responses: its success, and the errors it may answer besides 401, 422 and 503."""
    answers: dict[int, Any] = {success: {"description": description}}
    for code in (401, 422, 503, *errors):
        answers[code] = {"description": _DESCRIPTIONS[code], "content": {"application/json": {"model": ErrorBody}}}
        if code in {HTTPStatus.TOO_MANY_REQUESTS, HTTPStatus.SERVICE_UNAVAILABLE}:
            answers[code]["headers"] = _RETRY_AFTER
    return answers


def error_response(
    status: int, kind: ErrorKind, message: str, field: str | None = None, *, headers: dict[str, str] | None = None
) -> Response[dict[str, Any]]:
    return Response(
        status_code=status,
        content_type=content_types.APPLICATION_JSON,
        body=ErrorBody(error=kind, message=message, field=field).model_dump(mode="json"),
        headers=headers,
    )


def retry_after(seconds: float) -> str:
    """The Retry-After value: whole seconds, rounded up (asking a moment early would be refused again), at least 1."""
    return str(max(1, math.ceil(seconds)))


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


def validation_answer(error: RequestValidationError) -> Response[dict[str, Any]]:
    problems = list(error.errors())
    if not problems:
        return error_response(HTTPStatus.UNPROCESSABLE_ENTITY, ErrorKind.VALIDATION_ERROR, "the request is invalid")
    first = problems[0]
    if first.get("type") == "json_invalid":
        detail = (first.get("ctx") or {}).get("error", "")
        return error_response(
            HTTPStatus.BAD_REQUEST, ErrorKind.VALIDATION_ERROR, f"the body is not valid JSON: {detail}"
        )
    field = field_path(tuple(first.get("loc", ())))
    message = str(first.get("msg", "invalid value")).removeprefix("Value error, ")
    if first.get("type") == "missing" and field is None:
        message = "a JSON body is required"
    if first.get("type") == "string_pattern_mismatch" and field in _PATTERN_MESSAGES:
        message = _PATTERN_MESSAGES[field]
    more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
    return error_response(
        HTTPStatus.UNPROCESSABLE_ENTITY,
        ErrorKind.VALIDATION_ERROR,
        f"{field}: {message}{more}" if field else f"{message}{more}",
        field,
    )


def answer_errors(app: APIGatewayRestResolver) -> None:
    """Register the handlers that turn every failure of a request on `app` into its ErrorBody answer."""

    # Powertools' exception_handler returns an unannotated decorator (it returns the function unchanged), hence
    # the targeted ignores on each registration below.
    def refused_first(answer: Response[Any]) -> Response[Any]:
        # Powertools validates a request before any middleware runs, so one it refuses never met the owner
        # check: a caller without credentials is told that first, not what was wrong with the request.
        return refusal(app.current_event.raw_event) or answer

    @app.exception_handler(RequestValidationError)  # type: ignore[untyped-decorator]
    def _invalid(error: RequestValidationError) -> Response[Any]:
        return refused_first(validation_answer(error))

    @app.exception_handler(UnicodeDecodeError)  # type: ignore[untyped-decorator]
    def _not_text(error: UnicodeDecodeError) -> Response[Any]:
        # Powertools decodes a base64 body (binary media) as UTF-8 before it parses the JSON.
        message = "the body is not valid JSON: not UTF-8"
        return refused_first(error_response(HTTPStatus.BAD_REQUEST, ErrorKind.VALIDATION_ERROR, message))

    @app.exception_handler(RecursionError)  # type: ignore[untyped-decorator]
    def _too_deep(error: RecursionError) -> Response[Any]:
        # json.loads of a body like "[[[[…" (~100k levels) in Powertools' validation: bad input, not a bug.
        message = "the body is not valid JSON: nested too deeply"
        return refused_first(error_response(HTTPStatus.BAD_REQUEST, ErrorKind.VALIDATION_ERROR, message))

    @app.exception_handler(RequestUnsupportedContentType)  # type: ignore[untyped-decorator]
    def _unsupported(error: RequestUnsupportedContentType) -> Response[Any]:
        message = "the body must be application/json"
        return refused_first(
            error_response(HTTPStatus.UNSUPPORTED_MEDIA_TYPE, ErrorKind.UNSUPPORTED_MEDIA_TYPE, message)
        )

    @app.exception_handler(ApiErrorResponse)  # type: ignore[untyped-decorator]
    def _refused(error: ApiErrorResponse) -> Response[Any]:
        headers = None
        if isinstance(error, TooManyRequests | Unavailable):
            headers = {"Retry-After": retry_after(error.retry_after_s)}
        return error_response(error.status, error.kind, error.message, error.field, headers=headers)

    @app.not_found
    def _no_route(error: NotFoundError) -> Response[Any]:
        return error_response(HTTPStatus.NOT_FOUND, ErrorKind.NOT_FOUND, "no such route")

    @app.exception_handler(Exception)  # type: ignore[untyped-decorator]
    def _bug(error: Exception) -> Response[Any]:
        refused = refusal(app.current_event.raw_event)
        if refused is not None:
            return refused
        logger.exception("unhandled error")
        return error_response(HTTPStatus.INTERNAL_SERVER_ERROR, ErrorKind.INTERNAL_ERROR, "internal error")
