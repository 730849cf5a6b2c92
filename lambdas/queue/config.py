"""The queue's settings: admission limits, aging, quotas, repair delays (one deployment's, from its settings)."""

from __future__ import annotations

from datetime import timedelta

from pydantic import BaseModel, ConfigDict, Field

# Defaults, shared by the CDK app's DeploymentConfig and the functions' Settings.
MAX_RUNNING_JOBS = 4
MAX_RUNNING_JOBS_PER_USER = 2
PRIORITY_AGING_MINUTES = 30.0
MAX_QUEUED_JOBS_PER_USER = 100
MAX_UPLOADS_PER_HOUR = 60
# An admitted job's execution must have started by then, or the tick starts it again.
START_GRACE_SECONDS = 120
# An admitted job whose execution still could not be started after this long is FAILED (retryable).
START_GIVE_UP_SECONDS = 1800
# An upload not completed within this long after its job was created is aborted by the tick.
UPLOAD_EXPIRY_HOURS = 24


class QueueConfig(BaseModel):
    model_config = ConfigDict(frozen=True)

    max_running_jobs: int = Field(MAX_RUNNING_JOBS, ge=1)
    max_running_jobs_per_user: int = Field(MAX_RUNNING_JOBS_PER_USER, ge=1)
    priority_aging_minutes: float = Field(PRIORITY_AGING_MINUTES, gt=0)
    max_queued_jobs_per_user: int = Field(MAX_QUEUED_JOBS_PER_USER, ge=1)
    max_uploads_per_hour: int = Field(MAX_UPLOADS_PER_HOUR, ge=1)
    start_grace_seconds: float = Field(START_GRACE_SECONDS, gt=0)
    start_give_up_seconds: float = Field(START_GIVE_UP_SECONDS, gt=0)
    upload_expiry_hours: float = Field(UPLOAD_EXPIRY_HOURS, gt=0)

    @property
    def aging(self) -> timedelta:
        return timedelta(minutes=self.priority_aging_minutes)

    @property
    def start_grace(self) -> timedelta:
        return timedelta(seconds=self.start_grace_seconds)

    @property
    def start_give_up(self) -> timedelta:
        return timedelta(seconds=self.start_give_up_seconds)

    @property
    def upload_expiry(self) -> timedelta:
        return timedelta(hours=self.upload_expiry_hours)
