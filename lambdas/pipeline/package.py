"""PackageOutputs: one set of CMAF segments served two ways (HLS master + media playlists, static DASH MPD),
and a progressive MP4 fallback.

Only text is written for the streams: the segments are already where the workers put them. The MP4 is a
remux, not an encode: the fallback rung's init and segments, concatenated, are one fragmented MP4 (the
default audio track likewise: the other languages are streamed only); `ffmpeg -c copy -movflags +faststart`
rewrites them as one progressive file with the index first, bit-identical in picture and sound to what the
streaming players get.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import suppress
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from lambdas import keys
from lambdas.jobs.model import Clock, JobStep, OutputFile, OutputKind, RenditionQuality, utc_now
from lambdas.jobs.ports import JobRepository
from lambdas.media.chunking import ItemKind
from lambdas.media.errors import TranscodeFailed
from lambdas.media.ffmpeg_args import mp4_remux_argv
from lambdas.media.manifests import AudioTrack, VideoTrack, dash_mpd, master_playlist, media_playlist
from lambdas.media.quality import QualityReport, summarize
from lambdas.media.runner import RunResult
from lambdas.media.runner import run as run_ffmpeg
from lambdas.pipeline.config import CACHE_MEDIA, CACHE_PLAYLIST, JobRef, PipelineConfig
from lambdas.pipeline.errors import transient_errors
from lambdas.pipeline.job_guard import running_job, withdrawn_if_stopped
from lambdas.pipeline.plan import JSON, ItemResult, load_plan, load_result
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

    manifest_key: str
    dash_key: str
    files: tuple[OutputFile, ...]
    duration_s: float | None = None
    encode_cpu_seconds: float = 0.0  # every work item's ffmpeg, added up
    quality: tuple[RenditionQuality, ...] = ()  # per rung, largest first (all of it: keys.quality_key)
    warnings: tuple[str, ...] = ()  # extras that are missing, and why


def fallback_track(videos: list[VideoTrack]) -> VideoTrack:
    """The middle rung (720p of a 1080/720/480/360 ladder): good enough everywhere, not too heavy."""
    return videos[(len(videos) - 1) // 2]


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
        with step_events(repository, job_id, JobStep.PACKAGE, clock=clock), workspace("package") as tmp:
            plan = load_plan(store, request.plan_bucket, request.plan_key, tmp)
            results: dict[str, ItemResult] = {
                item.item_id: load_result(store, config.work_bucket, plan, item, tmp) for item in plan.chunks.items
            }
            videos, audio = assemble(plan, results)
            if not videos:
                raise TranscodeFailed("Processing the video produced no renditions.")
            files: list[OutputFile] = []
            if OutputKind.MP4 in job.requested_outputs:
                track = fallback_track(videos)
                default = audio[0] if audio else None
                with withdrawn_if_stopped(repository, store, job_id, bucket, keys.mp4_key(job_id, track.name)):
                    files.append(
                        _mp4(
                            track, default, job_id=job_id, store=store, bucket=bucket, tmp=tmp, timeout=timeout, run=run
                        )
                    )
            duration = max(sum(s.duration_s for s in v.segments) for v in videos)
            report = summarize(
                {i: r.quality for i, r in results.items() if plan.chunks.item(i).kind is ItemKind.VIDEO},
                [v.name for v in videos],
            )
            report_file = _quality_report(
                report, job_id=job_id, repository=repository, store=store, tmp=tmp, bucket=bucket
            )
            documents: list[tuple[str, str, str]] = []
            for video in videos:
                documents.append(
                    (
                        keys.track_prefix(job_id, video.name) + keys.MEDIA_PLAYLIST,
                        media_playlist(video.init_uri, video.segments),
                        HLS,
                    )
                )
            for sound in audio:
                documents.append(
                    (
                        keys.track_prefix(job_id, sound.name) + keys.MEDIA_PLAYLIST,
                        media_playlist(sound.init_uri, sound.segments),
                        HLS,
                    )
                )
            documents.append((keys.dash_key(job_id), dash_mpd(videos, audio, duration_s=duration), DASH))
            # Last: the master is what players open first, and it points at playlists stored already.
            documents.append((keys.master_key(job_id), master_playlist(videos, audio), HLS))
            stored = {}
            with withdrawn_if_stopped(repository, store, job_id, bucket, keys.stream_prefix(job_id)):
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
                key=keys.master_key(job_id),
                size_bytes=stored[keys.master_key(job_id)].size,
                duration_seconds=duration,
            ),
            OutputFile(
                kind=OutputKind.DASH,
                key=keys.dash_key(job_id),
                size_bytes=stored[keys.dash_key(job_id)].size,
                duration_seconds=duration,
            ),
            *(
                OutputFile(
                    kind=OutputKind.HLS,
                    key=keys.track_prefix(job_id, v.name) + keys.MEDIA_PLAYLIST,
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
        ]
        ProgressWriter(repository, job_id, JobStep.PACKAGE).overall(PROGRESS_PACKAGED)
        # The attempt's pieces and results are spent; the bucket's lifecycle rule is the backstop.
        with suppress(StoreError):
            store.delete_prefix(config.work_bucket, keys.work_prefix(job_id, plan.attempt))
    return PackageResult(
        manifest_key=keys.master_key(job_id),
        dash_key=keys.dash_key(job_id),
        files=tuple(files),
        duration_s=duration,
        encode_cpu_seconds=round(sum(r.cpu_seconds for r in results.values()), 3),
        quality=tuple(
            RenditionQuality(rendition=name, **score.model_dump(mode="json"))
            for name, score in report.renditions.items()
        ),
        warnings=(*request.thumbnails.all_warnings, *report.warnings),
    )


def _quality_report(
    report: QualityReport, *, job_id: str, repository: JobRepository, store: MediaStore, tmp: Path, bucket: str
) -> OutputFile:
    """quality.json beside the streams: every rung's score over every chunk, and the chunks without one."""
    key = keys.quality_key(job_id)
    path = tmp / "quality.json"
    path.write_text(report.model_dump_json(indent=2))
    with withdrawn_if_stopped(repository, store, job_id, bucket, key):
        stored = store.upload(path, bucket, key, content_type=JSON, cache_control=CACHE_PLAYLIST)
    path.unlink()
    return OutputFile(kind=OutputKind.QUALITY, key=key, size_bytes=stored.size)


