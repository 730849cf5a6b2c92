"""PackageOutputs: the HLS master playlist from measured renditions, and a progressive MP4 fallback.

The MP4 is a remux, not an encode: the middle rung's fMP4 init and segments, concatenated, are already
one fragmented MP4; `ffmpeg -c copy -movflags +faststart` rewrites it as a progressive file with the
index first. That costs I/O only (an encode would repeat a full decode and x264 pass, ~2.5 CPU-s per
second of 1080p), and the fallback is bit-identical in picture and sound to what HLS players get.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from lambdas.jobs.model import JobStep, OutputFile, OutputKind, utc_now
from lambdas.jobs.ports import JobRepository
from lambdas.media.errors import TranscodeFailed
from lambdas.media.ffmpeg_args import MeasuredRendition, master_playlist, mp4_remux_argv
from lambdas.media.probe import MediaInfo
from lambdas.media.runner import RunResult
from lambdas.media.runner import run as run_ffmpeg
from lambdas.pipeline.common import (
    CACHE_MEDIA,
    CACHE_PLAYLIST,
    PROGRESS_PACKAGED,
    Clock,
    JobRef,
    PipelineConfig,
    ProgressWriter,
    output_prefix,
    running_job,
    step_events,
    withdrawn_if_stopped,
    workspace,
)
from lambdas.pipeline.errors import transient_errors
from lambdas.pipeline.thumbnails import ThumbnailsResult
from lambdas.pipeline.transcode import INIT, RenditionResult, segment_uris
from lambdas.storage.ports import MediaStore

MASTER = "master.m3u8"


class PackageRequest(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    job: JobRef
    media: MediaInfo
    renditions: tuple[RenditionResult, ...]
    thumbnails: ThumbnailsResult


class PackageResult(BaseModel):
    """Every output of the job, ready for the job record."""

    model_config = ConfigDict(frozen=True)

    manifest_key: str
    files: tuple[OutputFile, ...]
    duration_s: float | None = None


def master_key(job_id: str) -> str:
    return f"{output_prefix(job_id)}hls/{MASTER}"


def mp4_key(job_id: str, rendition: str) -> str:
    return f"{output_prefix(job_id)}mp4/{rendition}.mp4"


def fallback_rendition(renditions: tuple[RenditionResult, ...]) -> RenditionResult:
    """The middle rung (720p of a 1080/720/480/360 ladder): good enough everywhere, not too heavy."""
    return renditions[(len(renditions) - 1) // 2]


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
    job_id, renditions = request.job.job_id, request.renditions
    if not renditions:
        raise TranscodeFailed("Processing the video produced no renditions.")
    timeout = config.ffmpeg_timeout(time_budget_s)
    bucket = config.outputs_bucket
    with transient_errors():
        job = running_job(repository, job_id)
        with step_events(repository, job_id, JobStep.PACKAGE, clock=clock), workspace("package") as tmp:
            files: list[OutputFile] = []
            if OutputKind.MP4 in job.requested_outputs:
                mp4_prefix = mp4_key(job_id, fallback_rendition(renditions).name)
                with withdrawn_if_stopped(repository, store, job_id, bucket, mp4_prefix):
                    files.append(
                        _mp4(
                            fallback_rendition(renditions),
                            job_id=job_id,
                            store=store,
                            bucket=bucket,
                            tmp=tmp,
                            timeout=timeout,
                            run=run,
                        )
                    )
            text = master_playlist([r.rendition for r in renditions], {r.name: _measured(r) for r in renditions})
            master = tmp / MASTER
            master.write_text(text)
            # Last: the master is what makes the job playable, and it points at playlists uploaded already.
            with withdrawn_if_stopped(repository, store, job_id, bucket, master_key(job_id)):
                stored = store.upload(
                    master,
                    bucket,
                    master_key(job_id),
                    content_type="application/vnd.apple.mpegurl",
                    cache_control=CACHE_PLAYLIST,
                )
        duration = max(r.duration_s for r in renditions)
        files = [
            OutputFile(kind=OutputKind.HLS, key=stored.key, size_bytes=stored.size, duration_seconds=duration),
            *(
                OutputFile(
                    kind=OutputKind.HLS,
                    key=r.playlist_key,
                    size_bytes=r.bytes,
                    rendition=r.name,
                    duration_seconds=r.duration_s,
                )
                for r in renditions
            ),
            *files,
            *(
                OutputFile(kind=OutputKind.THUMBNAILS, key=f.key, size_bytes=f.size_bytes)
                for f in request.thumbnails.files
            ),
        ]
        ProgressWriter(repository, job_id, JobStep.PACKAGE).overall(PROGRESS_PACKAGED)
    return PackageResult(manifest_key=stored.key, files=tuple(files), duration_s=duration)


def _measured(result: RenditionResult) -> MeasuredRendition:
    return MeasuredRendition(
        uri=result.uri,
        peak_bps=result.peak_bps,
        average_bps=result.average_bps,
        width=result.width,
        height=result.height,
        frame_rate=result.frame_rate,
        profile=result.profile,
        level=result.level,
        codec_string=result.video_codec,
        audio=result.audio_codec is not None,
    )


def _mp4(
    rendition: RenditionResult,
    *,
    job_id: str,
    store: MediaStore,
    bucket: str,
    tmp: Path,
    timeout: float,
    run: Callable[..., RunResult],
) -> OutputFile:
    parts = tmp / "parts"
    parts.mkdir()
    playlist = parts / "index.m3u8"
    store.download(bucket, rendition.playlist_key, playlist)
    prefix = rendition.playlist_key.rsplit("/", 1)[0] + "/"
    joined = tmp / "joined.mp4"
    with joined.open("wb") as sink:
        for name in [INIT, *segment_uris(playlist.read_text())]:
            part = parts / "part"
            store.download(bucket, prefix + name, part)
            sink.write(part.read_bytes())
            part.unlink()
    out = tmp / f"{rendition.name}.mp4"
    run(mp4_remux_argv(joined, out), cwd=tmp, timeout=timeout)
    joined.unlink()
    stored = store.upload(
        out, bucket, mp4_key(job_id, rendition.name), content_type="video/mp4", cache_control=CACHE_MEDIA
    )
    return OutputFile(
        kind=OutputKind.MP4,
        key=stored.key,
        size_bytes=stored.size,
        rendition=rendition.name,
        duration_seconds=rendition.duration_s,
    )
