"""The quotas on new uploads: a user's waiting jobs (max_queued_jobs_per_user) and uploads per UTC hour
(max_uploads_per_hour); every refusal is counted for the operators."""

from __future__ import annotations

from contextlib import suppress
from datetime import datetime

from lambdas.queue.config import QueueConfig
from lambdas.quotas.ports import QuotaKind, QuotaStore, QuotaStoreUnavailable
from lambdas.quotas.windows import HOUR, hour_start, seconds_to_next_hour

# A full queue drains as jobs start: worth asking again soon, not at once.
QUEUED_RETRY_AFTER_S = 30


class QuotaExceeded(Exception):
    """A quota refuses the request: `retry_after_s` says when asking again may succeed."""

    def __init__(self, kind: QuotaKind, limit: int, message: str, retry_after_s: int) -> None:
        super().__init__(message)
        self.kind, self.limit, self.message, self.retry_after_s = kind, limit, message, retry_after_s


class Quotas:
    def __init__(self, store: QuotaStore, config: QueueConfig) -> None:
        self._store, self._config = store, config

    def admit_upload(self, owner: str, now: datetime) -> None:
        """Count a new upload of `owner`, or raise QuotaExceeded (nothing counted) naming the quota reached.

        The waiting jobs are checked against the stored count, which is read, not reserved: concurrent
        requests of one user may all pass it, leaving the user a few jobs over max_queued_jobs_per_user (the
        next request is refused). The hourly count is exact: each upload is taken atomically. An upload
        counted here whose creation then fails (an outage) stays counted for the hour.
        QuotaStoreUnavailable passes through.
        """
        waiting, most = self._store.waiting_jobs(owner), self._config.max_queued_jobs_per_user
        if waiting >= most:
            raise self._refused(
                now,
                QuotaKind.QUEUED_JOBS,
                most,
                f"you have {waiting} jobs waiting and {QuotaKind.QUEUED_JOBS} is {most}: "
                "wait for some to start, then try again",
                QUEUED_RETRY_AFTER_S,
            )
        hourly = self._config.max_uploads_per_hour
        if not self._store.take_upload(owner, now, hourly):
            retry = seconds_to_next_hour(now)
            next_hour = (hour_start(now) + HOUR).strftime("%H:%M")
            raise self._refused(
                now,
                QuotaKind.UPLOADS_PER_HOUR,
                hourly,
                f"you have created {hourly} uploads this hour, the most {QuotaKind.UPLOADS_PER_HOUR} allows: "
                f"try again in {retry} s (at {next_hour} UTC)",
                retry,
            )

    def _refused(self, now: datetime, kind: QuotaKind, limit: int, message: str, retry: int) -> QuotaExceeded:
        # Counting is for the operators' figures: a refusal is answered even if it cannot be counted.
        with suppress(QuotaStoreUnavailable):
            self._store.refused(now, kind)
        return QuotaExceeded(kind, limit, message, retry)
