"""A clip job in the pipeline: its window of the source, the fast clip ProbeSource copies, what the job reports.

An exact clip is planned and encoded like a whole source, on the window's MediaInfo (lambdas/media/clip.py):
ProbeSource seeks its pieces from the window's start, the last chunk ends with the window, thumbnails are
taken inside it. A fast clip needs no work item: ProbeSource, which holds the source, copies it into its one
file and PackageOutputs only reports it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from lambdas import keys
from lambdas.jobs.model import ClipMode, ClipResult, Job, OutputFile, OutputKind
from lambdas.media.audio_tracks import choose_audio
from lambdas.media.chunking import ChunkPlan
from lambdas.media.clip import ClipWindow, FastClip, clip_window, make_fast_clip
from lambdas.media.probe import MediaInfo
from lambdas.media.runner import RunResult
from lambdas.pipeline.config import CACHE_MEDIA, PipelineConfig
from lambdas.storage.ports import MediaStore

CONTENT_TYPES = {"mp4": "video/mp4", "matroska": "video/x-matroska"}


class FastClipFile(BaseModel):
    """The fast clip as stored, and what the copy did."""

    model_config = ConfigDict(frozen=True)

    key: str
    size_bytes: int
    made: FastClip


class ClipPlan(BaseModel):
    """A clip job's part of the encode plan."""

    model_config = ConfigDict(frozen=True)

    window: ClipWindow
    mode: ClipMode
    fast: FastClipFile | None = None  # set by ProbeSource once the copy is stored


def planned_window(job: Job, info: MediaInfo) -> ClipWindow | None:
    """The job's window of the probed source (None: the whole of it); past the real duration: PolicyViolation."""
    if job.clip is None:
        return None
    return clip_window(job.clip.start_s, job.clip.end_s, info)


def no_chunks() -> ChunkPlan:
    """The chunk plan of a fast clip: nothing to encode."""
    return ChunkPlan(frame_rate="1", segment_frames=1, total_frames=1, whole_ladder=True, chunks=(), items=())


def store_fast_clip(
    source: Path,
    info: MediaInfo,
    job: Job,
    window: ClipWindow,
    *,
    store: MediaStore,
    config: PipelineConfig,
    tmp: Path,
    run: Callable[..., RunResult],
    timeout: float,
) -> ClipPlan:
    """The fast clip copied from the downloaded source and stored under the job's outputs, with the default audio."""
    tracks = choose_audio(info.audio)
    out, made = make_fast_clip(
        source,
        info,
        config.policy,
        window,
        tmp,
        run=run,
        audio_stream=tracks[0].stream if tracks else None,
        timeout=timeout,
    )
    stored = store.upload(
        out,
        config.outputs_bucket,
        keys.output_prefix(job.job_id, private=job.private) + f"clip/{out.name}",
        content_type=CONTENT_TYPES[made.container],
        cache_control=CACHE_MEDIA,
    )
    out.unlink()
    return ClipPlan(
        window=window, mode=ClipMode.FAST, fast=FastClipFile(key=stored.key, size_bytes=stored.size, made=made)
    )


def clip_result(clip: ClipPlan | None, duration_s: float | None) -> ClipResult | None:
    """What the job says it made of its range (None: not a clip)."""
    if clip is None:
        return None
    if clip.fast is not None:
        made = clip.fast.made
        return ClipResult(
            mode=ClipMode.FAST,
            start_s=made.keyframe_s,
            start_shift_s=made.start_shift_s,
            duration_s=made.duration_s,
            file_key=clip.fast.key,
        )
    return ClipResult(mode=clip.mode, start_s=clip.window.start_s, duration_s=duration_s)


def fast_clip_file(clip: ClipPlan) -> OutputFile:
    """The fast clip among the job's outputs."""
    assert clip.fast is not None
    return OutputFile(
        kind=OutputKind.MP4,
        key=clip.fast.key,
        size_bytes=clip.fast.size_bytes,
        duration_seconds=clip.fast.made.duration_s,
    )
