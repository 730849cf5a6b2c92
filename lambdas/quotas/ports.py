"""The quota store as the API needs it; the DynamoDB adapter and the in-memory fake both implement it."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Protocol


class QuotaKind(StrEnum):
    """A quota, named as the setting that sets it (lambdas/queue/config.py)."""

    QUEUED_JOBS = "max_queued_jobs_per_user"
    UPLOADS_PER_HOUR = "max_uploads_per_hour"


class QuotaStoreUnavailable(Exception):
    """The store throttled, failed or could not be reached: the request may succeed if retried."""


class QuotaStore(Protocol):
    def take_upload(self, owner: str, now: datetime, limit: int) -> bool:
        """Count one upload in the owner's UTC hour of `now`, atomically, unless `limit` are counted already;
        False (nothing counted) when they are."""
        ...

    def waiting_jobs(self, owner: str) -> int:
        """The owner's jobs waiting (UPLOADING or QUEUED), as the store last saw them (the index behind it is
        eventually consistent: a job created a moment ago may not be counted yet)."""
        ...

    def refused(self, now: datetime, kind: QuotaKind) -> None:
        """Count one request refused by a quota, whoever made it, at `now`."""
        ...

    def refusals_since(self, since: datetime, now: datetime) -> int:
        """Requests refused by quotas from `since` to `now`, to the minute."""
        ...
