"""A typed client of the local runtime's fault-injection endpoint (`/_vodpipe/faults`, localruntime/…/faults.py)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Literal, Self

import httpx
from pydantic import BaseModel, ConfigDict, Field

PATH = "/_vodpipe/faults"
ErrorKind = Literal["throttle", "5xx", "unavailable"]


class FaultRule(BaseModel):
    """What to fail: `service`'s `operations` (all when empty) answer `error` with probability `rate` (0: only
    count), for `duration_s` seconds (until cleared when None), when called by a function matching `functions`
    (fnmatch patterns on its name; None: any function, (): none), by LocalStack itself (`internal`: Step Functions'
    service integrations, API Gateway and event sources invoking Lambda), or by anyone else (`external`: tests, the
    CLI, presigned URLs; off so a test's own reads are never failed)."""

    model_config = ConfigDict(frozen=True)

    service: str
    operations: tuple[str, ...] = ()
    error: ErrorKind = "throttle"
    rate: float = Field(default=1.0, ge=0.0, le=1.0)
    duration_s: float | None = Field(default=None, gt=0)
    max_failures: int | None = Field(default=None, ge=1)  # stop failing after this many (the first N fail at rate 1)
    seed: int | None = None
    functions: tuple[str, ...] | None = None
    internal: bool = False
    external: bool = False
    name: str = ""


class Counts(BaseModel):
    model_config = ConfigDict(frozen=True)

    matched: int
    failed: int


class RuleState(FaultRule):
    """A rule as the endpoint reports it: whether it still applies and what it did, per caller and operation."""

    id: str
    active: bool
    seconds_left: float | None
    matched: int
    failed: int
    by_caller: dict[str, dict[str, Counts]] = Field(default_factory=dict)

    def failed_in(self, caller_pattern: str) -> dict[str, int]:
        """Failures per operation for the callers whose label contains `caller_pattern` (e.g. "ProbeSource")."""
        totals: dict[str, int] = {}
        for caller, operations in self.by_caller.items():
            if caller_pattern in caller:
                for operation, counts in operations.items():
                    totals[operation] = totals.get(operation, 0) + counts.failed
        return totals


class FaultInjector:
    """`FaultInjector(endpoint)`: add rules, read their counts, clear them (`with injector.injected(rule): …`)."""

    def __init__(self, endpoint: str, *, timeout: float = 10.0) -> None:
        self._http = httpx.Client(base_url=endpoint.rstrip("/"), timeout=timeout)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def add(self, *rules: FaultRule) -> list[RuleState]:
        body = {"rules": [rule.model_dump(mode="json") for rule in rules]}
        return _states(self._checked(self._http.post(PATH, json=body)))

    def rules(self) -> list[RuleState]:
        return _states(self._checked(self._http.get(PATH)))

    def rule(self, rule_id: str) -> RuleState:
        (found,) = [rule for rule in self.rules() if rule.id == rule_id]
        return found

    def clear(self) -> list[RuleState]:
        """Remove every rule; answers them with their final counts."""
        return _states(self._checked(self._http.delete(PATH)))

    @contextmanager
    def injected(self, *rules: FaultRule) -> Iterator[list[RuleState]]:
        """The rules in force inside the block (their states as added); every rule cleared after it."""
        try:
            yield self.add(*rules)
        finally:
            self.clear()

    @staticmethod
    def _checked(response: httpx.Response) -> Any:
        if response.status_code == httpx.codes.NOT_FOUND:
            raise RuntimeError(f"no fault-injection endpoint at {response.url}: is the localruntime plugin installed?")
        if response.is_error:
            raise ValueError(f"fault rules refused ({response.status_code}): {response.text}")
        return response.json()


def _states(document: Any) -> list[RuleState]:
    rules: Sequence[Any] = document["rules"]
    return [RuleState.model_validate(rule) for rule in rules]
