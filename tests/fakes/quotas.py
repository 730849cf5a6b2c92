"""An in-memory QuotaStore for unit tests: the same counts and refusals as the DynamoDB store."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import datetime
from typing import TYPE_CHECKING

from lambdas.jobs.model import WAITING_STATUSES
from lambdas.jobs.ports import MAX_PAGE_SIZE, JobRepository
from lambdas.quotas.ports import QuotaKind
from lambdas.quotas.windows import minute_start, utc_hour

if TYPE_CHECKING:
    from lambdas.quotas.ports import QuotaStore


class InMemoryQuotaStore:
    """Waiting jobs are counted on `jobs` (the repository the API writes to), as the adapter counts them on the
    table's index. `fail_next["refused"].append(error)` makes the next call of `refused` raise `error`
    (QuotaStoreUnavailable is what the adapter raises when throttled or unreachable)."""

    def __init__(self, jobs: JobRepository) -> None:
        self._jobs = jobs
        self._lock = threading.Lock()
        self.uploads: Counter[tuple[str, str]] = Counter()  # (owner, utc hour) -> uploads counted
        self.refusals: Counter[tuple[datetime, QuotaKind]] = Counter()  # (minute, kind) -> refusals
        self.fail_next: dict[str, list[Exception]] = {}

    def _hook(self, name: str) -> None:
        failures = self.fail_next.get(name)
        if failures:
            raise failures.pop(0)

    def take_upload(self, owner: str, now: datetime, limit: int) -> bool:
        with self._lock:
            self._hook("take_upload")
            key = (owner, utc_hour(now))
            if self.uploads[key] >= limit:
                return False
            self.uploads[key] += 1
            return True

    def waiting_jobs(self, owner: str) -> int:
        with self._lock:
            self._hook("waiting_jobs")
        count = 0
        for status in sorted(WAITING_STATUSES):
            cursor: str | None = None
            while True:
                page, cursor = self._jobs.list_for_owner(owner, status, MAX_PAGE_SIZE, cursor)
                count += len(page)
                if cursor is None:
                    break
        return count

    def refused(self, now: datetime, kind: QuotaKind) -> None:
        with self._lock:
            self._hook("refused")
            self.refusals[(minute_start(now), kind)] += 1

    def refusals_since(self, since: datetime, now: datetime) -> int:
        with self._lock:
            self._hook("refusals_since")
            first, last = minute_start(since), minute_start(now)
            return sum(n for (minute, _), n in self.refusals.items() if first <= minute <= last)


if TYPE_CHECKING:

    def _implements_port(store: InMemoryQuotaStore) -> QuotaStore:
        return store
