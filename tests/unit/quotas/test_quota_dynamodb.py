"""The DynamoDB quota store: an upload past the limit is False (a failed condition, told by its code), throttling
and lost connections are QuotaStoreUnavailable, every other failure keeps its meaning."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

from lambdas.quotas.dynamodb import DynamoDBQuotaStore
from lambdas.quotas.ports import QuotaKind, QuotaStoreUnavailable

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


class _Failing:
    def __init__(self, error: Exception) -> None:
        self.error = error

    def update_item(self, **_: Any) -> None:
        raise self.error

    def query(self, **_: Any) -> None:
        raise self.error


def _error(code: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": "Throttling"}}, "UpdateItem")


def _store(error: Exception) -> DynamoDBQuotaStore:
    return DynamoDBQuotaStore(_Failing(error), "jobs")  # type: ignore[arg-type]


def test_an_upload_past_the_limit_is_refused_not_an_error() -> None:
    assert _store(_error("ConditionalCheckFailedException")).take_upload("alice", T0, 3) is False


@pytest.mark.parametrize(
    "error",
    [
        _error("ProvisionedThroughputExceededException"),
        _error("ThrottlingException"),
        _error("InternalServerError"),
        EndpointConnectionError(endpoint_url="http://localhost:4566"),
    ],
)
def test_transient_failures_are_typed(error: Exception) -> None:
    store = _store(error)
    with pytest.raises(QuotaStoreUnavailable):
        store.take_upload("alice", T0, 3)
    with pytest.raises(QuotaStoreUnavailable):
        store.waiting_jobs("alice")
    with pytest.raises(QuotaStoreUnavailable):
        store.refused(T0, QuotaKind.UPLOADS_PER_HOUR)
    with pytest.raises(QuotaStoreUnavailable):
        store.refusals_since(T0, T0)


def test_other_failures_keep_their_meaning() -> None:
    with pytest.raises(ClientError):
        _store(_error("AccessDeniedException")).take_upload("alice", T0, 3)
