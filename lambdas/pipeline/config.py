"""What every step is configured with, and the job reference the state machine hands it."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from lambdas.cost.estimate import CostConfig
from lambdas.media.chunking import DEFAULT_COSTS, CostModel, WorkerBudget
from lambdas.media.ladder import DEFAULT_LADDER, LadderConfig
from lambdas.media.policy import ValidationPolicy

SOURCE_NAME = "source"  # the fixed local name of a download: never the uploader's extension

CACHE_MEDIA = "public, max-age=86400"
CACHE_PLAYLIST = "public, max-age=60"
CACHE_LIVE_PLAYLIST = "no-cache"  # a growing playlist, read again every target duration


class PipelineConfig(BaseModel):
    """Everything a step needs to know besides its adapters (built from `Settings` by the handlers)."""

    model_config = ConfigDict(frozen=True)

    uploads_bucket: str
    outputs_bucket: str
    playback_base_url: str = ""
    segment_seconds: Annotated[float, Field(gt=0)] = 4.0
    thumbnail_count: Annotated[int, Field(ge=0)] = 5
    policy: ValidationPolicy = ValidationPolicy()
    ladder: LadderConfig = DEFAULT_LADDER
    ffmpeg_timeout_s: Annotated[float, Field(gt=0)] = 840.0
    # Kept back from the invocation's remaining time when bounding an ffmpeg run, so a slow encode
    # ends as a readable TranscodeFailed rather than a Sandbox.Timedout.
    time_margin_s: Annotated[float, Field(ge=0)] = 20.0
    # How long a job's record is kept once it has ended (the table's TTL); see register.registration().
    retention_days: Annotated[int, Field(ge=1)] = 90
    # Segment-parallel planning: workers in flight, the longest chunk, what one worker may spend.
    transcode_concurrency: Annotated[int, Field(ge=1)] = 4
    max_chunk_segments: Annotated[int, Field(ge=1)] = 15
    worker: WorkerBudget = WorkerBudget(timeout_s=900, vcpus=1.7)
    costs: CostModel = DEFAULT_COSTS
    # How jobs are priced (lambdas/cost): the region, the architecture, each function's memory.
    cost: CostConfig = CostConfig()

    @property
    def work_bucket(self) -> str:
        """Pieces, plans and results: private, beside the sources, never served."""
        return self.uploads_bucket

    def ffmpeg_timeout(self, remaining_s: float | None) -> float:
        """Seconds one ffmpeg run may take, given the invocation's remaining time (None: unknown)."""
        if remaining_s is None:
            return self.ffmpeg_timeout_s
        return max(1.0, min(self.ffmpeg_timeout_s, remaining_s - self.time_margin_s))


class JobRef(BaseModel):
    """The job as the state machine passes it on: only its id (and execution) are trusted; the rest is read."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    job_id: str
    execution_arn: str | None = None