def _concatenate(store: MediaStore, bucket: str, job_id: str, track: VideoTrack | AudioTrack, out: Path) -> None:
    """init + every segment of one track, in order: one fragmented MP4 (segments fetched one at a time)."""
    part = out.with_suffix(".part")
    with out.open("wb") as sink:
        for uri in [track.init_uri, *(s.uri for s in track.segments)]:
            store.download(bucket, keys.stream_prefix(job_id) + uri, part)
            with part.open("rb") as piece:
                while chunk := piece.read(1 << 20):
                    sink.write(chunk)
            part.unlink()


def _mp4(
    video: VideoTrack,
    audio: AudioTrack | None,
    *,
    job_id: str,
    store: MediaStore,
    bucket: str,
    tmp: Path,
    timeout: float,
    run: Callable[..., RunResult],
) -> OutputFile:
    video_file = tmp / "video.mp4"
    _concatenate(store, bucket, job_id, video, video_file)
    audio_file = None
    if audio is not None:
        audio_file = tmp / "audio.mp4"
        _concatenate(store, bucket, job_id, audio, audio_file)
    out = tmp / f"{video.name}.mp4"
    run(mp4_remux_argv(video_file, audio_file, out), cwd=tmp, timeout=timeout)
    video_file.unlink()
    if audio_file is not None:
        audio_file.unlink()
    stored = store.upload(
        out, bucket, keys.mp4_key(job_id, video.name), content_type="video/mp4", cache_control=CACHE_MEDIA
    )
    out.unlink()
    return OutputFile(
        kind=OutputKind.MP4,
        key=stored.key,
        size_bytes=stored.size,
        rendition=video.name,
        duration_seconds=sum(s.duration_s for s in video.segments),
    )
