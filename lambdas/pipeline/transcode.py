"""TranscodeRendition: one rendition as HLS CMAF segments and a media playlist, measured and uploaded."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from lambdas.jobs.model import JobStatus, JobStep, utc_now
from lambdas.jobs.ports import JobRepository
from lambdas.media.errors import TranscodeFailed
from lambdas.media.ffmpeg_args import Progress, avc1_codec, hls_argv, measure_media_playlist
from lambdas.media.ladder import Rendition
from lambdas.media.probe import MediaInfo, probe_source
from lambdas.media.runner import RunResult
from lambdas.media.runner import run as run_ffmpeg
from lambdas.pipeline.common import (
    CACHE_MEDIA,
    CACHE_PLAYLIST,
    PROGRESS_PROBED,
    PROGRESS_TRANSCODED,
    SOURCE_NAME,
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
from lambdas.pipeline.errors import JobCancelled, transient_errors
from lambdas.pipeline.probe import PlannedRendition
from lambdas.storage.ports import MediaStore

AAC_LC = "mp4a.40.2"
PLAYLIST = "index.m3u8"
INIT = "init.mp4"
CONTENT_TYPES = {".m3u8": "application/vnd.apple.mpegurl", ".mp4": "video/mp4", ".m4s": "video/iso.segment"}


class TranscodeRequest(BaseModel):
    """One Map item as the state machine builds it: the job, the probed media, one planned rendition."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    job: JobRef
    media: MediaInfo
    rendition: PlannedRendition


class RenditionResult(BaseModel):
    """What was produced for one rendition, measured on the output (not taken from the plan)."""

    model_config = ConfigDict(frozen=True)

    name: str
    rendition: Rendition
    playlist_key: str
    init_key: str
    uri: str  # relative to the master playlist
    peak_bps: int
    average_bps: int
    width: int
    height: int
    frame_rate: float
    profile: str | None
    level: int | None
    video_codec: str  # RFC 6381
    audio_codec: str | None
    duration_s: float
    segment_count: int
    segment_durations: tuple[float, ...]
    bytes: int
    encode_seconds: float
    cpu_seconds: float

    @property
    def codecs(self) -> str:
        return ",".join(c for c in (self.video_codec, self.audio_codec) if c)


def rendition_prefix(job_id: str, name: str) -> str:
    return f"{output_prefix(job_id)}hls/{name}/"


def transcode(
    request: TranscodeRequest,
    repository: JobRepository,
    store: MediaStore,
    config: PipelineConfig,
    *,
    clock: Clock = utc_now,
    time_budget_s: float | None = None,
    monotonic: Callable[[], float] = time.monotonic,
    run: Callable[..., RunResult] = run_ffmpeg,
) -> RenditionResult:
    job_id, plan = request.job.job_id, request.rendition
    rendition = Rendition.model_validate(plan.model_dump(exclude={"ladder", "track_progress"}))
    timeout = config.ffmpeg_timeout(time_budget_s)
    with transient_errors():
        job = running_job(repository, job_id)
        reporter = _Reporter(repository, job_id, plan, monotonic)
        reporter.report(0, force=True)
        with (
            step_events(repository, job_id, JobStep.TRANSCODE, clock=clock, detail=plan.name),
            workspace(f"transcode-{plan.name}") as tmp,
        ):
            source = tmp / SOURCE_NAME
            store.download(job.source.bucket, job.source.key, source)
            out = tmp / "out"
            out.mkdir()
            result = run(
                hls_argv(source, request.media, rendition, config.policy, out),
                cwd=tmp,
                timeout=timeout,
                on_progress=reporter.on_progress,
                duration=request.media.duration,
            )
            reporter.check_cancelled()
            measured = _measure(out, plan, config, run)
            prefix = rendition_prefix(job_id, plan.name)
            with withdrawn_if_stopped(repository, store, job_id, config.outputs_bucket, prefix):
                _upload_rendition(store, config.outputs_bucket, prefix, out)
        reporter.report(100, force=True)
    return RenditionResult.model_validate(
        {
            **measured,
            "name": plan.name,
            "rendition": rendition,
            "playlist_key": prefix + PLAYLIST,
            "init_key": prefix + INIT,
            "uri": f"{plan.name}/{PLAYLIST}",
            "encode_seconds": result.elapsed_s,
            "cpu_seconds": result.cpu_s,
        }
    )


