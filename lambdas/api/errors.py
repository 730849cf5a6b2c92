"""What the API answers when a request cannot be served: typed, each with its HTTP status and error kind."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from http import HTTPStatus

from lambdas.jobs.ports import RepositoryUnavailable
from lambdas.queue.sqs import DeadLettersUnavailable
from lambdas.quotas.ports import QuotaStoreUnavailable
from lambdas.storage.ports import StoreUnavailable, UploadStoreUnavailable
from lambdas.workflow.ports import WorkflowUnavailable


class ErrorKind(StrEnum):
    VALIDATION_ERROR = "validation_error"
    UNAUTHORIZED = "unauthorized"
    FORBIDDEN = "forbidden"
    NOT_FOUND = "not_found"
    CONFLICT = "conflict"
    UNSUPPORTED_MEDIA_TYPE = "unsupported_media_type"
    TOO_MANY_REQUESTS = "too_many_requests"
    UNAVAILABLE = "unavailable"
    INTERNAL_ERROR = "internal_error"


class ApiErrorResponse(Exception):
    """Base of the errors the services raise for the caller to see; the message is shown as is."""

    status: HTTPStatus = HTTPStatus.INTERNAL_SERVER_ERROR
    kind: ErrorKind = ErrorKind.INTERNAL_ERROR

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message, self.field = message, field


class InvalidInput(ApiErrorResponse):
    """A request that is well-formed but asks for something not allowed (too large, wrong part number…)."""

    status, kind = HTTPStatus.UNPROCESSABLE_ENTITY, ErrorKind.VALIDATION_ERROR


class Forbidden(ApiErrorResponse):
    """The caller's token does not allow it: an admin's route, or a priority above its tier."""

    status, kind = HTTPStatus.FORBIDDEN, ErrorKind.FORBIDDEN


class NotFound(ApiErrorResponse):
    """No such job for this caller (someone else's job is not found either)."""

    status, kind = HTTPStatus.NOT_FOUND, ErrorKind.NOT_FOUND


class Conflict(ApiErrorResponse):
    """The job's state does not allow it (already finished, retried too often, parts missing…)."""

    status, kind = HTTPStatus.CONFLICT, ErrorKind.CONFLICT


class TooManyRequests(ApiErrorResponse):
    """A quota is reached: the answer's Retry-After header says in how many seconds to ask again."""

    status, kind = HTTPStatus.TOO_MANY_REQUESTS, ErrorKind.TOO_MANY_REQUESTS

    def __init__(self, message: str, retry_after_s: float, field: str | None = None) -> None:
        super().__init__(message, field=field)
        self.retry_after_s = retry_after_s


# How long a caller waits after a 503: a throttled table or bucket recovers within seconds, and the SDK already
# retried with backoff before the API gave up.
UNAVAILABLE_RETRY_AFTER_S = 2.0


class Unavailable(ApiErrorResponse):
    """A backing service throttled or failed: the same request may succeed later (the answer's Retry-After says when
    to ask again)."""

    status, kind = HTTPStatus.SERVICE_UNAVAILABLE, ErrorKind.UNAVAILABLE

    def __init__(
        self, message: str, *, field: str | None = None, retry_after_s: float = UNAVAILABLE_RETRY_AFTER_S
    ) -> None:
        super().__init__(message, field=field)
        self.retry_after_s = retry_after_s


@contextmanager
def unavailable() -> Iterator[None]:
    """Outages of the table, the buckets or the workflow become 503 answers; other errors pass through."""
    try:
        yield
    except (
        RepositoryUnavailable,
        QuotaStoreUnavailable,
        DeadLettersUnavailable,
        UploadStoreUnavailable,
        StoreUnavailable,
        WorkflowUnavailable,
    ) as error:
        raise Unavailable(f"a backing service is unavailable ({error}); try again") from error
