"""ProbeSource: probe the upload hardened, validate it, plan ladder, chunks and thumbnails, cut the pieces.

The source is downloaded once, here. Each chunk's piece is a stream copy of the source's video from the
keyframe at or before the chunk's start to a second past its end (original timestamps kept), so a worker
reads only its piece and trims it exactly; each kept audio track is decoded out whole for its work item.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from lambdas import keys
from lambdas.cost.estimate import estimate
from lambdas.cost.plan import plan_shape
from lambdas.jobs.model import ClipMode, Clock, Job, JobStep, OutputKind, utc_now
from lambdas.jobs.ports import JobNotProcessing, JobRepository
from lambdas.media.audio_tracks import choose_audio
from lambdas.media.chunking import Shape, output_rate, plan_chunks
from lambdas.media.clip import window_media
from lambdas.media.errors import SourceUnreadable
from lambdas.media.ffmpeg_args import audio_piece_argv, first_timestamp_argv, video_piece_argv
from lambdas.media.ladder import LadderConfig, plan_ladder
from lambdas.media.policy import validate
from lambdas.media.probe import MediaInfo, probe_source
from lambdas.media.runner import RunResult
from lambdas.media.runner import run as run_ffmpeg
from lambdas.media.storyboard import SpritePlan, plan_sprite, thumbnail_times
from lambdas.pipeline.audio_files import audio_plan, validation_policy, wants_video, with_downloads
from lambdas.pipeline.clip import ClipPlan, no_chunks, planned_window, store_fast_clip
from lambdas.pipeline.config import SOURCE_NAME, JobRef, PipelineConfig
from lambdas.pipeline.errors import transient_errors
from lambdas.pipeline.job_guard import running_job, stopped, withdrawn_if_stopped
from lambdas.pipeline.plan import EncodePlan, PlannedRendition, save_json
from lambdas.pipeline.progress import PROGRESS_PROBED, ProgressWriter, step_events
from lambdas.pipeline.workspace import workspace
from lambdas.storage.ports import MediaStore

PROBE_TIMEOUT_S = 60.0
SPRITE_TILES = 100  # per sheet at most (10 x 10); a long video gets a wider interval, then more sheets
SPRITE_COLUMNS = 10
SPRITE_TILE_WIDTH = 160
PIECE_TAIL_S = 1.0  # copied past a chunk's end: the frames its last output frame may be resampled from
# Demuxers differ on where a seek lands (mpegts: often the keyframe after): back off until it is early enough.
_SEEK_MARGINS = (0.0, 2.0, 10.0, 60.0, math.inf)
_MATROSKA_TICK = 0.001  # a piece's timestamps are milliseconds


class ThumbnailPlan(BaseModel):
    model_config = ConfigDict(frozen=True)

    enabled: bool
    poster_at: float = 0.0
    times: tuple[float, ...] = ()
    sprite: SpritePlan | None = None
    # A clip's thumbnails are of its window: the times above count from it, this far into the source.
    offset_s: float = 0.0
    length_s: float | None = None  # the window's length (None: the whole source)


class ProbeRequest(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    job: JobRef


class PlanRef(BaseModel):
    """Where the plan is: the state machine's Distributed Map reads `items_key`, every worker `key`."""

    model_config = ConfigDict(frozen=True)

    bucket: str
    key: str
    items_key: str
    items: int


class ProbeResult(BaseModel):
    """The shape the state machine's ProbeSource ResultSelector reads: media, plan, thumbnails."""

    model_config = ConfigDict(frozen=True)

    media: MediaInfo
    plan: PlanRef
    thumbnails: ThumbnailPlan


