"""The metering decorator: one record per invocation on its job, whatever the handler does; never a failure."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from lambdas.handlers import _metering as metering
from tests.unit.cost.fakes import InMemoryUsageLedger

JOB = "01JABCDEFGHJKMNPQRSTVWXYZ0"


@dataclass
class Context:
    aws_request_id: str = "req-1"
    memory_limit_in_mb: int = 3008
    function_name: str = "vodpipe-EncodeChunk-abc"


@pytest.fixture
def ledger(monkeypatch: pytest.MonkeyPatch) -> InMemoryUsageLedger:
    ledger = InMemoryUsageLedger()
    monkeypatch.setattr(metering, "usage_ledger", lambda: ledger)
    monkeypatch.setattr(metering._State, "cold", True)
    return ledger


@dataclass
class Operation:
    """What botocore's after-call hook receives as `model`: an operation of a service."""

    name: str
    service: str

    @property
    def service_model(self) -> Any:
        return type("ServiceModel", (), {"endpoint_prefix": self.service})()


def calls(*operations: tuple[str, str]) -> None:
    for service, name in operations:
        metering._after_call(model=Operation(name, service))


def test_an_invocation_is_recorded_on_its_job_with_its_memory_and_requests(ledger: InMemoryUsageLedger) -> None:
    @metering.metered("EncodeChunk")
    def handler(event: dict[str, Any], context: Context) -> str:
        calls(("s3", "GetObject"), ("s3", "PutObject"), ("s3", "UploadPart"), ("s3", "DeleteObjects"))
        calls(("dynamodb", "GetItem"), ("dynamodb", "Query"), ("dynamodb", "UpdateItem"), ("events", "PutEvents"))
        assert metering.current() is not None
        return "done"

    assert handler({"job": {"job_id": JOB}}, Context()) == "done"
    (record,) = ledger.invocations(JOB)
    assert (record.function, record.request_id, record.memory_mb) == ("EncodeChunk", "req-1", 3008)
    assert (record.s3_writes, record.s3_reads) == (2, 1)  # DeleteObjects is free
    assert (record.dynamodb_reads, record.dynamodb_writes) == (2, 2)  # and the usage write itself
    assert record.billed_ms >= record.init_ms == 0  # outside a Lambda runtime: no INIT
    assert metering.current() is None
    calls(("s3", "GetObject"))  # between invocations nothing is counted (and nothing breaks)


def test_a_failing_handler_is_recorded_too_and_its_error_kept(ledger: InMemoryUsageLedger) -> None:
    @metering.metered("RegisterJob", metering.job_of_admission)
    def handler(event: dict[str, Any], context: Context) -> None:
        raise ValueError("refused")

    with pytest.raises(ValueError, match="refused"):
        handler({"event": {"detail": {"job_id": JOB}}, "execution_arn": "x"}, Context(memory_limit_in_mb=512))
    assert [r.function for r in ledger.invocations(JOB)] == ["RegisterJob"]


def test_the_first_invocation_of_an_environment_bills_its_init(
    ledger: InMemoryUsageLedger, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "vodpipe-ProbeSource")
    monkeypatch.setattr(metering, "process_age_ms", lambda: 1234)
    monkeypatch.setattr(metering, "_hooked", lambda: True)  # no clients to hook here

    @metering.metered("ProbeSource")
    def handler(event: dict[str, Any], context: Context) -> None:
        return None

    handler({"job": {"job_id": JOB}}, Context(aws_request_id="cold"))
    handler({"job": {"job_id": JOB}}, Context(aws_request_id="warm"))
    cold, warm = ledger.invocations(JOB)
    assert (cold.request_id, cold.init_ms) == ("cold", 1234)
    assert cold.billed_ms >= 1234
    assert (warm.request_id, warm.init_ms) == ("warm", 0)


def test_metering_never_fails_an_invocation(monkeypatch: pytest.MonkeyPatch) -> None:
    class Broken:
        def add(self, job_id: str, invocation: object) -> None:
            raise RuntimeError("table gone")

    monkeypatch.setattr(metering, "usage_ledger", Broken)

    @metering.metered("PublishJob")
    def handler(event: dict[str, Any], context: Context) -> str:
        return "published"

    assert handler({"job": {"job_id": JOB}}, Context()) == "published"
    assert handler({"no": "job"}, Context()) == "published"  # no job: nothing to record


def test_the_process_age_is_read_from_proc() -> None:
    assert metering.process_age_ms() > 0  # this test process has lived a while


@pytest.mark.parametrize(
    ("service", "operation", "counter"),
    [
        ("s3", "PutObject", "s3_writes"),
        ("s3", "CopyObject", "s3_writes"),
        ("s3", "ListObjectsV2", "s3_writes"),
        ("s3", "CreateMultipartUpload", "s3_writes"),
        ("s3", "CompleteMultipartUpload", "s3_writes"),
        ("s3", "GetObject", "s3_reads"),
        ("s3", "HeadObject", "s3_reads"),
        ("s3", "DeleteObject", None),
        ("dynamodb", "TransactWriteItems", "dynamodb_writes"),
        ("dynamodb", "BatchGetItem", "dynamodb_reads"),
        ("states", "StartExecution", None),
    ],
)
def test_requests_are_classified_as_aws_bills_them(service: str, operation: str, counter: str | None) -> None:
    assert metering.classify(service, operation) == counter
