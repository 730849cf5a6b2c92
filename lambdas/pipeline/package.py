"""PackageOutputs: one set of CMAF segments served two ways (HLS master + media playlists, static DASH MPD),
and a progressive MP4 fallback.

Only text is written for the streams: the segments are already where the workers put them. The MP4 is a
remux, not an encode: the fallback rung's init and segments, concatenated, are one fragmented MP4 (the
default audio track likewise: the other languages are streamed only); `ffmpeg -c copy -movflags +faststart`
rewrites them as one progressive file with the index first, bit-identical in picture and sound to what the
streaming players get.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from lambdas import keys
from lambdas.jobs.model import ClipResult, Clock, Job, JobStep, OutputFile, OutputKind, RenditionQuality, utc_now
from lambdas.jobs.ports import JobRepository
from lambdas.media.chunking import ItemKind
from lambdas.media.errors import TranscodeFailed
from lambdas.media.ffmpeg_args import mp4_remux_argv
from lambdas.media.manifests import AudioTrack, VideoTrack, dash_mpd, master_playlist, media_playlist
from lambdas.media.quality import QualityReport, summarize
from lambdas.media.runner import RunResult
from lambdas.media.runner import run as run_ffmpeg
from lambdas.pipeline.audio_files import missing_audio_warning, wants_video
from lambdas.pipeline.clip import clip_result, fast_clip_file
from lambdas.pipeline.config import CACHE_MEDIA, CACHE_PLAYLIST, JobRef, PipelineConfig
from lambdas.pipeline.errors import transient_errors
from lambdas.pipeline.job_guard import running_job, withdrawn_if_stopped
from lambdas.pipeline.plan import JSON, EncodePlan, ItemResult, load_plan, load_result
from lambdas.pipeline.progress import PROGRESS_PACKAGED, ProgressWriter, step_events
from lambdas.pipeline.thumbnails import ThumbnailsResult
from lambdas.pipeline.tracks import assemble
from lambdas.pipeline.workspace import workspace
from lambdas.storage.ports import MediaStore, StoreError

HLS = "application/vnd.apple.mpegurl"
DASH = "application/dash+xml"


class PackageRequest(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    job: JobRef
    plan_bucket: str
    plan_key: str
    thumbnails: ThumbnailsResult


class PackageResult(BaseModel):
    """Every output of the job, ready for the job record."""

    model_config = ConfigDict(frozen=True)

    manifest_key: str | None  # None: a job without video (audio outputs only) has no manifests
    dash_key: str | None
    files: tuple[OutputFile, ...]
    duration_s: float | None = None
    encode_cpu_seconds: float = 0.0  # every work item's ffmpeg, added up
    quality: tuple[RenditionQuality, ...] = ()  # per rung, largest first (all of it: keys.quality_key)
    warnings: tuple[str, ...] = ()  # extras that are missing, and why
    clip: ClipResult | None = None  # a clip job's range as made


def fallback_track(videos: list[VideoTrack]) -> VideoTrack:
    """The middle rung (720p of a 1080/720/480/360 ladder): good enough everywhere, not too heavy."""
    return videos[(len(videos) - 1) // 2]


MP4_DISK_MARGIN_BYTES = 64 * 2**20


def mp4_disk_bytes(video: VideoTrack, audio: AudioTrack | None) -> int:
    """What making one MP4 takes on disk: the track(s) concatenated, and the remux beside them (`_mp4`)."""
    stored = sum(s.bytes for s in video.segments) + (sum(s.bytes for s in audio.segments) if audio else 0)
    return 2 * stored + MP4_DISK_MARGIN_BYTES


def mp4_unfit(video: VideoTrack, audio: AudioTrack | None, tmp: Path) -> str | None:
    """Why this rung's MP4 cannot be made here (its sizes are known: the segments are stored), or None.

    stacks/config.py sizes the disk for the middle rung's MP4 of the longest source; a job may ask for a
    larger rung's (`mp4_renditions`, the archive preset): one that would not fit is left out with a warning,
    an extra like the others, rather than failing the job after its streams were made.
    """
    need, free = mp4_disk_bytes(video, audio), shutil.disk_usage(tmp).free
    if need <= free:
        return None
    return (
        f"No {video.name} MP4: making it takes {need / 2**30:.1f} GiB of disk and this function has "
        f"{free / 2**30:.1f} GiB free; the {video.name} stream has the same picture."
    )


def mp4_tracks(videos: list[VideoTrack], wanted: tuple[str, ...] | None) -> list[VideoTrack]:
    """The rungs that get a progressive MP4 (`Job.mp4_renditions`, largest first): None, the middle one; else the
    named rungs that were made, or, when the source was too small for every one of them, the largest made."""
    if wanted is None:
        return [fallback_track(videos)]
    return [v for v in videos if v.name in wanted] or videos[:1]


def package(
    request: PackageRequest,
    repository: JobRepository,
    store: MediaStore,
    config: PipelineConfig,
    *,
    clock: Clock = utc_now,
    time_budget_s: float | None = None,
    run: Callable[..., RunResult] = run_ffmpeg,
) -> PackageResult:
    job_id = request.job.job_id
    timeout = config.ffmpeg_timeout(time_budget_s)
    bucket = config.outputs_bucket
    with transient_errors():
        job = running_job(repository, job_id)
        if not wants_video(job):
            return _audio_only(request, job, repository, store, config, clock=clock)
        with step_events(repository, job_id, JobStep.PACKAGE, clock=clock), workspace("package") as tmp:
            plan = load_plan(store, request.plan_bucket, request.plan_key, tmp)
            if plan.clip is not None and plan.clip.fast is not None:
                return _fast_clip(plan, repository, store, config)
            results: dict[str, ItemResult] = {
                item.item_id: load_result(store, config.work_bucket, plan, item, tmp) for item in plan.chunks.items
            }
            videos, audio = assemble(plan, results)
            if not videos:
                raise TranscodeFailed("Processing the video produced no renditions.")
            files: list[OutputFile] = []
            mp4_warnings: list[str] = []
            if OutputKind.MP4 in job.requested_outputs:
                default = audio[0] if audio else None
                for track in mp4_tracks(videos, job.mp4_renditions):  # one at a time: the disk holds one
                    unfit = mp4_unfit(track, default, tmp)
                    if unfit is not None:
                        mp4_warnings.append(unfit)
                        continue
                    with withdrawn_if_stopped(
                        repository, store, job_id, bucket, keys.mp4_key(job_id, track.name, private=job.private)
                    ):
                        files.append(
                            _mp4(
                                track,
                                default,
                                job_id=job_id,
                                private=job.private,
                                store=store,
                                bucket=bucket,
                                tmp=tmp,
                                timeout=timeout,
                                run=run,
                            )
                        )
            duration = max(sum(s.duration_s for s in v.segments) for v in videos)
            report = summarize(
                {i: r.quality for i, r in results.items() if plan.chunks.item(i).kind is ItemKind.VIDEO},
                [v.name for v in videos],
            )
            report_file = _quality_report(
                report, job_id=job_id, repository=repository, store=store, tmp=tmp, bucket=bucket, private=job.private
            )
            documents: list[tuple[str, str, str]] = []
            for video in videos:
                documents.append(
                    (
                        keys.track_prefix(job_id, video.name, private=job.private) + keys.MEDIA_PLAYLIST,
                        media_playlist(video.init_uri, video.segments),
                        HLS,
                    )
                )
            for sound in audio:
                documents.append(
                    (
                        keys.track_prefix(job_id, sound.name, private=job.private) + keys.MEDIA_PLAYLIST,
                        media_playlist(sound.init_uri, sound.segments),
                        HLS,
                    )
                )
            documents.append(
                (keys.dash_key(job_id, private=job.private), dash_mpd(videos, audio, duration_s=duration), DASH)
            )
            # Last: the master is what players open first, and it points at playlists stored already.
            documents.append((keys.master_key(job_id, private=job.private), master_playlist(videos, audio), HLS))
            stored = {}
            with withdrawn_if_stopped(
                repository, store, job_id, bucket, keys.stream_prefix(job_id, private=job.private)
            ):
                for key, text, content_type in documents:
                    path = tmp / "manifest"
                    path.write_text(text)
                    stored[key] = store.upload(
                        path, bucket, key, content_type=content_type, cache_control=CACHE_PLAYLIST
                    )
                    path.unlink()
        files = [
            OutputFile(
                kind=OutputKind.HLS,
                key=keys.master_key(job_id, private=job.private),
                size_bytes=stored[keys.master_key(job_id, private=job.private)].size,
                duration_seconds=duration,
            ),
            OutputFile(
                kind=OutputKind.DASH,
                key=keys.dash_key(job_id, private=job.private),
                size_bytes=stored[keys.dash_key(job_id, private=job.private)].size,
                duration_seconds=duration,
            ),
            *(
                OutputFile(
                    kind=OutputKind.HLS,
                    key=keys.track_prefix(job_id, v.name, private=job.private) + keys.MEDIA_PLAYLIST,
                    size_bytes=sum(s.bytes for s in v.segments),
                    rendition=v.name,
                    duration_seconds=sum(s.duration_s for s in v.segments),
                )
                for v in videos
            ),
            *files,
            *(
                OutputFile(kind=OutputKind.THUMBNAILS, key=f.key, size_bytes=f.size_bytes)
                for f in request.thumbnails.files
            ),
            report_file,
            *job.audio_files,  # stored by the audio item, which the Map finished before this step
        ]
        ProgressWriter(repository, job_id, JobStep.PACKAGE).overall(PROGRESS_PACKAGED)
        # The attempt's pieces and results are spent; the bucket's lifecycle rule is the backstop.
        with suppress(StoreError):
            store.delete_prefix(config.work_bucket, keys.work_prefix(job_id, plan.attempt))
    return PackageResult(
        manifest_key=keys.master_key(job_id, private=job.private),
        dash_key=keys.dash_key(job_id, private=job.private),
        files=tuple(files),
        duration_s=duration,
        encode_cpu_seconds=round(sum(r.cpu_seconds for r in results.values()), 3),
        quality=tuple(
            RenditionQuality(rendition=name, **score.model_dump(mode="json"))
            for name, score in report.renditions.items()
        ),
        warnings=(
            *request.thumbnails.all_warnings,
            *report.warnings,
            *filter(None, [missing_audio_warning(job)]),
            *mp4_warnings,
        ),
        clip=clip_result(plan.clip, duration),
    )


def _fast_clip(plan: EncodePlan, repository: JobRepository, store: MediaStore, config: PipelineConfig) -> PackageResult:
    """A fast clip: ProbeSource stored its one file already; nothing to write but its place in the outputs."""
    assert plan.clip is not None
    ProgressWriter(repository, plan.job_id, JobStep.PACKAGE).overall(PROGRESS_PACKAGED)
    with suppress(StoreError):
        store.delete_prefix(config.work_bucket, keys.work_prefix(plan.job_id, plan.attempt))
    file = fast_clip_file(plan.clip)
    return PackageResult(
        manifest_key=None,
        dash_key=None,
        files=(file,),
        duration_s=file.duration_seconds,
        clip=clip_result(plan.clip, file.duration_seconds),
    )


def _audio_only(
    request: PackageRequest,
    job: Job,
    repository: JobRepository,
    store: MediaStore,
    config: PipelineConfig,
    *,
    clock: Clock,
) -> PackageResult:
    """A job without video: its outputs are the audio downloads its one work item stored; nothing to write."""
    with step_events(repository, job.job_id, JobStep.PACKAGE, clock=clock), workspace("package") as tmp:
        plan = load_plan(store, request.plan_bucket, request.plan_key, tmp)
        results = [load_result(store, config.work_bucket, plan, item, tmp) for item in plan.chunks.items]
        if not job.audio_files:
            raise TranscodeFailed("Processing the audio produced no files.")
    ProgressWriter(repository, job.job_id, JobStep.PACKAGE).overall(PROGRESS_PACKAGED)
    with suppress(StoreError):
        store.delete_prefix(config.work_bucket, keys.work_prefix(job.job_id, plan.attempt))
    return PackageResult(
        manifest_key=None,
        dash_key=None,
        files=job.audio_files,
        duration_s=max((f.duration_seconds or 0.0 for f in job.audio_files), default=None),
        encode_cpu_seconds=round(sum(r.cpu_seconds for r in results), 3),
    )


def _quality_report(
    report: QualityReport,
    *,
    job_id: str,
    repository: JobRepository,
    store: MediaStore,
    tmp: Path,
    bucket: str,
    private: bool = False,
) -> OutputFile:
    """quality.json beside the streams: every rung's score over every chunk, and the chunks without one."""
    key = keys.quality_key(job_id, private=private)
    path = tmp / "quality.json"
    path.write_text(report.model_dump_json(indent=2))
    with withdrawn_if_stopped(repository, store, job_id, bucket, key):
        stored = store.upload(path, bucket, key, content_type=JSON, cache_control=CACHE_PLAYLIST)
    path.unlink()
    return OutputFile(kind=OutputKind.QUALITY, key=key, size_bytes=stored.size)