def probe(
    request: ProbeRequest,
    repository: JobRepository,
    store: MediaStore,
    config: PipelineConfig,
    *,
    clock: Clock = utc_now,
    time_budget_s: float | None = None,
    run: Callable[..., RunResult] = run_ffmpeg,
) -> ProbeResult:
    job_id = request.job.job_id
    timeout = config.ffmpeg_timeout(time_budget_s)
    with transient_errors():
        job = running_job(repository, job_id)
        attempt = job.retry_count
        ProgressWriter(repository, job_id, JobStep.PROBE).overall(1)
        # A new attempt starts clean: nothing an earlier attempt left may end up in this one's outputs.
        store.delete_prefix(config.outputs_bucket, keys.output_prefix(job_id, private=job.private))
        store.delete_prefix(config.work_bucket, keys.work_prefix(job_id))
        with workspace("probe") as tmp:
            with step_events(repository, job_id, JobStep.PROBE, clock=clock):
                source = tmp / SOURCE_NAME
                store.download(job.source.bucket, job.source.key, source)
                info = probe_source(source, config.policy.format_whitelist, run, timeout=PROBE_TIMEOUT_S)
                if info.duration is not None:
                    _record_duration(repository, job_id, info.duration)
            with step_events(repository, job_id, JobStep.VALIDATE, clock=clock):
                validate(info, validation_policy(job, config.policy))
                window = planned_window(job, info)  # a clip job's range of the source; None: all of it
            # A clip is planned on its window: every offset from `media.start_time` then falls inside it.
            media = info if window is None else window_media(info, window)
            fast = window is not None and job.clip is not None and job.clip.mode is ClipMode.FAST
            with step_events(repository, job_id, JobStep.PLAN, clock=clock):
                if fast:  # one stream copy, no ladder: nothing for the workers
                    plan = EncodePlan(job_id=job_id, attempt=attempt, media=media, renditions=(), chunks=no_chunks())
                elif not wants_video(job):  # audio outputs only: one item, the default track's downloads
                    plan = audio_plan(media, job_id, attempt, job)
                else:
                    plan = encode_plan(
                        media,
                        job_id,
                        attempt,
                        job.requested_renditions,
                        config,
                        ladder=job.preset.ladder_config() if job.preset else None,
                    )
                    plan = with_downloads(plan, job)
                thumbnails = plan_thumbnails(
                    media, config.thumbnail_count, not fast and OutputKind.THUMBNAILS in job.requested_outputs
                )
                if window is not None and job.clip is not None:
                    plan = plan.model_copy(update={"clip": ClipPlan(window=window, mode=job.clip.mode)})
                    thumbnails = thumbnails.model_copy(
                        update={"offset_s": window.start_s, "length_s": window.duration_s}
                    )
            _record_estimate(repository, job, plan, thumbnails, config)
            detail = f"{len(plan.chunks.chunks)} chunks, {len(plan.chunks.items)} work items"
            if fast:
                detail = f"a stream copy of {media.duration or 0:g} s"
            with step_events(repository, job_id, JobStep.SPLIT, clock=clock, detail=detail):
                if fast and window is not None:
                    prefix = keys.output_prefix(job_id, private=job.private)
                    with withdrawn_if_stopped(repository, store, job_id, config.outputs_bucket, prefix):
                        clip = store_fast_clip(
                            source, info, job, window, store=store, config=config, tmp=tmp, run=run, timeout=timeout
                        )
                    plan = plan.model_copy(update={"clip": clip})
                else:
                    cut_pieces(source, plan, store, config, tmp, run=run, timeout=timeout)
                source.unlink()
                ref = PlanRef(
                    bucket=config.work_bucket,
                    key=keys.plan_key(job_id, attempt),
                    items_key=keys.items_key(job_id, attempt),
                    items=len(plan.chunks.items),
                )
                save_json(store, ref.bucket, ref.key, plan, tmp)
                save_json(store, ref.bucket, ref.items_key, [{"item_id": i.item_id} for i in plan.chunks.items], tmp)
        ProgressWriter(repository, job_id, JobStep.PLAN).overall(PROGRESS_PROBED)
    return ProbeResult(media=info, plan=ref, thumbnails=thumbnails)


def _record_duration(repository: JobRepository, job_id: str, duration: float) -> None:
    """The probed length on the job: what a clip of it is checked against (lambdas/api/clips.py)."""
    try:
        repository.record_source_duration(job_id, duration)
    except JobNotProcessing as error:
        raise stopped(error) from None


def _record_estimate(
    repository: JobRepository, job: Job, plan: EncodePlan, thumbnails: ThumbnailPlan, config: PipelineConfig
) -> None:
    """The plan's expected cost on the job (lambdas/cost), written before any piece is cut."""
    stills = len(thumbnails.times) if thumbnails.enabled else 0
    try:
        repository.record_cost_estimate(job.job_id, estimate(plan_shape(plan, job, stills=stills), config.cost))
    except JobNotProcessing as error:
        raise stopped(error) from None


