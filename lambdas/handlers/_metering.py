"""Metering of the workflow's handlers: each invocation's billed duration, memory and AWS requests, added to its
job's usage (lambdas/cost) with one atomic write when the handler returns or raises.

Billed duration: the handler's wall time (everything inside this decorator, the other decorators included) rounded
up to the millisecond, plus on a cold start the INIT phase (AWS bills INIT of on-demand functions since August
2025): the process's age at its first invocation, read from /proc (0 where there is none). Requests: botocore's
`after-call` event on the shared S3 and DynamoDB clients (one per API call, its retries inside it), S3 priced as
write (PUT, COPY, POST, LIST) or read (GET, HEAD, the rest; DELETE is free); DynamoDB per request (one unit each:
a lower bound for items over 1 KB). The usage write itself is counted as one DynamoDB write.
Metering never fails an invocation: a failure to record is logged and dropped.
"""

from __future__ import annotations

import math
import os
import threading
import time
from collections.abc import Callable
from functools import cache, wraps
from typing import Any, Protocol, TypeVar

from aws_lambda_powertools import Logger

from lambdas import aws
from lambdas.cost.dynamodb import DynamoDBUsageLedger
from lambdas.cost.ports import UsageLedger
from lambdas.cost.usage import Invocation
from lambdas.settings import get_settings

logger = Logger(child=True)

_S3_FREE = frozenset({"DeleteObject", "DeleteObjects", "AbortMultipartUpload"})
_S3_WRITE_PREFIXES = ("Put", "Copy", "Post", "List", "CreateMultipartUpload", "UploadPart", "CompleteMultipart")
_DYNAMODB_READS = frozenset({"GetItem", "BatchGetItem", "Query", "Scan", "TransactGetItems"})
_HOOK_ID = "vodpipe-metering"


class _Context(Protocol):
    function_name: str
    aws_request_id: str
    memory_limit_in_mb: int


Handler = TypeVar("Handler", bound=Callable[..., Any])


class Meter:
    """One invocation's counts so far (thread-safe: boto3's transfers call from threads)."""

    def __init__(self, function: str, request_id: str, memory_mb: int, init_ms: int) -> None:
        self.function, self.request_id, self.memory_mb, self.init_ms = function, request_id, memory_mb, init_ms
        self._started = time.monotonic()
        self._lock = threading.Lock()
        self.counts = dict.fromkeys(("s3_writes", "s3_reads", "dynamodb_writes", "dynamodb_reads"), 0)

    def count(self, service: str, operation: str) -> None:
        name = classify(service, operation)
        if name is not None:
            with self._lock:
                self.counts[name] += 1

    def invocation(self, *, extra_dynamodb_writes: int = 0) -> Invocation:
        """What the invocation used up to now (PublishJob prices itself with this before it returns)."""
        elapsed_ms = math.ceil((time.monotonic() - self._started) * 1000)
        with self._lock:
            counts = dict(self.counts)
        counts["dynamodb_writes"] += extra_dynamodb_writes
        return Invocation(
            function=self.function,
            request_id=self.request_id,
            memory_mb=self.memory_mb,
            billed_ms=elapsed_ms + self.init_ms,
            init_ms=self.init_ms,
            **counts,
        )


def classify(service: str, operation: str) -> str | None:
    """The counter an API call adds to; None for what is not counted (free, or another service)."""
    if service == "s3":
        if operation in _S3_FREE:
            return None
        return "s3_writes" if operation.startswith(_S3_WRITE_PREFIXES) else "s3_reads"
    if service == "dynamodb":
        return "dynamodb_reads" if operation in _DYNAMODB_READS else "dynamodb_writes"
    return None


class _State:
    """The execution environment's: the invocation running now, and whether one ran before (INIT billed once)."""

    current: Meter | None = None
    cold = True


def current() -> Invocation | None:
    """The running invocation's usage so far, including the usage write still to come; None outside a metered one."""
    meter = _State.current
    return meter.invocation(extra_dynamodb_writes=1) if meter is not None else None


def _after_call(model: Any = None, **_: Any) -> None:
    meter = _State.current
    if meter is not None and model is not None:
        meter.count(model.service_model.endpoint_prefix, model.name)


@cache
def _hooked() -> bool:
    for name in ("s3", "dynamodb"):
        aws.client(name).meta.events.register("after-call", _after_call, unique_id=f"{_HOOK_ID}-{name}")
    return True


@cache
def usage_ledger() -> UsageLedger | None:
    """The jobs table's ledger inside a Lambda runtime; None elsewhere (tests inject their own)."""
    if not os.environ.get("AWS_LAMBDA_FUNCTION_NAME"):
        return None
    return DynamoDBUsageLedger(aws.client("dynamodb"), get_settings().jobs_table)


def process_age_ms() -> int:
    """How long this process has lived (its INIT, when asked at the first invocation); 0 where /proc is missing."""
    try:
        with open("/proc/self/stat") as stat:
            started_ticks = int(stat.read().rsplit(")", 1)[1].split()[19])
        with open("/proc/uptime") as uptime:
            up_s = float(uptime.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 0
    return max(0, math.ceil((up_s - started_ticks / os.sysconf("SC_CLK_TCK")) * 1000))


def job_of_ref(event: dict[str, Any]) -> str | None:
    """The job of a step's payload (`{"job": {"job_id": …}}`)."""
    job = event.get("job")
    return job.get("job_id") if isinstance(job, dict) else None


def job_of_admission(event: dict[str, Any]) -> str | None:
    """RegisterJob's: the scheduler's admission event in `event`."""
    detail = (event.get("event") or {}).get("detail") or {}
    job_id = detail.get("job_id") if isinstance(detail, dict) else None
    return job_id if isinstance(job_id, str) else None


def metered(function: str, job_of: Callable[[dict[str, Any]], str | None] = job_of_ref) -> Callable[[Handler], Handler]:
    """Meter a handler as `function` (the name its GB-s are reported under, lambdas/cost/workflow.FUNCTIONS)."""

    def decorate(handler: Handler) -> Handler:
        @wraps(handler)
        def wrapper(event: dict[str, Any], context: _Context) -> Any:
            cold = _State.cold and bool(os.environ.get("AWS_LAMBDA_FUNCTION_NAME"))
            _State.cold = False
            meter = Meter(
                function, str(context.aws_request_id), int(context.memory_limit_in_mb), process_age_ms() if cold else 0
            )
            _State.current = meter
            try:
                _hook()
                return handler(event, context)
            finally:
                _State.current = None
                _record(job_of(event) if isinstance(event, dict) else None, meter)

        return wrapper  # type: ignore[return-value]

    return decorate


def _hook() -> None:
    if not os.environ.get("AWS_LAMBDA_FUNCTION_NAME"):
        return  # outside Lambda (unit tests) the adapters are fakes: nothing to count
    try:
        _hooked()
    except Exception:  # metering never fails the invocation
        logger.warning("metering: no request counts (clients unavailable)", exc_info=True)


def _record(job_id: str | None, meter: Meter) -> None:
    if job_id is None:
        return
    try:
        ledger = usage_ledger()
        if ledger is not None:
            ledger.add(job_id, meter.invocation(extra_dynamodb_writes=1))
    except Exception:  # metering never fails the invocation
        logger.warning("metering: usage not recorded", extra={"job_id": job_id}, exc_info=True)
