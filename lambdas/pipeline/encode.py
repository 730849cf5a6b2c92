"""EncodeChunk: one work item of the plan (a chunk of video for one or all rungs, or one whole audio track) to CMAF.

ffmpeg writes one fragmented MP4 per track, one fragment per segment, with decode times from zero; the
fragments are cut out, their decode times moved to the chunk's place on the job's timeline, numbered by
their global segment number and uploaded under deterministic keys, so a retried item rewrites exactly
the same objects. The result (segment sizes and durations) goes to the work bucket for PackageOutputs.
"""

from __future__ import annotations

import math
import time
from bisect import bisect_right
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from lambdas import keys
from lambdas.jobs.model import Clock, Job, JobStep, utc_now
from lambdas.jobs.ports import JobNotProcessing, JobRepository
from lambdas.media.chunking import Chunk, ItemKind, WorkItem, frame_ticks
from lambdas.media.errors import MediaError, SourceUnreadable, TranscodeFailed
from lambdas.media.ffmpeg_args import audio_alignment, audio_argv, chunk_argv, video_piece_demuxer
from lambdas.media.fmp4 import (
    Fmp4Error,
    FragmentedTrack,
    FragmentInfo,
    NoSamples,
    init_bytes,
    read_track,
    write_segment,
)
from lambdas.media.manifests import avc1_codec
from lambdas.media.probe import probe_source
from lambdas.media.progress import Progress
from lambdas.media.quality import ChunkQuality, quality_timeout, scored_chunk
from lambdas.media.quality import measure as measure_quality
from lambdas.media.runner import Limits, RunResult
from lambdas.media.runner import run as run_ffmpeg
from lambdas.pipeline.audio_files import Downloads, make_downloads
from lambdas.pipeline.config import CACHE_MEDIA, JobRef, PipelineConfig
from lambdas.pipeline.errors import transient_errors
from lambdas.pipeline.job_guard import running_job, stopped, withdrawn_if_stopped
from lambdas.pipeline.plan import EncodePlan, ItemResult, SegmentResult, TrackResult, load_plan, save_json
from lambdas.pipeline.preview import publish_preview
from lambdas.pipeline.progress import (
    ProgressWriter,
    encode_progress,
    estimated_end,
    overall_percent,
    rendition_progress,
    step_events,
)
from lambdas.pipeline.workspace import workspace
from lambdas.storage.ports import MediaStore

AAC_LC = "mp4a.40.2"
SEGMENT_TYPE = "video/iso.segment"
_FRAGMENTS_PER_SEGMENT = 16
VIDEO_LIMITS = Limits(niceness=10)  # the audio item, which every preview waits for, goes first on shared CPUs


Files = list[Path]