def encode_plan(
    info: MediaInfo,
    job_id: str,
    attempt: int,
    requested: tuple[str, ...],
    config: PipelineConfig,
    *,
    ladder: LadderConfig | None = None,
) -> EncodePlan:
    """The ladder (the job's preset's; None: the deployment's default) fitted to the source, and the chunks and
    work items that encode it within the budget."""
    renditions = plan_ladder(info, requested, config.segment_seconds, ladder or config.ladder)
    planned = tuple(PlannedRendition(**dict(r), track_progress=r.name in requested) for r in renditions)
    video = info.video
    if video is None or info.duration is None:
        raise SourceUnreadable("The file's duration could not be read.")
    rate = output_rate(renditions[0].frame_rate)
    chunks = plan_chunks(
        duration_s=info.duration,
        rate=rate,
        segment_frames=renditions[0].gop_frames,
        source=Shape(name="source", width=video.display_width, height=video.display_height),
        source_rate=video.frame_rate or float(rate),
        renditions=[Shape(name=r.name, width=r.width, height=r.height) for r in renditions],
        audio=len(choose_audio(info.audio)),
        concurrency=config.transcode_concurrency,
        max_chunk_segments=config.max_chunk_segments,
        budget=config.worker,
        costs=config.costs,
        source_bytes=info.size,
        tone_mapped=video.hdr is not None,
    )
    return EncodePlan(job_id=job_id, attempt=attempt, media=info, renditions=planned, chunks=chunks)


def cut_pieces(
    source: Path,
    plan: EncodePlan,
    store: MediaStore,
    config: PipelineConfig,
    tmp: Path,
    *,
    run: Callable[..., RunResult],
    timeout: float,
) -> None:
    """Each chunk's piece and each audio track's, uploaded one by one (the disk holds the source and one piece)."""
    info, rate = plan.media, plan.chunks.rate
    # A seek counts from the file's start; a clip's media (and so every chunk) starts at its window's start.
    offset = plan.clip.window.start_s if plan.clip is not None else 0.0
    for chunk in plan.chunks.chunks:
        piece = tmp / f"piece_{chunk.index:05d}.mkv"
        start = chunk.start_s(rate)
        # The last chunk of a whole source runs to its end; a clip's ends with its window.
        last = chunk.last and plan.clip is None
        end = None if last else info.start_time + chunk.end_s(rate) + PIECE_TAIL_S
        for margin in _SEEK_MARGINS:
            seek = max(0.0, offset + start - margin)
            run(
                video_piece_argv(source, info, config.policy, piece, seek=seek, end=end),
                cwd=tmp,
                timeout=timeout,
            )
            first = _first_timestamp(piece, run)
            if seek == 0.0 or first <= info.start_time + start + _MATROSKA_TICK:
                break
        if math.isinf(first):
            # Even read from the start, nothing reaches this chunk: the file ends before its header says.
            raise SourceUnreadable(
                f"The file could not be read: it looks truncated or corrupt (it says it is {info.duration:g} s "
                f"long, but holds no picture from {start:g} s on)."
            )
        store.upload(
            piece,
            config.work_bucket,
            keys.piece_key(plan.job_id, plan.attempt, chunk.index),
            content_type="video/x-matroska",
            cache_control="no-store",
        )
        piece.unlink()
    # A clip's audio pieces hold its window and a second either side (the encode trims to the sample).
    window = {} if plan.clip is None else {"seek": max(0.0, offset - PIECE_TAIL_S), "end": _window_end(info)}
    for track in plan.audio:
        piece = tmp / f"{track.track}.mka"
        argv = audio_piece_argv(source, info, config.policy, piece, stream=track.stream, **window)
        run(argv, cwd=tmp, timeout=timeout)
        store.upload(
            piece,
            config.work_bucket,
            keys.audio_piece_key(plan.job_id, plan.attempt, track.track),
            content_type="audio/x-matroska",
            cache_control="no-store",
        )
        piece.unlink()


def _window_end(info: MediaInfo) -> float:
    return info.start_time + (info.duration or 0.0) + PIECE_TAIL_S


def _first_timestamp(piece: Path, run: Callable[..., RunResult]) -> float:
    """Where a stream copy really started: the earliest pts among its first packets (inf if none).

    A seek can land past every packet (MPEG-TS near its end): the piece then holds a header only, which
    ffprobe cannot read; that is "too late" as well, so the caller backs off further.
    """
    result = run(first_timestamp_argv(piece), cwd=piece.parent, timeout=PROBE_TIMEOUT_S, stage="probe", check=False)
    if result.returncode != 0:
        return math.inf
    times = []
    for line in result.stdout.splitlines():
        with suppress(ValueError):
            times.append(float(line.strip().strip(",")))
    return min(times) if times else math.inf


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
