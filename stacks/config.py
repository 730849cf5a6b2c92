"""Deploy-time settings, read once from CDK context (cdk.json or `-c key=value`)."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field

ROOT = Path(__file__).resolve().parents[1]
MB_PER_VCPU = 1769  # Lambda: CPU share scales with memory, one full vCPU at 1,769 MB


class PipelineConfig(BaseModel):
    """What an operator may tune per deployment; defaults suit a small team."""

    project: str = "vodpipe"
    transcode_concurrency: int = Field(
        4, ge=1, le=10_000, description="Distributed Map MaxConcurrency over work items (chunks x renditions)"
    )
    transcode_memory_mb: int = Field(3008, ge=1024, le=10240)
    transcode_timeout_s: int = Field(900, ge=10, le=900)
    transcode_ephemeral_mb: int = Field(10240, ge=512, le=10240)
    segment_seconds: float = Field(4.0, gt=0, le=10, description="CMAF segment length (HLS and DASH)")
    max_chunk_segments: int = Field(15, ge=1, le=1000, description="longest chunk one work item encodes")
    # The CPUs one worker is planned with; default: what its memory buys on Lambda. Set it where the
    # functions share fewer cores than that (the local runtime: cores / concurrency).
    worker_vcpus: float | None = Field(None, gt=0, le=6)
    max_upload_bytes: int = Field(5 * 2**30, ge=1)
    max_duration_s: float = Field(2 * 3600, gt=0)
    presign_expiry_s: int = Field(900, ge=60, le=3600)
    job_ttl_days: int = Field(90, ge=1)
    log_retention_days: int = 30
    # Where no CloudFront exists (LocalStack), players read outputs from this S3 endpoint, path-style.
    playback_s3_endpoint: str | None = None

    @classmethod
    def from_context(cls, raw: object) -> PipelineConfig:
        return cls.model_validate(raw or {})

    @property
    def vcpus(self) -> float:
        return self.worker_vcpus or min(6.0, self.transcode_memory_mb / MB_PER_VCPU)
