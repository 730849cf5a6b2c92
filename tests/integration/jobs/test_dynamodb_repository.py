"""The DynamoDB job repository on the local runtime: the shared contract, plus the item layout."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest

from lambdas import aws
from lambdas.jobs import dynamodb as dynamodb_module
from lambdas.jobs.dynamodb import DynamoDBJobRepository
from lambdas.jobs.model import EventKind, JobEvent, JobStatus, JobStep
from lambdas.jobs.schema import RETENTION, TTL_ATTRIBUTE, table_definition
from lambdas.jobs.transitions import retry, transition
from tests.contract.job_repository_contract import (
    T0,
    Clock,
    JobRepositoryContract,
    RepositoryFactory,
    make_job,
)

WAIT = {"Delay": 0.2, "MaxAttempts": 150}


@pytest.fixture(scope="module")
def dynamodb(aws_client: Callable[..., Any]) -> Any:
    return aws_client("dynamodb")


@pytest.fixture
def jobs_table(dynamodb: Any) -> Iterator[str]:
    """A fresh table per test, built from the adapter's own design, removed afterwards."""
    name = f"vodpipe-jobs-test-{uuid.uuid4().hex[:12]}"
    dynamodb.create_table(**table_definition(name))
    try:
        dynamodb.get_waiter("table_exists").wait(TableName=name, WaiterConfig=WAIT)
        dynamodb.update_time_to_live(
            TableName=name, TimeToLiveSpecification={"Enabled": True, "AttributeName": TTL_ATTRIBUTE}
        )
        yield name
    finally:
        dynamodb.delete_table(TableName=name)
        dynamodb.get_waiter("table_not_exists").wait(TableName=name, WaiterConfig=WAIT)


class TestDynamoDBJobRepository(JobRepositoryContract):
    @pytest.fixture
    def repository_factory(self, dynamodb: Any, jobs_table: str) -> RepositoryFactory:
        return lambda clock: DynamoDBJobRepository(dynamodb, jobs_table, clock=clock)


def raw_items(dynamodb: Any, table: str, job_id: str) -> dict[str, dict[str, Any]]:
    response = dynamodb.query(
        TableName=table,
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": f"JOB#{job_id}"}},
        ConsistentRead=True,
    )
    return {item["sk"]["S"]: item for item in response["Items"]}


def test_item_layout_keys_and_ttl(dynamodb: Any, jobs_table: str) -> None:
    repo = DynamoDBJobRepository(dynamodb, jobs_table, clock=Clock())
    job = make_job("alice", priority=8)
    repo.create(job)
    item = raw_items(dynamodb, jobs_table, job.job_id)["JOB"]
    created = "2025-03-01T12:00:00.000000Z"
    assert item["gsi1pk"] == {"S": "OWNER#alice"}
    assert item["gsi1sk"] == {"S": f"{created}#{job.job_id}"}
    assert item["gsi2pk"] == {"S": "STATUS#UPLOADING"}
    assert item["gsi2sk"] == {"S": f"08#{created}#{job.job_id}"}  # priority first (1 most urgent), then its time
    assert item["status"] == {"S": "UPLOADING"}
    assert item["version"] == {"N": "1"}
    assert item["rendition_progress"] == {"M": {}}  # must exist for SET rendition_progress.#r
    assert TTL_ATTRIBUTE not in item
    assert "error_type" not in item  # None is absent, not NULL

    failed_at = T0 + timedelta(minutes=5)
    queued = repo.save_transition(job, transition(job, JobStatus.QUEUED, T0))
    failed = repo.save_transition(queued, transition(queued, JobStatus.FAILED, failed_at, error_type="X"))
    item = raw_items(dynamodb, jobs_table, job.job_id)["JOB"]
    assert item["gsi2pk"] == {"S": "STATUS#FAILED"}
    assert item[TTL_ATTRIBUTE] == {"N": str(int((failed_at + RETENTION).timestamp()))}

    repo.save_transition(failed, retry(failed, failed_at))
    item = raw_items(dynamodb, jobs_table, job.job_id)["JOB"]
    assert TTL_ATTRIBUTE not in item  # a retried job must not expire
    assert "error_type" not in item
    assert item["gsi2pk"] == {"S": "STATUS#QUEUED"}


def test_event_items(dynamodb: Any, jobs_table: str) -> None:
    repo = DynamoDBJobRepository(dynamodb, jobs_table, clock=Clock())
    job = make_job()
    repo.create(job)
    for _ in range(2):
        repo.append_event(job.job_id, JobEvent(time=T0, step=JobStep.PROBE, kind=EventKind.STARTED))
    items = raw_items(dynamodb, jobs_table, job.job_id)
    stamp = "2025-03-01T12:00:00.000000Z"
    assert set(items) == {"JOB", f"EVENT#{stamp}#0000", f"EVENT#{stamp}#0001"}
    event = items[f"EVENT#{stamp}#0000"]
    assert event[TTL_ATTRIBUTE] == {"N": str(int((T0 + RETENTION).timestamp()))}
    assert "gsi1pk" not in event  # events stay out of the indexes


def test_client_factory_takes_the_endpoint_from_the_environment(aws_endpoint: str) -> None:
    aws.client.cache_clear()
    try:
        client = aws.client("dynamodb")
        assert client.meta.endpoint_url == aws_endpoint
        assert aws.client("dynamodb") is client
    finally:
        aws.client.cache_clear()


def test_a_filtered_listing_stops_at_its_read_budget(
    dynamodb: Any, jobs_table: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(dynamodb_module, "_FILTERED_PAGE", 2)
    monkeypatch.setattr(dynamodb_module, "_MAX_QUERY_ROUNDS", 2)
    repo = DynamoDBJobRepository(dynamodb, jobs_table, clock=Clock())
    jobs = [make_job(created_at=T0 + timedelta(minutes=n)) for n in range(6)]
    for job in jobs:
        repo.create(job)
    oldest = repo.save_transition(jobs[0], transition(jobs[0], JobStatus.CANCELLED, T0))
    page, cursor = repo.list_for_owner("alice", status=JobStatus.CANCELLED, limit=1)
    assert (page, cursor is not None) == ([], True)  # 4 read, none matched: budget spent
    found: list[Any] = []
    for _ in range(5):
        page, cursor = repo.list_for_owner("alice", status=JobStatus.CANCELLED, limit=1, cursor=cursor)
        found += page
        if cursor is None:
            break
    assert found == [oldest]
    assert cursor is None
