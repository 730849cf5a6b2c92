"""Picture quality per rung: VMAF (vmaf_v0.6.1) against the source on a sample of each chunk, SSIM where the
ffmpeg has no libvmaf. Pure builders and parsers, and `measure`, which EncodeChunk runs right after a chunk's
encode while the piece and the rung outputs are still on disk (lambdas/pipeline/encode.py); PackageOutputs
adds the chunks up (`summarize`).

The sample: a window of at most SAMPLE_SECONDS from the segment start nearest the chunk's middle (a keyframe
in every rung, so each rung is decoded from the window's first frame on), every `subsample`-th frame scored
(about every 0.2 s: libvmaf `n_subsample`, its motion feature still sees every frame; SSIM: a `select`). One
scored frame per SECONDS_PER_SCORE of chunk, at most what the window holds, so the cost follows the encode's:
VMAF costs about 0.08 CPU-seconds per 1080p frame and rung with this libvmaf, more than the whole ladder's
encode of that frame. The window's first frame is a warm-up, not counted: libvmaf gives the first frame of a
run no motion (motion2 = 0), which scores it about 2 points low; the one after the last scored frame gives
that one its motion2.

The reference: the piece decoded through the very filters the encode used (ffmpeg_args.chunk_filters: the
trim, the timestamps, picture_filters, the fps that puts frame n at pts n), so frame n of the window is frame
n of every rung, deinterlaced, upright and tone-mapped alike. Scaling: each rung is
scaled up (bicubic) to the source's displayed size capped at 1080p, the reference down to that size if it is
larger: standard VMAF practice, and what vmaf_v0.6.1 was trained for (1080p shown at 3 heights). Scoring each
rung at its own size instead would hide the loss of resolution (a 360p rung against a 360p reference scores
like a 1080p one) and make the rungs incomparable.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from enum import StrEnum
from fractions import Fraction
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from lambdas.media.errors import MediaError
from lambdas.media.ffmpeg_args import (
    FFMPEG,
    OWN_FMP4_DEMUXER,
    OWN_FMP4_FORMATS,
    PIECE_FORMATS,
    chunk_filters,
    ffmpeg_head,
    input_args,
    video_piece_demuxer,
)
from lambdas.media.fmp4 import Fmp4Error, FragmentedTrack, FragmentInfo, init_bytes, read_track
from lambdas.media.geometry import Rect, even, shown_region
from lambdas.media.ladder import LadderConfig, Rendition, Rung, plan_ladder
from lambdas.media.policy import ValidationPolicy
from lambdas.media.probe import MediaInfo
from lambdas.media.runner import Limits, RunResult

SAMPLE_SECONDS = 1.0  # the longest window scored in a chunk, whatever the chunk's length
SCORE_EVERY_SECONDS = 0.2  # between scored frames: every 6th at 30 fps
SECONDS_PER_SCORE = 8.0  # one scored frame per 8 s of chunk (under 16 s: 1; from 32 s: 4 at 30 fps)
WARMUP_FRAMES = 1  # the window's first frame, scored by libvmaf without motion: left out
REFERENCE_SHORT_SIDE = 1080  # rungs are compared at the source's displayed size, at most 1080p
VMAF_MODEL = "vmaf_v0.6.1"
QUALITY_TIMEOUT_S = 120.0  # a sample takes a few seconds: far more means something is wrong
DETECT_TIMEOUT_S = 30.0
# The reference is sought (from the piece's keyframe before it) this many frames before the window, so the
# fps filter, and a deinterlacer among the picture filters, have the frame before the window to work from.
_SEEK_MARGIN_FRAMES = 2
_SSIM_ALL = re.compile(r"\bAll:(-?[0-9.]+)")
_FILTER_LINE = re.compile(r"^\s*\S+\s+(\w+)\s+\S+->\S+", re.MULTILINE)


class Metric(StrEnum):
    VMAF = "vmaf"
    SSIM = "ssim"


class RungQuality(BaseModel):
    """One rung's scores over some frames: VMAF 0-100, or SSIM (All: Y, U and V weighted) 0-1."""

    model_config = ConfigDict(frozen=True)

    metric: Metric
    mean: float
    min: float
    harmonic_mean: float  # libvmaf's: n / sum(1 / (score + 1)) - 1, pulled down by the worst frames
    frames: Annotated[int, Field(ge=1)]


class ChunkQuality(BaseModel):
    """What one video work item measured: a score per rung it encoded, or why there is none."""

    model_config = ConfigDict(frozen=True)

    rungs: dict[str, RungQuality] = Field(default_factory=dict)
    error: str | None = None  # the quality run failed (the item did not: the rungs are fine)
    cpu_seconds: float = 0.0


