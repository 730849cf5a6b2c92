"""An in-memory UsageLedger: the job's usage set, as the DynamoDB adapter keeps it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lambdas.cost.usage import Invocation

if TYPE_CHECKING:
    from lambdas.cost.ports import UsageLedger


class InMemoryUsageLedger:
    def __init__(self, jobs: set[str] | None = None) -> None:
        self.jobs = jobs  # None: every job exists
        self.records: dict[str, set[str]] = {}

    def add(self, job_id: str, invocation: Invocation) -> None:
        if self.jobs is None or job_id in self.jobs:
            self.records.setdefault(job_id, set()).add(invocation.encode())

    def invocations(self, job_id: str) -> tuple[Invocation, ...]:
        decoded = (Invocation.decode(text) for text in self.records.get(job_id, ()))
        return tuple(sorted(decoded, key=lambda i: i.request_id))


if TYPE_CHECKING:

    def _implements_port(ledger: InMemoryUsageLedger) -> UsageLedger:
        return ledger
