"""What the API services need to know besides their adapters (built from `Settings` by the wiring)."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from lambdas.limits import MAX_CLIP_SECONDS, MAX_UPLOAD_BYTES, PRESIGN_EXPIRY_S
from lambdas.media.presets import Preset, PresetCatalog
from lambdas.queue.config import QueueConfig


class ApiConfig(BaseModel):
    model_config = ConfigDict(frozen=True)

    uploads_bucket: str
    outputs_bucket: str
    max_upload_bytes: Annotated[int, Field(ge=1)] = MAX_UPLOAD_BYTES
    presign_expiry_seconds: Annotated[int, Field(ge=1)] = PRESIGN_EXPIRY_S
    queue: QueueConfig = QueueConfig()
    # GET /jobs/{id}?wait=S answers after at most this long (API Gateway gives up at 29 s).
    long_poll_max_seconds: Annotated[float, Field(gt=0, le=27)] = 25
    long_poll_interval_seconds: Annotated[float, Field(gt=0)] = 0.25
    max_clip_seconds: Annotated[float, Field(gt=0)] = MAX_CLIP_SECONDS
    # The deployer's presets (the CDK context's `presets`), offered beside the built-in ones.
    presets: tuple[Preset, ...] = ()
    # Whether private jobs can be made: the deployment has a key to sign their URLs with.
    private_playback: bool = False

    def catalog(self) -> PresetCatalog:
        return PresetCatalog(self.presets)
