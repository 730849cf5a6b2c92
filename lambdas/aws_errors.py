"""SDK failures read by error code (never by message): which are transient, and an adapter's own exceptions for them."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError, HTTPClientError
from botocore.exceptions import ConnectionError as SdkConnectionError

# Nothing reached the service, or no answer came back (EndpointConnectionError, ReadTimeoutError…).
CONNECTION_ERRORS = (HTTPClientError, SdkConnectionError)
# Throttling, server-side failures and timeouts as S3, DynamoDB and Step Functions name them; S3's HeadObject
# has no body, so its errors arrive as bare HTTP statuses.
TRANSIENT_CODES = frozenset(
    {
        "SlowDown",
        "Throttling",
        "ThrottlingException",
        "TooManyRequestsException",
        "RequestLimitExceeded",
        "ProvisionedThroughputExceededException",
        "RequestTimeout",
        "RequestTimeoutException",
        "InternalError",
        "InternalFailure",
        "InternalServerError",
        "ServiceUnavailable",
        "500",
        "503",
    }
)
# A server error under a code not listed above (a new one, or a proxy's) is transient too: the statuses
# botocore's standard retry mode retries (not 501, which no retry fixes).
TRANSIENT_STATUSES = frozenset({500, 502, 503, 504})


def error_code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def http_status(error: ClientError) -> int:
    return int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))


def is_transient(error: BaseException) -> bool:
    """Worth trying again (once botocore's own retries gave up): a lost connection, throttling, a server error."""
    if isinstance(error, CONNECTION_ERRORS):
        return True
    if isinstance(error, ClientError):
        return error_code(error) in TRANSIENT_CODES or http_status(error) in TRANSIENT_STATUSES
    return False


def sdk_error(error: BaseException) -> ClientError | BotoCoreError | None:
    """The SDK failure `error` is, or was raised from: boto3's transfer manager wraps them (S3UploadFailedError)."""
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, ClientError | BotoCoreError):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


@dataclass(frozen=True)
class SdkFailure:
    """One SDK failure, as an adapter's exception is built from it."""

    where: str
    error: ClientError | BotoCoreError
    fields: Mapping[str, Any] = field(default_factory=dict)

    @property
    def code(self) -> str:
        return error_code(self.error) if isinstance(self.error, ClientError) else ""

    @property
    def message(self) -> str:
        """The service's message, else the code: may name resources, so for callers that show it on purpose."""
        if not isinstance(self.error, ClientError):
            return self.reason
        return str(self.error.response.get("Error", {}).get("Message", "")) or self.code

    @property
    def reason(self) -> str:
        if isinstance(self.error, ClientError):
            return self.code or "unknown error"
        if isinstance(self.error, CONNECTION_ERRORS):
            return f"connection failed ({type(self.error).__name__})"
        return type(self.error).__name__  # refused before sending: parameter validation, missing credentials…

    @property
    def text(self) -> str:
        return f"{self.where}: {self.reason}"


# An exception class is called with `SdkFailure.text` and the fields; a function builds its own.
type Raise[E: Exception] = type[E] | Callable[[SdkFailure], E]


class SdkErrors[E: Exception]:
    """How one adapter reports SDK failures: some codes as its own exceptions, every transient failure as one more,
    and the rest as `otherwise` (None: they propagate untouched, for the adapter to read the code itself)."""

    def __init__(
        self, codes: Mapping[str, Raise[E]] | None = None, *, transient: Raise[E], otherwise: Raise[E] | None = None
    ) -> None:
        self._codes = dict(codes or {})
        self._transient, self._otherwise = transient, otherwise

    def translate(self, error: BaseException, where: str, **fields: Any) -> E | None:
        """The adapter's exception for the SDK failure behind `error`; None if it leaves that failure alone."""
        cause = sdk_error(error)
        if cause is None:
            return None
        failure = SdkFailure(where, cause, fields)
        make = self._codes.get(failure.code) if failure.code else None
        if make is None and is_transient(cause):
            make = self._transient
        if make is None:
            make = self._otherwise
        if make is None:
            return None
        if isinstance(make, type):
            # isinstance widens the class branch to type[Any]; it is the Raise[E] class, so it builds an E.
            built: E = make(failure.text, **fields)
            return built
        return make(failure)

    @contextmanager
    def translated(self, where: str, **fields: Any) -> Iterator[None]:
        """`with errors.translated("s3://b/k"):` (or as a decorator) re-raises the failures it knows as the adapter's
        exceptions, chained to the original. Hold SDK calls only: an error of ours raised from one is re-read."""
        try:
            yield
        except Exception as error:
            typed = self.translate(error, where, **fields)
            if typed is None:
                raise
            raise typed from error
