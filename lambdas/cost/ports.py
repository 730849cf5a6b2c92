"""Where each invocation's usage is recorded: on its job (the DynamoDB adapter) or in memory (tests)."""

from __future__ import annotations

from typing import Protocol

from lambdas.cost.usage import Invocation


class UsageLedger(Protocol):
    def add(self, job_id: str, invocation: Invocation) -> None:
        """Record one invocation on the job (idempotent per request id); nothing if the job does not exist."""
        ...

    def invocations(self, job_id: str) -> tuple[Invocation, ...]:
        """Every invocation recorded on the job so far (none for an unknown job)."""
        ...
