"""ProbeSource: download the upload, probe it hardened, validate it and plan renditions and thumbnails."""

from __future__ import annotations

import math
from collections.abc import Callable

from pydantic import BaseModel, ConfigDict

from lambdas.jobs.model import JobStep, OutputKind, utc_now
from lambdas.jobs.ports import JobRepository
from lambdas.media.ffmpeg_args import SpritePlan, plan_sprite, thumbnail_times
from lambdas.media.ladder import Rendition, plan_ladder
from lambdas.media.policy import validate
from lambdas.media.probe import MediaInfo, probe_source
from lambdas.media.runner import RunResult
from lambdas.pipeline.common import (
    PROGRESS_PROBED,
    SOURCE_NAME,
    Clock,
    JobRef,
    PipelineConfig,
    ProgressWriter,
    running_job,
    step_events,
    workspace,
)
from lambdas.pipeline.errors import transient_errors
from lambdas.storage.ports import MediaStore

PROBE_TIMEOUT_S = 60.0
SPRITE_TILES = 100  # per sheet at most (10 x 10); a long video gets a wider interval, then more sheets
SPRITE_COLUMNS = 10
SPRITE_TILE_WIDTH = 160


class PlannedRendition(Rendition):
    """One rendition to encode, with what the transcode step needs to report progress for the job."""

    ladder: tuple[str, ...]  # every rendition planned for this job, largest first
    track_progress: bool  # False when the job did not request this name (a fitted rung): overall only


class ThumbnailPlan(BaseModel):
    model_config = ConfigDict(frozen=True)

    enabled: bool
    poster_at: float = 0.0
    times: tuple[float, ...] = ()
    sprite: SpritePlan | None = None


class ProbeRequest(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    job: JobRef


class ProbeResult(BaseModel):
    """The shape the state machine's ProbeSource ResultSelector reads: media, renditions, thumbnails."""

    model_config = ConfigDict(frozen=True)

    media: MediaInfo
    renditions: tuple[PlannedRendition, ...]
    thumbnails: ThumbnailPlan


def probe(
    request: ProbeRequest,
    repository: JobRepository,
    store: MediaStore,
    config: PipelineConfig,
    *,
    clock: Clock = utc_now,
    run: Callable[..., RunResult] | None = None,
) -> ProbeResult:
    job_id = request.job.job_id
    with transient_errors():
        job = running_job(repository, job_id)
        progress = ProgressWriter(repository, job_id, JobStep.PROBE)
        progress.overall(1)
        with step_events(repository, job_id, JobStep.PROBE, clock=clock), workspace("probe") as tmp:
            source = tmp / SOURCE_NAME
            store.download(job.source.bucket, job.source.key, source)
            info = probe_source(source, config.policy, run, timeout=PROBE_TIMEOUT_S)
        with step_events(repository, job_id, JobStep.VALIDATE, clock=clock):
            validate(info, config.policy)
        with step_events(repository, job_id, JobStep.PLAN, clock=clock):
            renditions = plan_ladder(info, job.requested_renditions, config.segment_seconds, config.ladder)
            ladder = tuple(r.name for r in renditions)
            planned = tuple(
                PlannedRendition(**dict(r), ladder=ladder, track_progress=r.name in job.requested_renditions)
                for r in renditions
            )
            thumbnails = plan_thumbnails(info, config.thumbnail_count, OutputKind.THUMBNAILS in job.requested_outputs)
        ProgressWriter(repository, job_id, JobStep.PLAN).overall(PROGRESS_PROBED)
    return ProbeResult(media=info, renditions=planned, thumbnails=thumbnails)


def plan_thumbnails(info: MediaInfo, count: int, enabled: bool) -> ThumbnailPlan:
    """A poster a tenth in (past black openings, at most 30 s), `count` stills and a storyboard."""
    if not enabled:
        return ThumbnailPlan(enabled=False)
    duration = info.duration or 0.0
    interval = round(min(10.0, max(1.0, duration / SPRITE_TILES)), 1)
    # A tenth of a tile of overshoot (AAC priming makes a 10 s file 10.02 s long) gets no tile of its own.
    tiles = max(1, math.ceil(duration / interval - 0.1))
    columns = min(SPRITE_COLUMNS, tiles)
    rows = min(SPRITE_TILES // SPRITE_COLUMNS, math.ceil(tiles / columns))
    sprite = plan_sprite(info, interval=interval, columns=columns, rows=rows, tile_width=SPRITE_TILE_WIDTH)
    return ThumbnailPlan(
        enabled=True,
        poster_at=round(min(duration * 0.1, 30.0), 3),
        times=tuple(thumbnail_times(duration, count)),
        sprite=sprite.model_copy(update={"count": tiles}),
    )
