"""The one reading of SDK failures: transient or not by code, status or connection; an adapter's mapping applied."""

from __future__ import annotations

from typing import Any

import pytest
from boto3.exceptions import S3UploadFailedError
from botocore.exceptions import (
    ClientError,
    EndpointConnectionError,
    NoCredentialsError,
    ParamValidationError,
    ReadTimeoutError,
)

from lambdas.aws_errors import SdkErrors, SdkFailure, error_code, is_transient


class Gone(Exception):
    pass


class Busy(Exception):
    pass


class Refused(Exception):
    pass


def client_error(code: str, status: int = 400, message: str = "what the service says") -> ClientError:
    # Only the parts the code reads; the stubs' TypedDict wants every metadata field.
    response: Any = {"Error": {"Code": code, "Message": message}, "ResponseMetadata": {"HTTPStatusCode": status}}
    return ClientError(response, "Op")


@pytest.mark.parametrize(
    "error",
    [
        client_error("ThrottlingException"),
        client_error("ProvisionedThroughputExceededException"),
        client_error("SlowDown", 503),
        client_error("503", 503),
        client_error("RequestTimeout"),
        client_error("InternalServerError", 500),
        client_error("SomethingNew", 500),
        client_error("SomethingNew", 502),
        EndpointConnectionError(endpoint_url="http://x"),
        ReadTimeoutError(endpoint_url="http://x"),
    ],
)
def test_transient_failures(error: Exception) -> None:
    assert is_transient(error)


@pytest.mark.parametrize(
    "error",
    [
        client_error("AccessDeniedException"),
        client_error("ConditionalCheckFailedException", message="Throttling"),
        client_error("NotImplemented", 501),
        NoCredentialsError(),
        ValueError("ThrottlingException"),
    ],
)
def test_other_failures_are_not_transient(error: Exception) -> None:
    assert not is_transient(error)


def test_the_code_is_read_from_the_response() -> None:
    assert error_code(client_error("NoSuchKey")) == "NoSuchKey"
    assert error_code(ClientError({}, "Op")) == ""


ERRORS = SdkErrors[Exception](
    {"NoSuchThing": Gone, "Special": lambda failure: Refused(f"special: {failure.message}")},
    transient=Busy,
    otherwise=Refused,
)


def test_codes_first_then_transient_then_the_rest() -> None:
    assert type(ERRORS.translate(client_error("NoSuchThing", 503), "x")) is Gone
    assert type(ERRORS.translate(client_error("ThrottlingException"), "x")) is Busy
    assert type(ERRORS.translate(client_error("AccessDenied"), "x")) is Refused
    assert type(ERRORS.translate(ParamValidationError(report="bad"), "x")) is Refused
    assert ERRORS.translate(ValueError("not the SDK's"), "x") is None
    assert SdkErrors[Exception](transient=Busy).translate(client_error("AccessDenied"), "x") is None


def test_messages_name_the_place_and_the_code_never_the_services_message() -> None:
    assert str(ERRORS.translate(client_error("ThrottlingException", message="arn:secret"), "start J")) == (
        "start J: ThrottlingException"
    )
    assert str(ERRORS.translate(EndpointConnectionError(endpoint_url="http://x"), "start J")) == (
        "start J: connection failed (EndpointConnectionError)"
    )
    assert str(ERRORS.translate(NoCredentialsError(), "start J")) == "start J: NoCredentialsError"
    assert str(ERRORS.translate(client_error("", 500), "start J")) == "start J: unknown error"
    # Only a function that asks for the service's message gets it.
    assert (
        str(ERRORS.translate(client_error("Special", message="part 2 is missing"), "x")) == "special: part 2 is missing"
    )


def test_fields_reach_the_exception() -> None:
    class Located(Exception):
        def __init__(self, message: str, *, bucket: str) -> None:
            super().__init__(message)
            self.bucket = bucket

    def located(failure: SdkFailure) -> Exception:
        return Located(failure.text, **failure.fields)

    typed = SdkErrors[Exception](transient=located).translate(client_error("SlowDown"), "s3://b/k", bucket="b")
    assert isinstance(typed, Located)
    assert typed.bucket == "b"
    typed = SdkErrors[Exception](transient=Located).translate(client_error("SlowDown"), "s3://b/k", bucket="b")
    assert isinstance(typed, Located)
    assert typed.bucket == "b"


def test_a_wrapped_failure_is_found_in_the_chain() -> None:
    wrapped = S3UploadFailedError("Failed to upload x: SlowDown")
    wrapped.__cause__ = client_error("SlowDown")
    assert type(ERRORS.translate(wrapped, "x")) is Busy


def test_the_context_manager_chains_and_lets_the_rest_through() -> None:
    with pytest.raises(Busy) as caught, ERRORS.translated("x"):
        raise client_error("ThrottlingException")
    assert isinstance(caught.value.__cause__, ClientError)
    with pytest.raises(KeyError), ERRORS.translated("x"):
        raise KeyError("not an SDK failure")
    passing = SdkErrors[Exception](transient=Busy)
    with pytest.raises(ClientError), passing.translated("x"):
        raise client_error("ConditionalCheckFailedException")


def test_it_is_a_decorator_too() -> None:
    @ERRORS.translated("call")
    def call() -> None:
        raise client_error("NoSuchThing")

    with pytest.raises(Gone, match="call: NoSuchThing"):
        call()
