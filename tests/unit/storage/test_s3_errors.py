"""The S3 adapter's error translation: by error code (and connection failure), never by message."""

from __future__ import annotations

import pytest
from boto3.exceptions import S3UploadFailedError
from botocore.exceptions import ClientError, EndpointConnectionError, ReadTimeoutError

from lambdas.storage.ports import ObjectNotFound, StoreAccessDenied, StoreUnavailable
from lambdas.storage.s3 import translate


def client_error(code: str, message: str = "whatever the service says") -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message}}, "GetObject")


@pytest.mark.parametrize(
    ("code", "kind"),
    [
        ("NoSuchKey", ObjectNotFound),
        ("404", ObjectNotFound),
        ("NoSuchBucket", ObjectNotFound),
        ("AccessDenied", StoreAccessDenied),
        ("403", StoreAccessDenied),
        ("SlowDown", StoreUnavailable),
        ("503", StoreUnavailable),
        ("InternalError", StoreUnavailable),
        ("RequestTimeout", StoreUnavailable),
    ],
)
def test_codes_map_to_typed_errors(code: str, kind: type[Exception]) -> None:
    assert isinstance(translate(client_error(code), "b", "k"), kind)


def test_messages_are_never_read() -> None:
    assert translate(client_error("InvalidArgument", "NoSuchKey SlowDown AccessDenied"), "b", "k") is None


def test_connection_failures_are_transient() -> None:
    assert isinstance(translate(EndpointConnectionError(endpoint_url="http://x"), "b", "k"), StoreUnavailable)
    assert isinstance(translate(ReadTimeoutError(endpoint_url="http://x"), "b", "k"), StoreUnavailable)


def test_the_transfer_managers_wrapper_is_looked_through() -> None:
    wrapped = S3UploadFailedError("Failed to upload x: SlowDown")
    wrapped.__cause__ = client_error("SlowDown")
    assert isinstance(translate(wrapped, "b", "k"), StoreUnavailable)