class EncodeRequest(BaseModel):
    """One Distributed Map item as the state machine builds it: the job, where the plan is, which item."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    job: JobRef
    plan_bucket: str
    plan_key: str
    item_id: str


class EncodeResult(BaseModel):
    """What the Map collects per item: small on purpose (the details are in the work bucket)."""

    model_config = ConfigDict(frozen=True)

    item_id: str
    segments: int
    cpu_seconds: float


def encode(
    request: EncodeRequest,
    repository: JobRepository,
    store: MediaStore,
    config: PipelineConfig,
    *,
    clock: Clock = utc_now,
    time_budget_s: float | None = None,
    monotonic: Callable[[], float] = time.monotonic,
    run: Callable[..., RunResult] = run_ffmpeg,
) -> EncodeResult:
    job_id = request.job.job_id
    timeout = config.ffmpeg_timeout(time_budget_s)
    with transient_errors(), workspace(f"encode-{request.item_id}") as tmp:
        job = running_job(repository, job_id)
        plan = load_plan(store, request.plan_bucket, request.plan_key, tmp)
        item = plan.chunks.item(request.item_id)
        done_before = repository.work_done(job_id, plan.attempt)
        reporter = _Reporter(
            repository=repository,
            job_id=job_id,
            plan=plan,
            item=item,
            done=done_before,
            started=job.started_at,
            clock=clock,
            monotonic=monotonic,
        )
        with step_events(repository, job_id, JobStep.TRANSCODE, clock=clock, detail=describe(plan, item)):
            started = monotonic()
            work = _Work(plan, store, config, tmp, timeout, run, reporter.on_progress)
            quality = ChunkQuality()
            tracks: dict[str, tuple[TrackResult, Files]]
            if item.kind is ItemKind.DOWNLOADS:
                tracks, used = {}, _downloads(work, job, repository)
            elif item.kind is ItemKind.AUDIO:
                tracks, used = _encode_audio(work, item)
            else:
                tracks, used, quality = _encode_video(work, item)
            result = ItemResult(
                item_id=item.item_id,
                tracks={name: track for name, (track, _) in tracks.items()},
                cpu_seconds=used.cpu_s,
                elapsed_seconds=monotonic() - started,
                quality=quality,
            )
            prefix = keys.stream_prefix(job_id, private=job.private)
            with withdrawn_if_stopped(repository, store, job_id, config.outputs_bucket, prefix):
                for name, (_, files) in tracks.items():
                    for path in files:
                        store.upload(
                            path,
                            config.outputs_bucket,
                            keys.track_prefix(job_id, name, private=job.private) + path.name,
                            content_type="video/mp4" if path.name == keys.INIT_SEGMENT else SEGMENT_TYPE,
                            cache_control=CACHE_MEDIA,
                        )
                        path.unlink()
            # The result last: PackageOutputs trusts that a result means every segment it lists is stored.
            save_json(store, config.work_bucket, keys.result_key(job_id, plan.attempt, item.item_id), result, tmp)
        done = repository.record_work_done(job_id, plan.attempt, item.item_id)
        reporter.finished(done)
        publish_preview(plan, done, repository=repository, store=store, config=config, tmp=tmp, private=job.private)
    return EncodeResult(
        item_id=item.item_id, segments=sum(len(t.segments) for t in result.tracks.values()), cpu_seconds=used.cpu_s
    )


def describe(plan: EncodePlan, item: WorkItem) -> str:
    """The work item as events name it: "audio" (the only track), "audio 2/3: fra", or
    "chunk 3/20 (segments 12-15): 1080p, 720p"."""
    if item.kind is ItemKind.DOWNLOADS:
        return "audio downloads"
    if item.chunk is None:
        tracks = plan.audio
        if len(tracks) <= 1:
            return "audio"
        position = next((n for n, t in enumerate(tracks) if t.track == item.item_id), None)
        if position is None:
            return item.item_id
        return f"audio {position + 1}/{len(tracks)}: {tracks[position].name}"
    chunk = plan.chunks.chunk(item.chunk)
    last = chunk.first_segment + chunk.segments - 1
    return f"chunk {chunk.index + 1}/{len(plan.chunks.chunks)} (segments {chunk.first_segment}-{last}): " + ", ".join(
        item.renditions
    )


@dataclass(frozen=True)
class _Work:
    """What encoding one item needs besides the item itself."""

    plan: EncodePlan
    store: MediaStore
    config: PipelineConfig
    tmp: Path
    timeout: float
    run: Callable[..., RunResult]
    on_progress: Callable[[Progress], None]

    def parts(
        self,
    ) -> tuple[
        EncodePlan, MediaStore, PipelineConfig, Path, float, Callable[..., RunResult], Callable[[Progress], None]
    ]:
        return self.plan, self.store, self.config, self.tmp, self.timeout, self.run, self.on_progress


Encoded = tuple[dict[str, tuple[TrackResult, Files]], RunResult]


def _encode_video(work: _Work, item: WorkItem) -> tuple[*Encoded, ChunkQuality]:
    plan, store, config, tmp, timeout, run, on_progress = work.parts()
    assert item.chunk is not None
    chunk = plan.chunks.chunk(item.chunk)
    rate = plan.chunks.rate
    piece = tmp / "piece.mkv"
    store.download(config.work_bucket, keys.piece_key(plan.job_id, plan.attempt, chunk.index), piece)
    renditions = [plan.rendition(name) for name in item.renditions]
    outputs = [tmp / f"{r.name}.mp4" for r in renditions]
    start = plan.media.start_time + chunk.start_s(rate)
    # The last chunk may hold a little more than the container said, never an unbounded amount; a clip's ends
    # exactly where its window does.
    frames = chunk.frames + (plan.chunks.segment_frames if chunk.last and plan.clip is None else 0)
    used = run(
        chunk_argv(
            piece,
            plan.media,
            config.policy,
            renditions,
            outputs,
            rate=rate,
            segment_frames=plan.chunks.segment_frames,
            start=start,
            frames=frames,
            demuxer=video_piece_demuxer(plan.media),
        ),
        cwd=tmp,
        timeout=timeout,
        on_progress=on_progress,
        duration=chunk.end_s(rate) - chunk.start_s(rate),
        limits=VIDEO_LIMITS,
    )
    # Scored while the piece and the rungs are on disk; a failed quality run is recorded, never raised.
    scored = scored_chunk(chunk.index, len(plan.chunks.chunks))
    quality = (
        ChunkQuality()
        if not scored
        else measure_quality(
            piece,
            plan.media,
            config.policy,
            [(r.name, out) for r, out in zip(renditions, outputs, strict=True)],
            rate=rate,
            start=start,
            frames=frames,
            chunk_frames=chunk.frames,
            segment_frames=plan.chunks.segment_frames,
            cwd=tmp,
            timeout=quality_timeout(timeout, used.elapsed_s),
            run=run,
            limits=VIDEO_LIMITS,
            renditions=renditions,  # a box rung is scored on its picture (lambdas/media/quality.comparison)
        )
    )
    piece.unlink()
    ticks = frame_ticks(rate)
    shift = chunk.start_frame * ticks
    starts = [k * plan.chunks.segment_frames * ticks for k in range(chunk.segments)]
    tracks: dict[str, tuple[TrackResult, Files]] = {}
    for rendition, out in zip(renditions, outputs, strict=True):
        # No sample at all: the piece holds no frame of this chunk, so the source ends before it says.
        ends_early = SourceUnreadable(
            "The file could not be read: it looks truncated or corrupt (it says it is "
            f"{plan.media.duration or 0:g} s long, but holds no picture from {chunk.start_s(rate):g} s on)."
        )
        track = _read(out, empty=ends_early)
        base = track.fragments[0].decode_time if track.fragments else 0
        groups = _groups(track, starts, base=base)
        _check_chunk(groups, starts, base, chunk, rendition.name)
        files, segments = _cut(
            out,
            groups,
            track,
            tmp / rendition.name,
            first=chunk.first_segment,
            shift=shift,
            base=base,
            init=chunk.index == 0,
        )
        measured: dict[str, object] = {}
        if chunk.index == 0:
            measured = _measure_video(tmp / rendition.name, files, config, run)
        tracks[rendition.name] = (
            TrackResult(timescale=track.timescale, segments=segments, **measured),  # type: ignore[arg-type]
            files,
        )
        out.unlink()
    return tracks, used, quality


def _downloads(work: _Work, job: Job, repository: JobRepository) -> RunResult:
    """The job's audio downloads, from the default track's piece (lambdas/pipeline/audio_files.py)."""
    plan, store, config, tmp, timeout, run, _ = work.parts()
    piece = tmp / "downloads.mka"
    store.download(config.work_bucket, keys.audio_piece_key(plan.job_id, plan.attempt, keys.AUDIO_TRACK), piece)
    cpu = make_downloads(job, plan, piece, Downloads(repository, store, config, tmp, timeout, run))
    piece.unlink()
    return RunResult(argv=(), returncode=0, stdout="", stderr_tail=(), elapsed_s=0.0, cpu_s=cpu)


def _encode_audio(work: _Work, item: WorkItem) -> Encoded:
    """One audio track, whole: its piece to one AAC CMAF track in the track's own directory."""
    plan, store, config, tmp, timeout, run, on_progress = work.parts()
    name = plan.audio_track(item.item_id).track
    piece = tmp / f"{name}.mka"
    store.download(config.work_bucket, keys.audio_piece_key(plan.job_id, plan.attempt, name), piece)
    out = tmp / f"{name}.mp4"
    rate = plan.chunks.rate
    duration = float(plan.chunks.total_frames / rate)
    segment_s = float(plan.chunks.segment_frames / rate)
    used = run(
        audio_argv(
            piece,
            plan.media,
            config.policy,
            plan.renditions[0],
            out,
            start=plan.media.start_time,
            duration=duration,
            fragment_s=segment_s,
        ),
        cwd=tmp,
        timeout=timeout,
        on_progress=on_progress,
        duration=duration,
    )
    piece.unlink()
    track = _read(out, empty=TranscodeFailed("Processing the audio produced no output."))
    # Audio segments start at the first audio frame at or after each video segment's start.
    starts = [math.floor(k * segment_s * track.timescale) for k in range(plan.chunks.segment_count)]
    base = track.fragments[0].decode_time
    groups = _groups(track, starts, base=base)
    shift = audio_alignment(rate, track.timescale)
    files, segments = _cut(out, groups, track, tmp / name, first=0, shift=shift, base=base, init=True)
    out.unlink()
    result = TrackResult(timescale=track.timescale, segments=segments, codec=AAC_LC)
    return {name: (result, files)}, used


