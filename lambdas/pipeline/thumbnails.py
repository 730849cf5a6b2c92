"""MakeThumbnails: a poster, N stills and a sprite-sheet storyboard (WebVTT) under outputs/{job}/thumbnails/.

Extras never sink the job: a part that fails is left out and named in `warnings`, and if the whole step
fails, the state machine's Catch hands PackageOutputs a `failure` instead of failing the job.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from lambdas import keys
from lambdas.jobs.items import error_message_from_cause
from lambdas.jobs.model import Clock, JobStep, utc_now
from lambdas.jobs.ports import JobRepository
from lambdas.media.errors import MediaError, TranscodeFailed
from lambdas.media.ffmpeg_args import poster_argv, sprite_argv, thumbnails_argv
from lambdas.media.policy import ValidationPolicy
from lambdas.media.probe import MediaInfo
from lambdas.media.runner import RunResult
from lambdas.media.runner import run as run_ffmpeg
from lambdas.media.storyboard import SpritePlan, storyboard_vtt
from lambdas.pipeline.config import CACHE_MEDIA, SOURCE_NAME, JobRef, PipelineConfig
from lambdas.pipeline.errors import transient_errors
from lambdas.pipeline.job_guard import running_job, withdrawn_if_stopped
from lambdas.pipeline.probe import ThumbnailPlan
from lambdas.pipeline.progress import step_events
from lambdas.pipeline.workspace import workspace
from lambdas.storage.ports import MediaStore

POSTER = "poster.jpg"
STORYBOARD = "storyboard.vtt"


class ThumbnailsRequest(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    job: JobRef
    media: MediaInfo
    thumbnails: ThumbnailPlan


class StoredFile(BaseModel):
    model_config = ConfigDict(frozen=True)

    key: str
    size_bytes: int


class StepFailure(BaseModel):
    """A Step Functions Catch's error output, as the state machine passes it on ({"Error", "Cause"})."""

    model_config = ConfigDict(frozen=True, populate_by_name=True)

    error: str = Field(alias="Error")
    cause: str = Field(default="", alias="Cause")


class ThumbnailsResult(BaseModel):
    model_config = ConfigDict(frozen=True)

    enabled: bool
    warnings: tuple[str, ...] = ()
    failure: StepFailure | None = None  # the whole step failed (set by the state machine's Catch)
    poster: StoredFile | None = None
    stills: tuple[StoredFile, ...] = ()
    sprites: tuple[StoredFile, ...] = ()
    storyboard: StoredFile | None = None
    tile_width: int = 0
    tile_height: int = 0
    columns: int = 0
    rows: int = 0
    interval_s: float = 0.0
    seconds: float = 0.0

    @property
    def all_warnings(self) -> tuple[str, ...]:
        """What is missing and why, for the job: the parts that failed, or the step as a whole."""
        if self.failure is None:
            return self.warnings
        reason = error_message_from_cause(self.failure.cause) if self.failure.cause else self.failure.error
        return (*self.warnings, f"Thumbnails, stills and storyboard are missing: {reason}")

    @property
    def files(self) -> tuple[StoredFile, ...]:
        extra = tuple(f for f in (self.poster, self.storyboard) if f is not None)
        return (*extra, *self.stills, *self.sprites)


def thumbnails_prefix(job_id: str, *, private: bool = False) -> str:
    return keys.thumbnails_prefix(job_id, private=private)


