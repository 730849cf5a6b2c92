"""Fault-injection rules, pure: which request a rule fails, with which of the service's own errors, and the counts.

No LocalStack import here (faults.py wires it into the gateway), so the matching is unit-tested in the project's
venv. A rule: `{service, operations[], error, rate, duration_s, max_failures, seed, functions[], internal, external}`.
"""

from __future__ import annotations

import fnmatch
import itertools
import random
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

ErrorKind = Literal["throttle", "5xx", "unavailable"]
ERROR_KINDS: tuple[ErrorKind, ...] = ("throttle", "5xx", "unavailable")
CallerKind = Literal["function", "internal", "external"]


@dataclass(frozen=True)
class Fault:
    """One error answer, as the service itself would serialize it."""

    code: str
    status: int
    message: str
    sender_fault: bool = False


# Each service's own throttling and server errors (the codes its SDK clients and botocore's retry modes know).
_THROTTLE = {
    "s3": Fault("SlowDown", 503, "Please reduce your request rate."),
    "dynamodb": Fault(
        "ProvisionedThroughputExceededException",
        400,
        "The level of configured provisioned throughput for the table was exceeded.",
        sender_fault=True,
    ),
    "lambda": Fault("TooManyRequestsException", 429, "Rate Exceeded.", sender_fault=True),
    "sqs": Fault("ThrottlingException", 400, "Rate exceeded", sender_fault=True),
}
_SERVER_ERROR = {
    "s3": Fault("InternalError", 500, "We encountered an internal error. Please try again."),
    "dynamodb": Fault("InternalServerError", 500, "Internal server error"),
    "lambda": Fault("ServiceException", 500, "An internal error occurred."),
    "events": Fault("InternalException", 500, "An internal error occurred."),
    "sqs": Fault("InternalError", 500, "We encountered an internal error. Please try again."),
}
_DEFAULT_THROTTLE = Fault("ThrottlingException", 400, "Rate exceeded", sender_fault=True)  # states, events, sts…
_DEFAULT_SERVER_ERROR = Fault("InternalFailure", 500, "The request processing has failed because of an internal error.")
_UNAVAILABLE = Fault("ServiceUnavailable", 503, "The service is unavailable. Please try again later.")


def fault_for(service: str, kind: ErrorKind) -> Fault:
    """The error `service` answers for `kind` (its service name as botocore spells it: s3, dynamodb, stepfunctions…)."""
    if kind == "throttle":
        return _THROTTLE.get(service, _DEFAULT_THROTTLE)
    if kind == "5xx":
        return _SERVER_ERROR.get(service, _DEFAULT_SERVER_ERROR)
    if service == "s3":
        return Fault("ServiceUnavailable", 503, "Service is unable to handle request.")
    return _UNAVAILABLE


@dataclass(frozen=True)
class Caller:
    """Who sent a request: a Lambda function (by name), LocalStack itself (a service integration), or anyone else."""

    kind: CallerKind
    function: str | None = None
    principal: str | None = None  # an internal call's service principal, when LocalStack names it (states, events…)

    @property
    def label(self) -> str:
        if self.function:
            return self.function
        return f"{self.kind}:{self.principal}" if self.principal else self.kind


class InvalidRule(ValueError):
    """A rule the endpoint refuses (400), with the reason."""


_FIELDS = frozenset(
    {
        "service",
        "operations",
        "error",
        "rate",
        "duration_s",
        "max_failures",
        "seed",
        "functions",
        "internal",
        "external",
        "name",
    }
)