class QualityReport(BaseModel):
    """quality.json: every rung over every chunk, and the chunks without a score."""

    model_config = ConfigDict(frozen=True)

    metric: Metric | None  # None: no chunk was scored
    model: str | None  # the VMAF model; None for SSIM
    sample_seconds: float  # per chunk, at most
    renditions: dict[str, RungQuality]  # largest first
    chunks_scored: int
    missing: dict[str, str] = Field(default_factory=dict)  # work item -> why its chunk has no score
    cpu_seconds: float  # every quality run, added up

    @property
    def warnings(self) -> tuple[str, ...]:
        """For the job: how much of the report is missing, and the first reason (they are usually alike)."""
        if not self.missing:
            return ()
        reason = next(iter(self.missing.values()))
        total = self.chunks_scored + len(self.missing)
        return (f"Quality report incomplete: {len(self.missing)} of {total} work items not scored ({reason}).",)


class Sample(BaseModel):
    """The window: `frames` frames from `first` (counted within the chunk), every `subsample`-th one scored,
    the first one (a warm-up) left out."""

    model_config = ConfigDict(frozen=True)

    first: Annotated[int, Field(ge=0)]
    frames: Annotated[int, Field(ge=2)]
    subsample: Annotated[int, Field(ge=1)]

    @property
    def scored(self) -> int:
        """Frames counted: indices subsample, 2 * subsample, … of the window."""
        return (self.frames - 1) // self.subsample


