"""The DynamoDB adapter types throttling and lost connections as RepositoryUnavailable, by error code."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

from lambdas.jobs.dynamodb import DynamoDBJobRepository
from lambdas.jobs.ports import JobAlreadyExists, RepositoryUnavailable
from tests.contract.job_repository_contract import make_job


class _Failing:
    def __init__(self, error: Exception) -> None:
        self.error = error

    def put_item(self, **_: Any) -> None:
        raise self.error


@pytest.mark.parametrize(
    "error",
    [
        ClientError({"Error": {"Code": "ProvisionedThroughputExceededException", "Message": ""}}, "PutItem"),
        ClientError({"Error": {"Code": "ThrottlingException", "Message": ""}}, "PutItem"),
        ClientError({"Error": {"Code": "InternalServerError", "Message": ""}}, "PutItem"),
        EndpointConnectionError(endpoint_url="http://localhost:4566"),
    ],
)
def test_transient_failures_are_typed(error: Exception) -> None:
    with pytest.raises(RepositoryUnavailable):
        DynamoDBJobRepository(_Failing(error), "jobs").create(make_job())  # type: ignore[arg-type]


def test_other_failures_keep_their_meaning() -> None:
    failed = ClientError({"Error": {"Code": "ConditionalCheckFailedException", "Message": "Throttling"}}, "PutItem")
    with pytest.raises(JobAlreadyExists):
        DynamoDBJobRepository(_Failing(failed), "jobs").create(make_job())  # type: ignore[arg-type]
    denied = ClientError({"Error": {"Code": "AccessDeniedException", "Message": ""}}, "PutItem")
    with pytest.raises(ClientError):
        DynamoDBJobRepository(_Failing(denied), "jobs").create(make_job())  # type: ignore[arg-type]