@dataclass
class Rule:
    """One fault rule and what it has done so far. Matching requests fail with probability `rate`."""

    id: str
    service: str
    operations: tuple[str, ...]
    error: ErrorKind
    rate: float
    duration_s: float | None
    started_at: float
    functions: tuple[str, ...] | None = None  # fnmatch patterns on the calling function's name; None: every
    # function, (): none (a rule for internal or external callers only)
    internal: bool = False  # LocalStack's own calls too (Step Functions' service integrations, API Gateway → Lambda)
    external: bool = False  # callers that are not functions (tests, the CLI): off, so a test's own reads pass
    seed: int | None = None
    max_failures: int | None = None  # the rule stops failing (still counts) after this many failures
    name: str = ""
    matched: int = 0
    failed: int = 0
    by_caller: dict[str, dict[str, list[int]]] = field(default_factory=dict)  # label -> operation -> [matched, failed]
    _random: random.Random = field(default_factory=random.Random, repr=False)

    @classmethod
    def parse(cls, body: Mapping[str, Any], *, rule_id: str, now: float) -> Rule:
        unknown = set(body) - _FIELDS
        if unknown:
            raise InvalidRule(f"unknown fields: {', '.join(sorted(unknown))}")
        service = body.get("service")
        if not isinstance(service, str) or not service:
            raise InvalidRule("service: required, a service name as botocore spells it (s3, dynamodb, stepfunctions)")
        operations = _strings(body.get("operations", []), "operations")
        error = body.get("error", "throttle")
        if error not in ERROR_KINDS:
            raise InvalidRule(f"error: one of {', '.join(ERROR_KINDS)}")
        rate = _number(body.get("rate", 1.0), "rate")
        if not 0.0 <= rate <= 1.0:
            raise InvalidRule("rate: between 0 and 1")
        duration = body.get("duration_s")
        if duration is not None and _number(duration, "duration_s") <= 0:
            raise InvalidRule("duration_s: positive, or absent for until cleared")
        max_failures = body.get("max_failures")
        if max_failures is not None and (not isinstance(max_failures, int) or isinstance(max_failures, bool)):
            raise InvalidRule("max_failures: an integer")
        if max_failures is not None and max_failures < 1:
            raise InvalidRule("max_failures: at least 1, or absent for no limit")
        seed = body.get("seed")
        if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool)):
            raise InvalidRule("seed: an integer")
        internal, external = body.get("internal", False), body.get("external", False)
        if not isinstance(internal, bool) or not isinstance(external, bool):
            raise InvalidRule("internal, external: true or false")
        return cls(
            id=rule_id,
            service=service,
            operations=tuple(operations),
            error=error,
            rate=rate,
            duration_s=None if duration is None else float(duration),
            started_at=now,
            functions=None if body.get("functions") is None else tuple(_strings(body["functions"], "functions")),
            seed=seed,
            max_failures=max_failures,
            name=str(body.get("name", "")),
            internal=internal,
            external=external,
            _random=random.Random(seed),  # noqa: S311  # a fault schedule, not a secret
        )

    def active(self, now: float) -> bool:
        return self.duration_s is None or now < self.started_at + self.duration_s

    def matches(self, service: str, operation: str, caller: Caller) -> bool:
        if service != self.service or (self.operations and operation not in self.operations):
            return False
        if caller.kind == "internal":
            return self.internal
        if caller.kind == "external":
            return self.external
        if self.functions is None:
            return True
        return any(fnmatch.fnmatchcase(caller.function or "", pattern) for pattern in self.functions)

    def draw(self, operation: str, caller: Caller) -> bool:
        """Count one matching request; True when it is to fail."""
        fail = self.rate >= 1.0 or (self.rate > 0.0 and self._random.random() < self.rate)
        if self.max_failures is not None and self.failed >= self.max_failures:
            fail = False
        counts = self.by_caller.setdefault(caller.label, {}).setdefault(operation, [0, 0])
        self.matched += 1
        counts[0] += 1
        if fail:
            self.failed += 1
            counts[1] += 1
        return fail

    def describe(self, now: float) -> dict[str, Any]:
        left = None if self.duration_s is None else max(0.0, self.started_at + self.duration_s - now)
        return {
            "id": self.id,
            "name": self.name,
            "service": self.service,
            "operations": list(self.operations),
            "error": self.error,
            "rate": self.rate,
            "duration_s": self.duration_s,
            "seed": self.seed,
            "max_failures": self.max_failures,
            "functions": None if self.functions is None else list(self.functions),
            "internal": self.internal,
            "external": self.external,
            "active": self.active(now),
            "seconds_left": left,
            "matched": self.matched,
            "failed": self.failed,
            "by_caller": {
                label: {op: {"matched": c[0], "failed": c[1]} for op, c in ops.items()}
                for label, ops in self.by_caller.items()
            },
        }


class RuleBook:
    """The rules in force, thread-safe. A request is decided by the first active rule that matches it."""

    def __init__(self) -> None:
        self._rules: list[Rule] = []
        self._lock = threading.Lock()
        self._ids = itertools.count(1)

    def __bool__(self) -> bool:
        return bool(self._rules)  # unlocked on purpose: the gateway's fast path when no rule exists

    def add(self, bodies: Sequence[Mapping[str, Any]], now: float) -> list[Rule]:
        with self._lock:
            rules = [Rule.parse(body, rule_id=f"r{next(self._ids)}", now=now) for body in bodies]
            self._rules.extend(rules)
            return rules

    def clear(self) -> list[Rule]:
        with self._lock:
            gone, self._rules = self._rules, []
            return gone

    def snapshot(self) -> list[Rule]:
        with self._lock:
            return list(self._rules)

    def decide(self, service: str, operation: str, caller: Caller, now: float) -> Fault | None:
        with self._lock:
            for rule in self._rules:
                if rule.active(now) and rule.matches(service, operation, caller):
                    return fault_for(service, rule.error) if rule.draw(operation, caller) else None
        return None


def parse_rules(body: Any) -> list[Mapping[str, Any]]:
    """The endpoint's body: one rule, `{"rules": [...]}`, or a list of rules."""
    if isinstance(body, Mapping) and "rules" in body:
        body = body["rules"]
    if isinstance(body, Mapping):
        return [body]
    if isinstance(body, list) and body and all(isinstance(rule, Mapping) for rule in body):
        return body
    raise InvalidRule('the body: a rule object, a list of rules or {"rules": [...]}')


def function_from_assumed_role(arn: str | None) -> str | None:
    """`arn:aws:sts::000000000000:assumed-role/{role}/{session}` -> the session name (Lambda names it after the
    function); None for anything else."""
    if not arn or ":assumed-role/" not in arn:
        return None
    parts = arn.split("/")
    return parts[2] if len(parts) >= 3 and parts[2] else None


def _strings(value: Any, name: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise InvalidRule(f"{name}: a list of names")
    return list(value)


def _number(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidRule(f"{name}: a number")
    return float(value)