def plan_sample(
    chunk_frames: int,
    segment_frames: int,
    rate: Fraction,
    *,
    seconds: float = SAMPLE_SECONDS,
    every_s: float = SCORE_EVERY_SECONDS,
    per_score_s: float = SECONDS_PER_SCORE,
) -> Sample:
    """Where a chunk of `chunk_frames` frames is scored (see the module's docstring)."""
    if chunk_frames < 2 or segment_frames < 1:
        raise ValueError("a chunk too short to score (fewer than 2 frames)")
    subsample = max(1, min(round(every_s * rate), chunk_frames - 2))
    most = max(1, (min(round(seconds * rate), chunk_frames) - 2) // subsample)
    wanted = max(1, math.floor(chunk_frames / (per_score_s * rate)))
    scored = min(wanted, most)
    frames = min(chunk_frames, WARMUP_FRAMES + scored * subsample + 1)
    centred = (chunk_frames - frames) // 2
    boundary = segment_frames * math.floor(Fraction(centred, segment_frames) + Fraction(1, 2))
    first = boundary if boundary + frames <= chunk_frames else centred
    return Sample(first=first, frames=frames, subsample=subsample)


def reference_size(info: MediaInfo) -> tuple[int, int]:
    """The source's picture as shown (rotation and pixel aspect applied), at most 1080p, sized like a rung."""
    rung = Rung(name="reference", short_side=REFERENCE_SHORT_SIDE, maxrate_kbps=1)
    (reference,) = plan_ladder(info, config=LadderConfig(rungs=(rung,)))
    return reference.width, reference.height


class Comparison(BaseModel):
    """What is compared, like with like: the source's part the rungs show (`source_crop` of its upright pixels;
    None: all of it) and each rung's picture (`rung_crops`: the part of its frame the picture fills, without a
    pad fit's bars; None: the whole frame), both scaled to `size`."""

    model_config = ConfigDict(frozen=True)

    size: tuple[int, int]
    source_crop: Rect | None = None
    rung_crops: tuple[Rect | None, ...] = ()


def comparison(info: MediaInfo, renditions: Sequence[Rendition]) -> Comparison:
    """How a chunk's rungs are scored: at the shown source's resolution, at most 1080p (`reference_size`).

    A pad fit's rungs are scored on their picture only (the black bars would score as perfect); a crop fit's
    against the same centre of the source (a preset's frames share one shape, so one crop serves every rung).
    """
    geometries = [r.geometry for r in renditions]
    crop = next((g.crop for g in geometries if g is not None and g.crop is not None), None)
    if crop is None or info.video is None:
        return Comparison(size=reference_size(info), rung_crops=tuple(g.picture if g else None for g in geometries))
    width, height = shown_region(info.video, crop)
    shrink = min(Fraction(1), Fraction(REFERENCE_SHORT_SIDE) / min(width, height))
    return Comparison(
        size=(even(width * shrink), even(height * shrink)),
        source_crop=crop,
        rung_crops=(None,) * len(renditions),
    )


def _crop(rect: Rect | None) -> list[str]:
    return [] if rect is None else [f"crop={rect.width}:{rect.height}:{rect.x}:{rect.y}"]


def quality_log(metric: Metric, index: int) -> str:
    """The file the filter for the `index`-th rung writes, in the run's working directory."""
    return f"quality_{index}.json" if metric is Metric.VMAF else f"quality_{index}.log"


class Clip(BaseModel):
    """A rung's part that holds the window: its init and the fragments from the one the window starts in.

    A fragmented MP4 has no index to seek by: ffmpeg would decode each rung from the chunk's start.
    """

    model_config = ConfigDict(frozen=True)

    path: Path
    skip: Annotated[int, Field(ge=0)]  # frames before the window's first


def clip_fragments(track: FragmentedTrack, sample: Sample) -> tuple[tuple[FragmentInfo, ...], int]:
    """The fragments that hold the window, and how many frames of the first come before it.

    Frames are counted in each fragment's samples: every fragment is a closed GOP (ffmpeg_args._x264), so
    its frames in display order are the next `sample_count` frames of the chunk.
    """
    chosen: list[FragmentInfo] = []
    skip = 0
    frame = 0
    end = sample.first + sample.frames
    for fragment in track.fragments:
        following = frame + fragment.sample_count
        if following > sample.first and frame < end:
            if not chosen:
                skip = sample.first - frame
            chosen.append(fragment)
        frame = following
    if not chosen:
        raise ValueError(f"the rung has {frame} frames, the window starts at frame {sample.first}")
    return tuple(chosen), skip


def write_clip(output: Path, dest: Path, sample: Sample) -> Clip:
    """`dest`: the part of a rung's fragmented MP4 that holds the window (init, then its fragments as they are)."""
    track = read_track(output)
    fragments, skip = clip_fragments(track, sample)
    with output.open("rb") as source, dest.open("wb") as sink:
        sink.write(init_bytes(output, track))
        for fragment in fragments:
            source.seek(fragment.offset)
            data = source.read(fragment.size)
            if len(data) != fragment.size:
                raise Fmp4Error(f"{output.name} ends inside a fragment")
            sink.write(data)
    return Clip(path=dest, skip=skip)


def quality_argv(
    piece: Path,
    info: MediaInfo,
    policy: ValidationPolicy,
    clips: Sequence[Clip],
    *,
    rate: Fraction,
    start: float,
    frames: int | None,
    sample: Sample,
    reference: tuple[int, int],
    metric: Metric,
    source_crop: Rect | None = None,
    rung_crops: Sequence[Rect | None] = (),
) -> list[str]:
    """One process that scores every rung of a chunk on `sample`, the reference decoded once.

    `piece`, `start` and `frames` are what the chunk's encode had (ffmpeg_args.chunk_argv), `clips` the
    parts of the rungs it wrote that hold the window (`write_clip`). Every input is hardened (input_args):
    the piece read only as Matroska, the clips only as our own MP4, each with the probed decoders only.
    Run in the directory the logs go to.
    """
    if not clips:
        raise ValueError("no rung to score")
    width, height = reference
    subsample = sample.subsample
    ref_seek = float((sample.first - _SEEK_MARGIN_FRAMES) / rate)
    argv = [
        *ffmpeg_head(progress=False),
        # The piece starts at or before the chunk: sought relative to its start, it starts early, never late.
        *input_args(
            piece,
            info,
            policy,
            seek=ref_seek if ref_seek > 0 else None,
            copyts=True,
            demuxer=video_piece_demuxer(info),
            formats=PIECE_FORMATS,
        ),
    ]
    for clip in clips:
        argv += input_args(clip.path, info, policy, demuxer=OWN_FMP4_DEMUXER, formats=OWN_FMP4_FORMATS)
    # SSIM has no temporal feature: the frames it skips are dropped before scaling. libvmaf's motion
    # feature needs every frame, so it gets them all and scores every `subsample`-th (n_subsample).
    thin = [rf"select=not(mod(n\,{subsample}))*gte(n\,{WARMUP_FRAMES})"] if metric is Metric.SSIM else []
    fit = [f"scale={width}:{height}:flags=bicubic", "setsar=1", "format=yuv420p"]
    window = [f"trim=start_pts={sample.first}:end_pts={sample.first + sample.frames}", "setpts=PTS-STARTPTS"]
    references = [f"ref{i}" for i in range(len(clips))]
    chunk = chunk_filters(info, rate=rate, start=start, frames=frames)
    graph = "[0:v:0]" + ",".join([*chunk, *window, *thin, *_crop(source_crop), *fit])
    graph += f",split={len(clips)}" if len(clips) > 1 else ""
    graph += "".join(f"[{label}]" for label in references)
    for i, (label, clip) in enumerate(zip(references, clips, strict=True)):
        rung = [f"trim=start_frame={clip.skip}:end_frame={clip.skip + sample.frames}", "setpts=PTS-STARTPTS"]
        rung += [*thin, *_crop(rung_crops[i] if i < len(rung_crops) else None), *fit]
        graph += f";[{i + 1}:v:0]" + ",".join(rung) + f"[dist{i}]"
        if metric is Metric.VMAF:
            options = f"model=version={VMAF_MODEL}:n_subsample={subsample}:log_fmt=json"
            graph += f";[dist{i}][{label}]libvmaf={options}:log_path={quality_log(metric, i)}[q{i}]"
        else:
            graph += f";[dist{i}][{label}]ssim=stats_file={quality_log(metric, i)}[q{i}]"
    argv += ["-filter_complex", graph]
    for i in range(len(clips)):
        argv += ["-map", f"[q{i}]", "-f", "null", "-"]
    return argv


def filters_argv() -> list[str]:
    return [FFMPEG, "-hide_banner", "-nostdin", "-filters"]


def metric_from_filters(listing: str) -> Metric | None:
    """What `ffmpeg -filters` offers: VMAF if it lists libvmaf, else SSIM if it lists ssim, else None."""
    names = set(_FILTER_LINE.findall(listing))
    if "libvmaf" in names:
        return Metric.VMAF
    return Metric.SSIM if "ssim" in names else None


def parse_vmaf_log(text: str, *, warmup: int = WARMUP_FRAMES) -> RungQuality:
    """libvmaf's JSON log (log_fmt=json) -> the rung's scores, frames before `warmup` left out.

    Pooled from the per-frame scores, not read from `pooled_metrics`: libvmaf 2.3.0 pools only some of
    the frames when n_subsample is above 1 (the mean of frames 0 and 5 of 0, 5, …, 25 with n_subsample=5).
    """
    try:
        data = json.loads(text)
        frames = [(int(f["frameNum"]), float(f["metrics"]["vmaf"])) for f in data["frames"]]
    except (ValueError, KeyError, TypeError) as error:
        raise ValueError(f"unexpected libvmaf log ({error!r})") from error
    return _pooled(Metric.VMAF, [score for number, score in frames if number >= warmup])


def parse_ssim_stats(text: str) -> RungQuality:
    """The ssim filter's stats_file, one line per frame ("n:1 Y:0.99 U:0.99 V:0.99 All:0.99 (20.1)")."""
    return _pooled(Metric.SSIM, [float(m.group(1)) for m in map(_SSIM_ALL.search, text.splitlines()) if m])


def _pooled(metric: Metric, scores: Sequence[float]) -> RungQuality:
    if not scores or not all(math.isfinite(s) for s in scores):
        raise ValueError(f"no {metric.value.upper()} score for any frame")
    harmonic = len(scores) / sum(1 / (s + 1) for s in scores) - 1
    return RungQuality(
        metric=metric,
        mean=round(sum(scores) / len(scores), 6),
        min=round(min(scores), 6),
        harmonic_mean=round(harmonic, 6),
        frames=len(scores),
    )


def combine(parts: Iterable[RungQuality]) -> RungQuality | None:
    """One rung over several chunks: the frame-weighted mean, the lowest frame, the harmonic mean of every frame.

    VMAF and SSIM do not mix: where some chunks have VMAF, the SSIM of others is left out.
    """
    scored = list(parts)
    if any(p.metric is Metric.VMAF for p in scored):
        scored = [p for p in scored if p.metric is Metric.VMAF]
    if not scored:
        return None
    frames = sum(p.frames for p in scored)
    return RungQuality(
        metric=scored[0].metric,
        mean=round(sum(p.mean * p.frames for p in scored) / frames, 6),
        min=min(p.min for p in scored),
        harmonic_mean=round(frames / sum(p.frames / (p.harmonic_mean + 1) for p in scored) - 1, 6),
        frames=frames,
    )


def summarize(chunks: Mapping[str, ChunkQuality], renditions: Sequence[str]) -> QualityReport:
    """Every video work item's scores (by item id) -> the job's report, rungs in the order given."""
    combined = {name: combine(c.rungs[name] for c in chunks.values() if name in c.rungs) for name in renditions}
    rungs = {name: quality for name, quality in combined.items() if quality is not None}
    metrics = {q.metric for q in rungs.values()}
    metric = Metric.VMAF if Metric.VMAF in metrics else (Metric.SSIM if metrics else None)
    return QualityReport(
        metric=metric,
        model=VMAF_MODEL if metric is Metric.VMAF else None,
        sample_seconds=SAMPLE_SECONDS,
        renditions=rungs,
        chunks_scored=sum(1 for c in chunks.values() if c.rungs),
        missing={item: c.error for item, c in chunks.items() if c.error is not None},
        cpu_seconds=round(sum(c.cpu_seconds for c in chunks.values()), 3),
    )


# libvmaf costs ~0.08 CPU-s per 1080p frame per rung here: on a 4 s chunk the score is ~20 % of its encode.
# A job's report needs a sample, not every chunk: at most this many chunks, spread evenly, are scored.
MAX_SCORED_CHUNKS = 12


def scored_chunk(index: int, chunks: int, limit: int = MAX_SCORED_CHUNKS) -> bool:
    """Whether chunk `index` of `chunks` is one of the (at most `limit`, evenly spread) scored ones."""
    return index % max(1, math.ceil(chunks / limit)) == 0


def quality_timeout(run_timeout: float, encode_elapsed_s: float) -> float:
    """What the quality run may take: what is left of the item's ffmpeg budget after its encode, at most a cap."""
    return max(1.0, min(QUALITY_TIMEOUT_S, run_timeout - encode_elapsed_s))


def _clip_name(index: int) -> str:
    return f"quality_clip_{index}.mp4"


_detected: dict[str, Metric | None] = {}


def available_metric(run: Callable[..., RunResult], cwd: Path) -> Metric | None:
    """VMAF or SSIM, whichever this ffmpeg has: asked once per process (a failed question is asked again)."""
    if "metric" not in _detected:
        result = run(filters_argv(), cwd=cwd, timeout=DETECT_TIMEOUT_S, check=False)
        if result.returncode != 0:
            return None
        _detected["metric"] = metric_from_filters(result.stdout)
    return _detected["metric"]


def measure(
    piece: Path,
    info: MediaInfo,
    policy: ValidationPolicy,
    rungs: Sequence[tuple[str, Path]],
    *,
    rate: Fraction,
    start: float,
    frames: int | None,
    chunk_frames: int,
    segment_frames: int,
    cwd: Path,
    timeout: float,
    run: Callable[..., RunResult],
    limits: Limits | None = None,
    metric: Metric | None = None,
    renditions: Sequence[Rendition] = (),
) -> ChunkQuality:
    """Score each rung (name, its output) of a chunk just encoded; never raises for a failed quality run.

    `piece`, `start` and `frames` are the chunk encode's; `chunk_frames` the planned frames of the chunk.
    `metric` None: VMAF if this ffmpeg has libvmaf, else SSIM. A failure is returned as `error`, for the
    job's warnings: the rungs themselves are fine, and the job goes on without their scores.
    """
    chosen: Metric | None = metric
    try:
        chosen = chosen or available_metric(run, cwd)
        if chosen is None:
            return ChunkQuality(error="this ffmpeg has neither libvmaf nor ssim")
        sample = plan_sample(chunk_frames, segment_frames, rate)
        clips = [write_clip(out, cwd / _clip_name(i), sample) for i, (_, out) in enumerate(rungs)]
        compared = comparison(info, renditions) if renditions else Comparison(size=reference_size(info))
        argv = quality_argv(
            piece,
            info,
            policy,
            clips,
            rate=rate,
            start=start,
            frames=frames,
            sample=sample,
            reference=compared.size,
            metric=chosen,
            source_crop=compared.source_crop,
            rung_crops=compared.rung_crops,
        )
        used = run(argv, cwd=cwd, timeout=timeout, limits=limits)
        parse = parse_vmaf_log if chosen is Metric.VMAF else parse_ssim_stats
        scores = {name: parse((cwd / quality_log(chosen, i)).read_text()) for i, (name, _) in enumerate(rungs)}
        return ChunkQuality(rungs=scores, cpu_seconds=used.cpu_s)
    except (MediaError, OSError, ValueError) as error:
        return ChunkQuality(error=f"{chosen.value.upper() if chosen else 'Quality'} not measured: {error}")
    finally:
        for i in range(len(rungs)):
            (cwd / _clip_name(i)).unlink(missing_ok=True)
            for kind in Metric:
                (cwd / quality_log(kind, i)).unlink(missing_ok=True)
