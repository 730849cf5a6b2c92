"""A token store that cannot answer is not an unknown token: the authorizer fails (API Gateway: 500 for that request)
instead of answering "Unauthorized" (401 to every caller, and cached, while the table is missing or throttled)."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

from lambdas.auth.dynamodb import DynamoDBTokenStore
from lambdas.auth.identity import Identity
from lambdas.auth.ports import TokenStoreUnavailable
from lambdas.auth.tokens import authenticate
from lambdas.handlers import _wiring as wiring
from lambdas.handlers import authorize
from tests.unit.api.test_openapi_and_auth import METHOD_ARN, FakeContext, FakeDynamoDB

TOKEN = "alice-token-0123456789"


class UnavailableTokenStore:
    """A TokenStore (lambdas/auth/ports.py) whose every lookup fails as the DynamoDB one does when its table is
    missing or throttled."""

    def identity_of(self, token: str) -> Identity | None:
        raise TokenStoreUnavailable("the token store did not answer: ProvisionedThroughputExceededException")


class FailingDynamoDB(FakeDynamoDB):
    def __init__(self, error: Exception) -> None:
        super().__init__()
        self.error = error

    def get_item(self, TableName: str, Key: dict[str, Any], **_: Any) -> dict[str, Any]:
        raise self.error


def client_error(code: str, status: int = 400) -> ClientError:
    response: Any = {"Error": {"Code": code, "Message": "whatever"}, "ResponseMetadata": {"HTTPStatusCode": status}}
    return ClientError(response, "GetItem")


@pytest.mark.parametrize(
    "error",
    [
        client_error("ResourceNotFoundException"),  # the table is gone (or the function reads the wrong one)
        client_error("ProvisionedThroughputExceededException"),
        client_error("ThrottlingException"),
        client_error("AccessDeniedException"),  # a missing grant: a deployment error, not the caller's
        client_error("InternalServerError", 500),
        EndpointConnectionError(endpoint_url="https://dynamodb.eu-west-1.amazonaws.com"),
    ],
    ids=lambda e: type(e).__name__ if not isinstance(e, ClientError) else e.response["Error"]["Code"],
)
def test_every_sdk_failure_of_the_store_is_unavailable_not_an_unknown_token(error: Exception) -> None:
    store = DynamoDBTokenStore(FailingDynamoDB(error), "jobs")  # type: ignore[arg-type]
    with pytest.raises(TokenStoreUnavailable) as raised:
        store.identity_of(TOKEN)
    assert raised.value.__cause__ is error
    assert "Unauthorized" not in str(raised.value)


def test_an_unknown_token_is_still_none() -> None:
    assert DynamoDBTokenStore(FakeDynamoDB(), "jobs").identity_of(TOKEN) is None  # type: ignore[arg-type]
    assert authenticate(DynamoDBTokenStore(FakeDynamoDB(), "jobs"), f"Bearer {TOKEN}") is None  # type: ignore[arg-type]


def test_the_authorizer_fails_rather_than_refuses_when_the_store_is_unavailable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(wiring, "token_store", UnavailableTokenStore)
    event = {"type": "TOKEN", "authorizationToken": f"Bearer {TOKEN}", "methodArn": METHOD_ARN}
    with pytest.raises(TokenStoreUnavailable) as raised:
        authorize.handler(event, FakeContext())  # type: ignore[arg-type]
    # API Gateway reads exactly "Unauthorized" as a 401; any other error message is a 500.
    assert not isinstance(raised.value, authorize.Unauthorized)
    assert str(raised.value) != "Unauthorized"


def test_a_malformed_header_is_refused_without_asking_the_store(monkeypatch: pytest.MonkeyPatch) -> None:
    # No lookup happens without a well-formed bearer token, so a store outage never turns those into 500s.
    monkeypatch.setattr(wiring, "token_store", UnavailableTokenStore)
    event = {"type": "TOKEN", "authorizationToken": "Basic abc", "methodArn": METHOD_ARN}
    with pytest.raises(authorize.Unauthorized, match=r"^Unauthorized$"):
        authorize.handler(event, FakeContext())  # type: ignore[arg-type]