def _read(path: Path, *, empty: MediaError) -> FragmentedTrack:
    """The encoder's fragmented MP4; `empty` is what it means when ffmpeg wrote no sample at all."""
    try:
        return read_track(path)
    except NoSamples as error:
        raise empty from error
    except Fmp4Error as error:
        raise TranscodeFailed(f"Processing the video produced an unreadable segment ({error}).") from error


def _groups(track: FragmentedTrack, starts: list[int], *, base: int) -> list[list[FragmentInfo]]:
    """Fragments grouped into segments: segment k takes every fragment from `starts[k]` (ticks) to the next.

    ffmpeg cuts a fragment at each keyframe (video) or about every segment (audio); a segment is one or
    more of them (a CMAF segment may hold several fragments), so a trailing sliver joins the last segment.
    """
    groups: list[list[FragmentInfo]] = [[] for _ in starts]
    for fragment in track.fragments:
        index = max(0, bisect_right(starts, fragment.decode_time - base) - 1)
        groups[index].append(fragment)
    return [g for g in groups if g]


def _check_chunk(groups: list[list[FragmentInfo]], starts: list[int], base: int, chunk: Chunk, name: str) -> None:
    """Each planned segment starts exactly on its grid position with a keyframe; an inner chunk has all of them."""
    if not groups or (not chunk.last and len(groups) != len(starts)):
        raise TranscodeFailed(f"{name}: chunk {chunk.index} produced {len(groups)} segments, {chunk.segments} planned.")
    for number, (group, start) in enumerate(zip(groups, starts, strict=False)):
        head = group[0]
        if head.decode_time - base != start or not head.starts_with_sync:
            raise TranscodeFailed(
                f"{name}: segment {chunk.first_segment + number} does not start on a keyframe at its place."
            )


