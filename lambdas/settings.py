"""The functions' configuration: one pydantic model over the environment, read on first use."""

from __future__ import annotations

import os
from collections.abc import Mapping
from functools import cache
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from lambdas.limits import MAX_CLIP_SECONDS, MAX_DURATION_S, MAX_UPLOAD_BYTES, PRESIGN_EXPIRY_S
from lambdas.queue import config as queue
from lambdas.webhooks import config as webhooks


class Settings(BaseModel):
    """Names match the environment variables the CDK `PythonFunctions` construct sets, lower-cased."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    jobs_table: str = Field(min_length=1)
    uploads_bucket: str = Field(min_length=3)
    outputs_bucket: str = Field(min_length=3)
    playback_base_url: str = Field(min_length=1)
    job_ttl_days: int = Field(90, ge=1)
    hls_segment_seconds: float = Field(4.0, gt=0, le=10)
    thumbnail_count: int = Field(5, ge=0, le=50)
    ffmpeg_time_margin_s: float = Field(20.0, ge=0)
    # Segment-parallel planning (ProbeSource): the Map's concurrency, the longest chunk, one worker's limits.
    transcode_concurrency: int = Field(4, ge=1)
    max_chunk_segments: int = Field(15, ge=1)
    worker_timeout_s: float = Field(900, gt=0)
    worker_vcpus: float = Field(1.7, gt=0)
    # Cost per job (lambdas/cost): the region's prices (Lambda sets AWS_REGION), the heavy functions' memory.
    aws_region: str = "us-east-1"
    transcode_memory_mb: int = Field(3008, ge=128)
    lambda_architecture: Literal["x86_64", "arm64"] = "x86_64"
    # The jobs API only (set on its function by the CDK app).
    state_machine_arn: str = ""
    max_upload_bytes: int = Field(MAX_UPLOAD_BYTES, ge=1)
    max_duration_s: float = Field(MAX_DURATION_S, gt=0)
    presign_expiry_seconds: int = Field(PRESIGN_EXPIRY_S, ge=1, le=7 * 24 * 3600)
    # The queue (the scheduler and the API).
    max_running_jobs: int = Field(queue.MAX_RUNNING_JOBS, ge=1)
    max_running_jobs_per_user: int = Field(queue.MAX_RUNNING_JOBS_PER_USER, ge=1)
    priority_aging_minutes: float = Field(queue.PRIORITY_AGING_MINUTES, gt=0)
    max_queued_jobs_per_user: int = Field(queue.MAX_QUEUED_JOBS_PER_USER, ge=1)
    max_uploads_per_hour: int = Field(queue.MAX_UPLOADS_PER_HOUR, ge=1)
    start_grace_seconds: float = Field(queue.START_GRACE_SECONDS, gt=0)
    start_give_up_seconds: float = Field(queue.START_GIVE_UP_SECONDS, gt=0)
    upload_expiry_hours: float = Field(queue.UPLOAD_EXPIRY_HOURS, gt=0)
    # Where the API and the workflow tell the scheduler that a job was queued or ended (EventBridge).
    event_bus_name: str = "default"
    start_failures_queue_url: str = ""
    # Job events (lambdas/feed): the deployment's own bus, where the publisher puts every job event.
    feed_bus_name: str = ""
    # Operational metrics (lambdas/metrics, EMF): their CloudWatch namespace and the deployment's name, the `service`
    # dimension of every metric (set by stacks/constructs/monitoring.py on the functions that emit).
    metrics_namespace: str = Field("vodpipe", min_length=1)
    metrics_service: str = Field("vodpipe", min_length=1)
    # Webhooks (lambdas/webhooks): the delivery queue, egress policy, retries and limits.
    webhook_queue_url: str = ""
    webhook_allow_insecure_targets: bool = False
    webhook_retry_schedule: str = ""  # seconds between attempts, comma-separated; empty: webhooks.retry's default
    webhook_timeout_seconds: float = Field(webhooks.TIMEOUT_S, gt=0, le=30)
    webhook_disable_after_days: float = Field(webhooks.DISABLE_AFTER_DAYS, gt=0)
    max_webhooks_per_user: int = Field(webhooks.MAX_ENDPOINTS, ge=1)
    # The owner's email on completed/failed/cancelled (lambdas/notify); empty: no email is sent.
    notification_sender: str = ""
    # The deployer's own presets (lambdas/media/presets.py), as a JSON list; checked at synth by the same model.
    presets: str = ""
    # Private playback (lambdas/playback): the signer of private jobs' media URLs ("": none, private jobs are
    # refused), CloudFront's key pair (its PublicKey id, the private key's secret), the play-token key's secret,
    # the API stage's URL the /play links start with, and how long links last to start watching.
    private_url_signer: Literal["", "cloudfront", "s3"] = ""
    cloudfront_key_pair_id: str = ""
    cloudfront_private_key_secret: str = ""
    play_token_secret: str = ""
    play_base_url: str = ""
    private_url_ttl_seconds: int = Field(900, ge=10, le=24 * 3600)
    max_clip_seconds: float = Field(MAX_CLIP_SECONDS, gt=0)
    # GET /jobs/{id}?wait=S: the longest wait, under API Gateway's 29 s integration timeout.
    long_poll_max_seconds: float = Field(25, gt=0, le=27)
    # The pages that may call the API (DeploymentConfig.cors_allowed_origins), comma-separated; "*": any.
    cors_allowed_origins: str = Field("*", min_length=1)

    @property
    def cors_origins(self) -> tuple[str, ...]:
        return tuple(origin.strip() for origin in self.cors_allowed_origins.split(",") if origin.strip()) or ("*",)

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Settings:
        return cls.model_validate({name.lower(): value for name, value in environ.items()})


@cache
def get_settings() -> Settings:
    """The settings of this execution environment; tests call `get_settings.cache_clear()`."""
    return Settings.from_env(os.environ)