class _Reporter:
    """ffmpeg progress -> the rendition's progress and the job's overall progress, every ~2 s at most."""

    def __init__(
        self, repository: JobRepository, job_id: str, plan: PlannedRendition, monotonic: Callable[[], float]
    ) -> None:
        self._repository, self._job_id, self._plan = repository, job_id, plan
        rendition = plan.name if plan.track_progress else None
        self._writer = ProgressWriter(repository, job_id, JobStep.TRANSCODE, rendition=rendition, monotonic=monotonic)
        self._overall = ProgressWriter(repository, job_id, JobStep.TRANSCODE, monotonic=monotonic)

    def on_progress(self, progress: Progress) -> None:
        if progress.percent is not None and self._writer.due():
            self.report(min(99, int(progress.percent)))  # 100 only once the upload is done

    def report(self, percent: int, *, force: bool = False) -> None:
        if self._plan.track_progress:
            self._writer.write(percent, force=force)
        else:
            self._writer.tick()
        job = self._repository.get(self._job_id)
        if job.status is JobStatus.CANCELLED:
            raise JobCancelled(self._job_id)
        values = [
            percent if name == self._plan.name else job.rendition_progress.get(name, 0) for name in self._plan.ladder
        ]
        share = sum(values) / (100 * len(values))
        self._overall.overall(PROGRESS_PROBED + int((PROGRESS_TRANSCODED - PROGRESS_PROBED) * share))

    def check_cancelled(self) -> None:
        if self._repository.get(self._job_id).status is JobStatus.CANCELLED:
            raise JobCancelled(self._job_id)


def segment_uris(playlist: str) -> list[str]:
    return [uri for uri, _ in _segments(playlist)]


def _segments(playlist: str) -> list[tuple[str, float]]:
    """(uri, duration) of every segment in a media playlist."""
    segments: list[tuple[str, float]] = []
    duration: float | None = None
    for raw in playlist.splitlines():
        line = raw.strip()
        if line.startswith("#EXTINF:"):
            duration = float(line[len("#EXTINF:") :].split(",")[0])
        elif line and not line.startswith("#") and duration is not None:
            segments.append((line, duration))
            duration = None
    return segments


def _measure(
    out: Path, plan: PlannedRendition, config: PipelineConfig, run: Callable[..., RunResult]
) -> dict[str, object]:
    playlist = (out / PLAYLIST).read_text()
    segments = _segments(playlist)
    if not segments:
        raise TranscodeFailed("Processing the video produced no output.")
    sizes = {name: (out / name).stat().st_size for name, _ in segments}
    peak, average = measure_media_playlist(playlist, sizes)
    # The init segment alone has no samples, so no profile or level: probe it with the first segment.
    sample = out / "first.mp4"
    sample.write_bytes((out / INIT).read_bytes() + (out / segments[0][0]).read_bytes())
    info = probe_source(sample, config.policy, run)
    sample.unlink()
    video = info.video
    if video is None:
        raise TranscodeFailed("Processing the video produced no picture.")
    return {
        "peak_bps": peak,
        "average_bps": average,
        "width": video.width,
        "height": video.height,
        "frame_rate": video.frame_rate or plan.frame_rate,
        "profile": video.profile,
        "level": video.level,
        "video_codec": video.codec_string or avc1_codec(video.profile, video.level),
        "audio_codec": AAC_LC if plan.audio and info.audio else None,
        "duration_s": round(sum(d for _, d in segments), 6),
        "segment_count": len(segments),
        "segment_durations": tuple(d for _, d in segments),
        "bytes": sum(sizes.values()) + (out / INIT).stat().st_size + (out / PLAYLIST).stat().st_size,
    }


def _upload_rendition(store: MediaStore, bucket: str, prefix: str, out: Path) -> None:
    """Init and segments first, the playlist last: a reader never sees a playlist with missing segments."""
    files = sorted(p for p in out.iterdir() if p.is_file() and p.name != PLAYLIST)
    for path in [*files, out / PLAYLIST]:
        cache = CACHE_PLAYLIST if path.suffix == ".m3u8" else CACHE_MEDIA
        store.upload(path, bucket, prefix + path.name, content_type=CONTENT_TYPES[path.suffix], cache_control=cache)
