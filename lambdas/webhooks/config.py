"""The webhooks' settings: egress, the retry schedule, the timeout, when failing endpoints are disabled, how many."""

from __future__ import annotations

from datetime import timedelta

from pydantic import BaseModel, ConfigDict, Field, field_validator

from lambdas.webhooks.egress import EgressPolicy
from lambdas.webhooks.retry import DEFAULT_SCHEDULE, max_attempts

# Defaults, shared by the CDK app's DeploymentConfig and the functions' Settings.
TIMEOUT_S = 10.0
DISABLE_AFTER_DAYS = 5.0
MAX_ENDPOINTS = 20


class WebhookConfig(BaseModel):
    model_config = ConfigDict(frozen=True)

    # http and any address, loopback and private ones included: local deployments only.
    allow_insecure_targets: bool = False
    # Seconds after the previous attempt (lambdas/webhooks/retry.py): one more attempt than delays.
    retry_schedule: tuple[float, ...] = DEFAULT_SCHEDULE
    timeout_s: float = Field(TIMEOUT_S, gt=0, le=60)
    # An endpoint with no success since its first failure this long ago is disabled on its next failure.
    disable_after_days: float = Field(DISABLE_AFTER_DAYS, gt=0)
    max_endpoints: int = Field(MAX_ENDPOINTS, ge=1)

    @field_validator("retry_schedule")
    @classmethod
    def _positive_delays(cls, schedule: tuple[float, ...]) -> tuple[float, ...]:
        if any(delay <= 0 for delay in schedule):
            raise ValueError(f"retry delays are positive seconds, not {schedule}")
        return schedule

    @property
    def egress(self) -> EgressPolicy:
        return EgressPolicy(allow_insecure=self.allow_insecure_targets)

    @property
    def max_attempts(self) -> int:
        return max_attempts(self.retry_schedule)

    @property
    def disable_after(self) -> timedelta:
        return timedelta(days=self.disable_after_days)
