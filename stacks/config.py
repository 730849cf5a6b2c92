"""Deploy-time settings, read once from CDK context (cdk.json or `-c key=value`)."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field

ROOT = Path(__file__).resolve().parents[1]


class PipelineConfig(BaseModel):
    """What an operator may tune per deployment; defaults suit a small team."""

    project: str = "vodpipe"
    transcode_concurrency: int = Field(4, ge=1, le=40, description="Map MaxConcurrency over renditions")
    transcode_memory_mb: int = Field(3008, ge=1024, le=10240)
    transcode_timeout_s: int = Field(900, ge=60, le=900)
    transcode_ephemeral_mb: int = Field(4096, ge=512, le=10240)
    max_upload_bytes: int = Field(5 * 2**30, ge=1)
    presign_expiry_s: int = Field(900, ge=60, le=3600)
    job_ttl_days: int = Field(90, ge=1)
    log_retention_days: int = 30
    # Where no CloudFront exists (LocalStack), players read outputs from this S3 endpoint, path-style.
    playback_s3_endpoint: str | None = None

    @classmethod
    def from_context(cls, raw: object) -> PipelineConfig:
        return cls.model_validate(raw or {})
