"""The audio downloads (audio, mp3, wav16k) of a job: planned as one work item of their own, made from the default
track's piece.

ProbeSource already decodes the whole default track losslessly into a piece for the stream's audio item; the
downloads item reads the same piece, in parallel with that item and the video chunks, on a worker budget of its
own (whole-source encodes, and loudnorm's two passes, would otherwise share the stream's) and without holding
back the first playable preview. With `loudnorm` a first pass measures each mix (lambdas/media/audio_files.py).
Once stored, the files are written to the job (`audio_files`, `audio_ready_at`): that write is what the feed
turns into `audio.ready`, before the video is done. A job with no video output is planned as this item alone.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from lambdas import keys
from lambdas.jobs.model import (
    VIDEO_OUTPUTS,
    AudioLoudness,
    Job,
    OutputFile,
    OutputKind,
    job_preset,
)
from lambdas.jobs.ports import JobNotProcessing, JobRepository
from lambdas.media.audio_files import (
    DEFAULT_TARGET,
    ENCODINGS,
    LoudnessReport,
    LoudnessTarget,
    audio_kinds,
    downloads_cost,
    encode_argv,
    measure_argv,
    mixes_of,
    parse_loudnorm,
    report_name,
)
from lambdas.media.chunking import DEFAULT_COSTS, DOWNLOADS_ITEM, ChunkPlan, ItemKind, WorkItem
from lambdas.media.errors import NoAudioStream, SourceUnreadable, TranscodeFailed
from lambdas.media.policy import ValidationPolicy
from lambdas.media.probe import MediaInfo
from lambdas.media.runner import RunResult
from lambdas.pipeline.config import CACHE_MEDIA, PipelineConfig
from lambdas.pipeline.job_guard import stopped, withdrawn_if_stopped
from lambdas.pipeline.plan import EncodePlan
from lambdas.storage.ports import MediaStore


@dataclass(frozen=True)
class Downloads:
    """Where and with what the downloads are made (the work item's own adapters and limits)."""

    repository: JobRepository
    store: MediaStore
    config: PipelineConfig
    tmp: Path
    timeout: float
    run: Callable[..., RunResult]


def timeline_s(plan: EncodePlan) -> float:
    """How long the downloads are: the video's timeline when there is one (the streams' length), else the
    source's duration (an audio-only job)."""
    if plan.chunks.chunks:
        return float(plan.chunks.total_frames / plan.chunks.rate)
    return plan.media.duration or 0.0


def make_downloads(
    job: Job, plan: EncodePlan, piece: Path, tools: Downloads, *, target: LoudnessTarget = DEFAULT_TARGET
) -> float:
    """Encode, store and record the job's audio downloads from `piece`, the default track's; CPU-seconds used.

    A retried item makes and stores the same files again; the record keeps the first `audio_ready_at`.
    """
    kinds = audio_kinds(job.requested_outputs)
    if not kinds:
        return 0.0
    choice = plan.audio_track(keys.AUDIO_TRACK)
    stream = next((s for s in plan.media.audio if s.index == choice.stream), None)
    start, duration = plan.media.start_time, timeline_s(plan)
    policy, tmp, cpu = tools.config.policy, tools.tmp, 0.0
    measured: dict[str, LoudnessReport] | None = None
    if job.loudnorm:
        first = tools.run(
            measure_argv(piece, plan.media, policy, kinds, start=start, duration=duration, target=target),
            cwd=tmp,
            timeout=tools.timeout,
        )
        cpu += first.cpu_s
        measured = parse_loudnorm(first.stderr_tail)
        missing = [report_name(mix) for mix in mixes_of(kinds) if report_name(mix) not in measured]
        if missing:
            raise TranscodeFailed(f"Measuring the loudness ({', '.join(missing)}) gave no result.")
    outputs = [(kind, tmp / ENCODINGS[kind].file_name) for kind in kinds]
    second = tools.run(
        encode_argv(
            piece,
            plan.media,
            policy,
            outputs,
            start=start,
            duration=duration,
            source_rate=stream.sample_rate if stream else None,
            aac_bitrate_kbps=job_preset(job).audio_bitrate_kbps,
            loudness=measured,
            target=target,
        ),
        cwd=tmp,
        timeout=tools.timeout,
    )
    cpu += second.cpu_s
    applied = parse_loudnorm(second.stderr_tail) if measured is not None else {}
    files = _store(job, outputs, duration, tools)
    loudness = tuple(
        _loudness(report_name(mix), measured[report_name(mix)], applied.get(report_name(mix)), target)
        for mix in mixes_of(kinds)
        if measured is not None
    )
    try:
        tools.repository.mark_audio_ready(job.job_id, files, loudness)
    except JobNotProcessing as error:
        raise stopped(error) from None
    return cpu


def _store(
    job: Job, outputs: list[tuple[OutputKind, Path]], duration: float, tools: Downloads
) -> tuple[OutputFile, ...]:
    bucket = tools.config.outputs_bucket
    files: list[OutputFile] = []
    prefix = keys.audio_prefix(job.job_id, private=job.private)
    with withdrawn_if_stopped(tools.repository, tools.store, job.job_id, bucket, prefix):
        for kind, path in outputs:
            encoding = ENCODINGS[kind]
            stored = tools.store.upload(
                path,
                bucket,
                keys.audio_key(job.job_id, encoding.file_name, private=job.private),
                content_type=encoding.content_type,
                cache_control=CACHE_MEDIA,
            )
            path.unlink()
            files.append(
                OutputFile(kind=encoding.kind, key=stored.key, size_bytes=stored.size, duration_seconds=duration)
            )
    return tuple(files)


def _finite(value: float | None) -> float | None:
    """DynamoDB stores no infinity: silence measures -inf LUFS, recorded as unknown."""
    return round(value, 2) if value is not None and math.isfinite(value) else None


def _loudness(
    mix: str, measured: LoudnessReport, applied: LoudnessReport | None, target: LoudnessTarget
) -> AudioLoudness:
    if measured.silent:
        mode = "silent"
    else:
        mode = applied.normalization_type if applied and applied.normalization_type else "unknown"
    return AudioLoudness(
        mix=mix,
        target_lufs=target.integrated_lufs,
        input_lufs=_finite(measured.input_i),
        input_true_peak_dbtp=_finite(measured.input_tp),
        input_lra_lu=_finite(measured.input_lra),
        output_lufs=_finite(applied.output_i) if applied and not measured.silent else None,
        output_true_peak_dbtp=_finite(applied.output_tp) if applied and not measured.silent else None,
        mode=mode,
    )


# --- planning (ProbeSource) ---------------------------------------------------------------------------


def wants_video(job: Job) -> bool:
    """Whether the job makes anything with a picture; if not, it is planned as audio only (no ladder, no chunks)."""
    return bool(VIDEO_OUTPUTS & set(job.requested_outputs))


def validation_policy(job: Job, policy: ValidationPolicy) -> ValidationPolicy:
    """The deployment's policy, which lets a job that makes only audio take a file without video."""
    return policy if wants_video(job) else policy.model_copy(update={"require_video": False})


def audio_plan(info: MediaInfo, job_id: str, attempt: int, job: Job) -> EncodePlan:
    """An audio-only job's plan: the downloads' item alone (nothing streams), reading the default track's piece.

    NoAudioStream when the source has no sound: there is nothing such a job could make.
    """
    if not info.audio:
        raise NoAudioStream("audio: the file contains no sound, and this job asks for audio outputs only.")
    if info.duration is None:
        raise SourceUnreadable("duration: the length of the file could not be determined.")
    # No picture: the frame grid is unused; one frame per second keeps ChunkPlan's arithmetic meaningful.
    chunks = ChunkPlan(
        frame_rate="1", segment_frames=1, total_frames=max(1, math.ceil(info.duration)), whole_ladder=True,
        chunks=(), items=(),
    )  # fmt: skip
    return with_downloads(EncodePlan(job_id=job_id, attempt=attempt, media=info, renditions=(), chunks=chunks), job)


def with_downloads(
    plan: EncodePlan, job: Job, *, overhead_cpu_s: float = DEFAULT_COSTS.item_overhead_cpu_s
) -> EncodePlan:
    """The plan with the downloads' item, if the job asks for any and the source has sound: after the audio
    tracks' items, before the chunks (the Map starts items in order), weighted by its expected cost."""
    kinds = audio_kinds(job.requested_outputs)
    if not kinds or not plan.media.audio:
        return plan
    cost = downloads_cost(kinds, loudnorm=job.loudnorm, duration_s=plan.media.duration or 0.0) + overhead_cpu_s
    item = WorkItem(item_id=DOWNLOADS_ITEM, kind=ItemKind.DOWNLOADS, weight=cost)
    audio = tuple(i for i in plan.chunks.items if i.kind is ItemKind.AUDIO)
    rest = tuple(i for i in plan.chunks.items if i.kind is not ItemKind.AUDIO)
    chunks = plan.chunks.model_copy(update={"items": (*audio, item, *rest)})
    return plan.model_copy(update={"chunks": chunks})


def missing_audio_warning(job: Job) -> str | None:
    """Why a job with video has none of the audio downloads it asked for (its source is silent), or None."""
    kinds = audio_kinds(job.requested_outputs)
    if not kinds or job.audio_files:
        return None
    return f"{', '.join(kinds)}: the source has no sound, so no audio file was made."