def _cut(
    source: Path,
    groups: list[list[FragmentInfo]],
    track: FragmentedTrack,
    directory: Path,
    *,
    first: int,
    shift: int,
    base: int,
    init: bool,
) -> tuple[Files, tuple[SegmentResult, ...]]:
    """Init (if asked) and one file per segment, decode times moved by `shift - base`, fragments renumbered."""
    directory.mkdir(exist_ok=True)
    files: Files = []
    if init:
        path = directory / keys.INIT_SEGMENT
        path.write_bytes(init_bytes(source, track))
        files.append(path)
    segments: list[SegmentResult] = []
    part = directory / "fragment.part"
    for offset, group in enumerate(groups):
        number = first + offset
        path = directory / keys.segment_name(number)
        with path.open("wb") as sink:
            for index, fragment in enumerate(group):
                # Sequence numbers only need to increase: leave room for a few fragments per segment.
                write_segment(
                    source, fragment, part, shift=shift - base, sequence=number * _FRAGMENTS_PER_SEGMENT + index + 1
                )
                sink.write(part.read_bytes())
        part.unlink(missing_ok=True)
        files.append(path)
        segments.append(
            SegmentResult(
                number=number,
                start_ticks=group[0].decode_time - base + shift,
                ticks=sum(f.duration for f in group),
                bytes=path.stat().st_size,
            )
        )
    return files, tuple(segments)


def _measure_video(
    directory: Path, files: Files, config: PipelineConfig, run: Callable[..., RunResult]
) -> dict[str, object]:
    """Codec string and picture size as the output says (init plus its first segment, probed together)."""
    sample = directory / "first.mp4"
    sample.write_bytes(files[0].read_bytes() + files[1].read_bytes())
    info = probe_source(sample, config.policy.format_whitelist, run)
    sample.unlink()
    video = info.video
    if video is None:
        raise TranscodeFailed("Processing the video produced no picture.")
    return {
        "codec": video.codec_string or avc1_codec(video.profile, video.level),
        "width": video.width,
        "height": video.height,
    }


class _Reporter:
    """ffmpeg progress -> the job's weighted overall progress (and ETA), at most every ~2 s; per rung at the end."""

    def __init__(
        self,
        *,
        repository: JobRepository,
        job_id: str,
        plan: EncodePlan,
        item: WorkItem,
        done: frozenset[str],
        started: datetime | None,
        clock: Clock,
        monotonic: Callable[[], float],
    ) -> None:
        self._repository, self._job_id, self._plan, self._item = repository, job_id, plan, item
        self._done, self._started, self._clock = done, started, clock
        self._writer = ProgressWriter(repository, job_id, JobStep.TRANSCODE, monotonic=monotonic)

    def on_progress(self, progress: Progress) -> None:
        if progress.percent is None or not self._writer.due():
            return
        self._writer.tick()
        share = encode_progress(self._plan.chunks, self._done, {self._item.item_id: min(0.99, progress.percent / 100)})
        self._write(share)

    def finished(self, done: frozenset[str]) -> None:
        self._write(encode_progress(self._plan.chunks, done))
        tracked = {r.name for r in self._plan.renditions if r.track_progress}
        for name, percent in rendition_progress(self._plan.chunks, done).items():
            if name in tracked and name in self._item.renditions:
                self._write_rendition(name, percent)

    def _write(self, share: float) -> None:
        now = self._clock()
        eta = estimated_end(self._started, share, now)
        try:
            self._repository.update_progress(self._job_id, JobStep.TRANSCODE, overall_percent(share), eta_at=eta)
        except JobNotProcessing as error:
            raise stopped(error) from None

    def _write_rendition(self, name: str, percent: int) -> None:
        try:
            self._repository.update_progress(self._job_id, JobStep.TRANSCODE, percent, name)
        except JobNotProcessing as error:
            raise stopped(error) from None