def _concatenate(
    store: MediaStore, bucket: str, job_id: str, track: VideoTrack | AudioTrack, out: Path, *, private: bool = False
) -> None:
    """init + every segment of one track, in order: one fragmented MP4 (segments fetched one at a time)."""
    part = out.with_suffix(".part")
    with out.open("wb") as sink:
        for uri in [track.init_uri, *(s.uri for s in track.segments)]:
            store.download(bucket, keys.stream_prefix(job_id, private=private) + uri, part)
            with part.open("rb") as piece:
                while chunk := piece.read(1 << 20):
                    sink.write(chunk)
            part.unlink()


def _mp4(
    video: VideoTrack,
    audio: AudioTrack | None,
    *,
    job_id: str,
    private: bool = False,
    store: MediaStore,
    bucket: str,
    tmp: Path,
    timeout: float,
    run: Callable[..., RunResult],
) -> OutputFile:
    video_file = tmp / "video.mp4"
    _concatenate(store, bucket, job_id, video, video_file, private=private)
    audio_file = None
    if audio is not None:
        audio_file = tmp / "audio.mp4"
        _concatenate(store, bucket, job_id, audio, audio_file, private=private)
    out = tmp / f"{video.name}.mp4"
    run(mp4_remux_argv(video_file, audio_file, out), cwd=tmp, timeout=timeout)
    video_file.unlink()
    if audio_file is not None:
        audio_file.unlink()
    stored = store.upload(
        out,
        bucket,
        keys.mp4_key(job_id, video.name, private=private),
        content_type="video/mp4",
        cache_control=CACHE_MEDIA,
    )
    out.unlink()
    return OutputFile(
        kind=OutputKind.MP4,
        key=stored.key,
        size_bytes=stored.size,
        rendition=video.name,
        duration_seconds=sum(s.duration_s for s in video.segments),
    )
