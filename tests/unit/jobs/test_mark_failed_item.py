"""The state machine's MarkFailed writes the job item directly: the adapter must read what it writes."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from lambdas.jobs.dynamodb import DynamoDBJobRepository
from lambdas.jobs.items import error_message_from_cause, job_attributes, job_from_item, to_wire
from lambdas.jobs.model import JobStatus
from lambdas.jobs.schema import ERROR_CAUSE_ATTRIBUTE, TTL_ATTRIBUTE
from lambdas.jobs.transitions import retry, transition
from tests.contract.job_repository_contract import T0, make_job

# Read directly: importing the CDK construct that names it costs seconds.
DEFINITION = Path(__file__).resolve().parents[3] / "statemachines" / "transcode.asl.json"
LAMBDA_CAUSE = json.dumps(
    {
        "errorMessage": "video: the file contains no video stream.",
        "errorType": "NoVideoStream",
        "requestId": "4a5c7d2e",
        "stackTrace": ['  File "/var/task/lambdas/handlers/probe_source.py", line 19, in handler\n'],
    }
)


def mark_failed(name: str = "MarkFailed") -> dict[str, Any]:
    text = re.sub(r"\$\{TranscodeConcurrency\}", "1", DEFINITION.read_text())
    state: dict[str, Any] = json.loads(text)["States"][name]
    return state


def marked_failed_item(error_type: str, cause: str) -> dict[str, Any]:
    """A PROCESSING job item as the adapter stores it, then MarkFailed's update applied by hand."""
    job = make_job()
    job = transition(transition(job, JobStatus.QUEUED, T0), JobStatus.PROCESSING, T0)
    item = to_wire(job_attributes(job))
    item |= {
        "status": {"S": "FAILED"},
        "error_type": {"S": error_type},
        ERROR_CAUSE_ATTRIBUTE: {"S": cause},
        "updated_at": {"S": "2025-03-01T12:05:00.123Z"},  # $$.State.EnteredTime: milliseconds only
        "completed_at": {"S": "2025-03-01T12:05:00.123Z"},
        "gsi2pk": {"S": "STATUS#FAILED"},
        TTL_ATTRIBUTE: {"N": "1748779200"},  # RegisterJob's expires_at
        "version": {"N": str(job.version + 1)},
    }
    return item


def test_mark_failed_writes_only_attributes_the_adapter_knows() -> None:
    params = mark_failed()["Parameters"]
    names = params["ExpressionAttributeNames"]
    written = re.findall(r"(#?\w+) = :|ADD (\w+) :", params["UpdateExpression"])
    attributes = {names.get(a or b, a or b) for a, b in written}
    assert attributes == {
        "status",
        "error_type",
        "error_cause",
        "updated_at",
        "completed_at",
        "gsi2pk",
        "gsi6pk",
        "gsi6sk",
        TTL_ATTRIBUTE,
        "version",
    }
    stored = set(job_attributes(transition(make_job(), JobStatus.FAILED, T0, error_type="X")))
    assert attributes - {ERROR_CAUSE_ATTRIBUTE} <= stored
    assert params["Key"]["sk"] == {"S": "JOB"}
    assert params["Key"]["pk"]["S.$"] == "States.Format('JOB#{}', $.job.job_id)"
    assert params["ExpressionAttributeValues"][":gsi2pk"] == {"S": f"STATUS#{JobStatus.FAILED}"}
    # The day it ended, as the adapter's BY_COMPLETED index keys it (DAY#<yyyy-mm-dd>, <time>#<job id>).
    assert params["ExpressionAttributeValues"][":day"] == {
        "S.$": "States.Format('DAY#{}', States.ArrayGetItem(States.StringSplit($$.State.EnteredTime, 'T'), 0))"
    }
    assert params["ExpressionAttributeValues"][":ended"] == {
        "S.$": "States.Format('{}#{}', $$.State.EnteredTime, $.job.job_id)"
    }
    # The TTL comes from RegisterJob's result, kept at the top of the state by Prepare.
    assert params["ExpressionAttributeValues"][":expires"] == {"N.$": "States.Format('{}', $.expires_at)"}


def test_mark_registration_failed_writes_a_subset_and_only_fails_this_executions_job() -> None:
    """RegisterJob gave up: the admitted job, if still PROCESSING for this execution, becomes FAILED (no TTL)."""
    params = mark_failed("MarkRegistrationFailed")["Parameters"]
    names = params["ExpressionAttributeNames"]
    written = re.findall(r"(#?\w+) = :|ADD (\w+) :", params["UpdateExpression"])
    attributes = {names.get(a or b, a or b) for a, b in written}
    assert attributes == {
        "status", "error_type", "error_cause", "updated_at", "completed_at", "gsi2pk", "gsi6pk", "gsi6sk", "version"
    }  # fmt: skip
    stored = set(job_attributes(transition(make_job(), JobStatus.FAILED, T0, error_type="X")))
    assert attributes - {ERROR_CAUSE_ATTRIBUTE} <= stored
    assert params["ConditionExpression"] == "#status = :processing AND execution_arn = :execution"
    assert params["ExpressionAttributeValues"][":processing"] == {"S": "PROCESSING"}
    assert params["Key"]["pk"]["S.$"] == "States.Format('JOB#{}', $.detail.job_id)"  # the admission names it


@pytest.mark.parametrize(
    ("error_type", "cause", "message"),
    [
        ("NoVideoStream", LAMBDA_CAUSE, "video: the file contains no video stream."),
        ("States.Timeout", "Task timed out after 900.00 seconds", "Task timed out after 900.00 seconds"),
        ("States.Runtime", '["not", "an", "error document"]', '["not", "an", "error document"]'),
    ],
)
def test_a_failed_job_reads_with_a_readable_reason(error_type: str, cause: str, message: str) -> None:
    job = job_from_item(marked_failed_item(error_type, cause))
    assert job.status is JobStatus.FAILED
    assert job.error_type == error_type
    assert job.error_message == message
    assert job.completed_at == datetime(2025, 3, 1, 12, 5, 0, 123000, tzinfo=UTC)
    assert error_message_from_cause(cause) == message


class _Client:
    """Just enough of a DynamoDB client to see the update a retry sends."""

    after: dict[str, Any]  # set by the test before the update it answers

    def __init__(self, item: dict[str, Any]) -> None:
        self.item = item
        self.updates: list[dict[str, Any]] = []

    def get_item(self, **_: Any) -> dict[str, Any]:
        return {"Item": self.item}

    def update_item(self, **kwargs: Any) -> dict[str, Any]:
        self.updates.append(kwargs)
        return {"Attributes": to_wire(self.after)}


def test_retrying_a_marked_failed_job_removes_the_cause_and_the_ttl() -> None:
    client = _Client(marked_failed_item("NoVideoStream", LAMBDA_CAUSE))
    repository = DynamoDBJobRepository(client, "jobs")  # type: ignore[arg-type]
    failed = repository.get(job_from_item(client.item).job_id)
    queued = retry(failed, datetime(2025, 3, 1, 13, tzinfo=UTC))
    client.after = job_attributes(queued)
    repository.save_transition(failed, queued)
    update = client.updates[0]
    removed = update["UpdateExpression"].split(" REMOVE ")[1].split(" ADD ")[0].split(", ")
    assert {ERROR_CAUSE_ATTRIBUTE, TTL_ATTRIBUTE} <= {update["ExpressionAttributeNames"][n] for n in removed}