def make_thumbnails(
    request: ThumbnailsRequest,
    repository: JobRepository,
    store: MediaStore,
    config: PipelineConfig,
    *,
    clock: Clock = utc_now,
    time_budget_s: float | None = None,
    run: Callable[..., RunResult] = run_ffmpeg,
) -> ThumbnailsResult:
    plan, info, job_id = request.thumbnails, request.media, request.job.job_id
    if not plan.enabled or plan.sprite is None:
        return ThumbnailsResult(enabled=False)
    timeout = config.ffmpeg_timeout(time_budget_s)
    started = time.monotonic()
    with transient_errors():
        job = running_job(repository, job_id)
        with step_events(repository, job_id, JobStep.THUMBNAILS, clock=clock), workspace("thumbnails") as tmp:
            source = tmp / SOURCE_NAME
            store.download(job.source.bucket, job.source.key, source)
            out = tmp / "out"
            out.mkdir()
            policy = config.policy
            warnings: list[str] = []

            def attempt(part: str, make: Callable[[], object], expected: tuple[Path, ...] = ()) -> bool:
                """Run one part; a media failure, or a run that wrote nothing, is a warning, not a failure."""
                try:
                    make()
                except MediaError as error:  # a media failure of this part only; the others still run
                    warnings.append(f"{part} missing: {error}")
                    return False
                missing = [path.name for path in expected if not path.is_file()]
                if missing:  # ffmpeg exits 0 with "Output file is empty" when a seek lands past every frame
                    warnings.append(f"{part} missing: ffmpeg wrote no picture for {', '.join(missing)}.")
                    return False
                return True

            def poster(at: float) -> None:
                run(poster_argv(source, info, policy, out / POSTER, at=plan.offset_s + at), cwd=tmp, timeout=timeout)

            # A seek near the end of some files (MPEG-TS) finds no frame: the first frame is a poster too.
            posted = attempt("Poster", lambda: poster(plan.poster_at), (out / POSTER,))
            if not posted and plan.poster_at > 0 and attempt("Poster", lambda: poster(0.0), (out / POSTER,)):
                warnings.pop()  # the first try's warning: the poster is there after all
            times = [plan.offset_s + t for t in plan.times]  # in the source (a clip's: inside its window)
            if plan.times:
                stills = tuple(out / f"thumb_{i:05d}.jpg" for i in range(len(plan.times)))
                attempt(
                    "Stills",
                    lambda: run(thumbnails_argv(source, info, policy, out, times), cwd=tmp, timeout=timeout),
                    stills,
                )
            sheets: list[Path] = []

            def storyboard() -> None:
                sheets.extend(
                    _sprite(
                        run,
                        source,
                        info,
                        policy=policy,
                        plan=sprite_plan,
                        out=out,
                        cwd=tmp,
                        timeout=timeout,
                        window=window,
                    )
                )

            sprite_plan = plan.sprite
            window = (plan.offset_s, plan.length_s) if plan.length_s is not None else None
            sprite = sprite_plan
            if attempt("Storyboard", storyboard):
                if len(sheets) < sprite.sheets:  # the last sheet had no frame left: its cues go too
                    sprite = sprite.model_copy(update={"count": len(sheets) * sprite.per_sheet})
                (out / STORYBOARD).write_text(storyboard_vtt(sprite, plan.length_s or info.duration or sprite.interval))
            prefix = thumbnails_prefix(job_id, private=job.private)

            def put(path: Path, content_type: str) -> StoredFile:
                stored = store.upload(
                    path,
                    config.outputs_bucket,
                    prefix + path.name,
                    content_type=content_type,
                    cache_control=CACHE_MEDIA,
                )
                return StoredFile(key=stored.key, size_bytes=stored.size)

            def put_if(path: Path, content_type: str) -> StoredFile | None:
                return put(path, content_type) if path.is_file() else None

            with withdrawn_if_stopped(repository, store, job_id, config.outputs_bucket, prefix):
                result = ThumbnailsResult(
                    enabled=True,
                    warnings=tuple(warnings),
                    poster=put_if(out / POSTER, "image/jpeg"),
                    stills=tuple(put(p, "image/jpeg") for p in sorted(out.glob("thumb_*.jpg"))),
                    sprites=tuple(put(p, "image/jpeg") for p in sheets),
                    storyboard=put_if(out / STORYBOARD, "text/vtt"),
                    tile_width=sprite.tile_width,
                    tile_height=sprite.tile_height,
                    columns=sprite.columns,
                    rows=sprite.rows,
                    interval_s=sprite.interval,
                )
    return result.model_copy(update={"seconds": round(time.monotonic() - started, 3)})


def _sprite(
    run: Callable[..., RunResult],
    source: Path,
    info: MediaInfo,
    *,
    policy: ValidationPolicy,
    plan: SpritePlan,
    out: Path,
    cwd: Path,
    timeout: float,
    window: tuple[float, float] | None = None,
) -> list[Path]:
    """Sprite sheets from keyframes (cheap); a source with too few keyframes gets a full decode instead."""
    # e.g. a single keyframe: the tile filter receives no frame and the encoder never opens.
    with contextlib.suppress(TranscodeFailed):
        run(sprite_argv(source, info, policy, plan, out, keyframes_only=True, window=window), cwd=cwd, timeout=timeout)
    sheets = sorted(out.glob("sprite_*.jpg"))
    if not sheets:
        run(sprite_argv(source, info, policy, plan, out, keyframes_only=False, window=window), cwd=cwd, timeout=timeout)
        sheets = sorted(out.glob("sprite_*.jpg"))
    if not sheets:
        raise TranscodeFailed("Making the storyboard failed.")
    return sheets
