"""Segment-parallel planning: the source cut on the segment grid into chunks, and the work items that encode them.

Every quantity is counted in frames of the output frame rate, so chunk joins fall exactly on segment
starts at any rate (29.97 fps has no whole number of frames per second). A work item encodes one chunk,
either the whole ladder in one process (one decode: the cheapest in CPU) or one rendition (more items in
flight for a short source); each audio track is one item over the whole source, never cut.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from enum import StrEnum
from fractions import Fraction
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from lambdas.media.errors import PolicyViolation

DEFAULT_MAX_PIECE_BYTES = 1 << 30  # the most of the source one work item downloads
REFERENCE_PIXEL_RATE = 1920 * 1080 * 30  # pixels per second of 1080p30, the unit of the cost model
_STANDARD_RATES = tuple(
    Fraction(n, d)
    for n, d in (
        (24000, 1001),
        (24, 1),
        (25, 1),
        (30000, 1001),
        (30, 1),
        (48, 1),
        (50, 1),
        (60000, 1001),
        (60, 1),
        (15, 1),
        (12, 1),
        (10, 1),
    )
)


class CostModel(BaseModel):
    """CPU-seconds per second of source, x264 `veryfast` with a capped CRF (bench/segment_parallel.py measures it).

    Linear in the pixel rate: a 1080p30 rung costs `encode_per_reference`, decoding a 1080p30 source
    `decode_per_reference` (paid once per work item). `safety` covers real footage, which costs more than
    the test card the constants were measured on.
    """

    model_config = ConfigDict(frozen=True)

    encode_per_reference: float = 1.0
    decode_per_reference: float = 0.35
    # PQ/HLG -> SDR (lambdas/media/picture.py): 3.07 CPU-s against 0.82 for the bare decode of 3 s of 1080p30
    # HEVC 10-bit (measured on a loaded 2-core machine), so about 0.75 per second of 1080p30 on top.
    tone_map_per_reference: float = 0.75
    audio_per_second: float = 0.025  # native AAC, twoloop: 0.012 on speech or music, 0.05 on a pure test tone
    safety: float = 2.0
    item_overhead_cpu_s: float = 1.0  # process start, a source GOP decoded before the chunk starts

    def encode(self, width: int, height: int, rate: float) -> float:
        return self.encode_per_reference * width * height * rate / REFERENCE_PIXEL_RATE

    def decode(self, width: int, height: int, rate: float, *, tone_mapped: bool = False) -> float:
        """Decoding the source, and for HDR its tone map (zimg in float RGB: twice the decode again)."""
        per_reference = self.decode_per_reference + (self.tone_map_per_reference if tone_mapped else 0.0)
        return per_reference * width * height * rate / REFERENCE_PIXEL_RATE


DEFAULT_COSTS = CostModel()


class WorkerBudget(BaseModel):
    """What one worker invocation may spend: its timeout, the CPUs its memory buys, a share kept in reserve."""

    model_config = ConfigDict(frozen=True)

    timeout_s: Annotated[float, Field(gt=0)]
    vcpus: Annotated[float, Field(gt=0)]
    utilisation: Annotated[float, Field(gt=0, le=1)] = 0.5  # the rest: download, upload, a slow neighbour

    @property
    def cpu_seconds(self) -> float:
        return self.timeout_s * self.vcpus * self.utilisation


class Shape(BaseModel):
    """A rendition's picture as the planner needs it."""

    model_config = ConfigDict(frozen=True)

    name: str
    width: int
    height: int


class ItemKind(StrEnum):
    VIDEO = "video"
    AUDIO = "audio"
    DOWNLOADS = "downloads"  # the audio downloads (lambdas/pipeline/audio_files.py), from the default track's piece


AUDIO_ITEM = "audio"  # the default audio track's item (and its directory beside the renditions')
# Its own item, beside the stream's: whole-source encodes of up to three files (and loudnorm's two passes) get a
# worker's budget of their own, and the first playable preview never waits for them.
DOWNLOADS_ITEM = "downloads"


def audio_item_id(position: int) -> str:
    """The item of the audio track at `position` (0: the default): "audio", "audio-1", "audio-2", …"""
    if position < 0:
        raise ValueError(f"no audio track at position {position}")
    return AUDIO_ITEM if position == 0 else f"{AUDIO_ITEM}-{position}"


class Chunk(BaseModel):
    """Frames [start_frame, start_frame + frames) of the output timeline: `segments` whole segments."""

    model_config = ConfigDict(frozen=True)

    index: int
    first_segment: int
    segments: int
    start_frame: int
    frames: int
    last: bool

    def start_s(self, rate: Fraction) -> float:
        return float(self.start_frame / rate)

    def end_s(self, rate: Fraction) -> float:
        return float((self.start_frame + self.frames) / rate)


class WorkItem(BaseModel):
    model_config = ConfigDict(frozen=True)

    item_id: str
    kind: ItemKind
    chunk: int | None = None
    renditions: tuple[str, ...] = ()
    weight: float  # expected CPU-seconds: progress and the ETA are weighted by it


class ChunkPlan(BaseModel):
    model_config = ConfigDict(frozen=True)

    frame_rate: str  # the output rate as a fraction, "30000/1001"
    segment_frames: int
    total_frames: int
    whole_ladder: bool
    chunks: tuple[Chunk, ...]
    items: tuple[WorkItem, ...]

    @property
    def rate(self) -> Fraction:
        return Fraction(self.frame_rate)

    @property
    def segment_count(self) -> int:
        return sum(c.segments for c in self.chunks)

    def chunk(self, index: int) -> Chunk:
        return self.chunks[index]

    def item(self, item_id: str) -> WorkItem:
        for item in self.items:
            if item.item_id == item_id:
                return item
        raise KeyError(item_id)


def output_rate(rate: float) -> Fraction:
    """The output frame rate as an exact fraction: the nearest standard rate when within 0.1 %, else /1001."""
    nearest = min(_STANDARD_RATES, key=lambda standard: abs(rate - float(standard)))
    if abs(rate - float(nearest)) <= float(nearest) * 0.001:
        return nearest
    return Fraction(rate).limit_denominator(1001)


def video_timescale(rate: Fraction) -> int:
    """A track timescale in which one frame is a whole number of ticks (90 kHz or just above)."""
    return rate.numerator * max(1, math.ceil(90_000 / rate.numerator))


def frame_ticks(rate: Fraction) -> int:
    return video_timescale(rate) * rate.denominator // rate.numerator


def segment_count(total_frames: int, segment_frames: int) -> int:
    """Whole segments, the last one taking a remainder shorter than half a segment (no sliver at the end).

    A sliver would be mostly keyframe: its bitrate would set the playlist's peak BANDWIDTH for nothing.
    """
    full, rest = divmod(total_frames, segment_frames)
    return max(1, full + (1 if 2 * rest >= segment_frames else 0))


def plan_chunks(
    *,
    duration_s: float,
    rate: Fraction,
    segment_frames: int,
    source: Shape,
    source_rate: float,
    renditions: Sequence[Shape],
    audio: int,
    concurrency: int,
    max_chunk_segments: int,
    budget: WorkerBudget,
    costs: CostModel = DEFAULT_COSTS,
    source_bytes: int | None = None,
    max_piece_bytes: int = DEFAULT_MAX_PIECE_BYTES,
    tone_mapped: bool = False,
) -> ChunkPlan:
    """Chunks and work items for one source under one deployment's limits.

    Chunks are as long as the budget and `max_chunk_segments` allow, but no longer than it takes to give
    every one of `concurrency` workers a chunk. The whole ladder goes in one item when a chunk of one
    segment fits the budget and there are enough chunks to keep the workers busy; otherwise one item per
    rendition. The first chunk is one segment long, so the job is watchable early. `audio` is how many
    audio tracks to encode (a bool: none or one), each one item over the whole source, the default first.
    """
    if not renditions:
        raise ValueError("no renditions to plan")
    total_frames = max(1, round(duration_s * rate))
    segment_s = segment_frames / rate
    segments = segment_count(total_frames, segment_frames)
    decode = costs.decode(source.width, source.height, source_rate, tone_mapped=tone_mapped)
    rung_cost = {r.name: costs.encode(r.width, r.height, float(rate)) for r in renditions}
    ladder_cost = costs.safety * (decode + sum(rung_cost.values())) * float(segment_s)
    heaviest = costs.safety * (decode + max(rung_cost.values())) * float(segment_s)
    spendable = budget.cpu_seconds - costs.item_overhead_cpu_s

    if heaviest > budget.timeout_s * budget.vcpus:
        raise PolicyViolation(
            "duration",
            f"one {float(segment_s):g} s segment of this video needs about {heaviest:.0f} CPU-seconds; "
            f"a worker of this deployment can spend {budget.timeout_s * budget.vcpus:.0f}. "
            "Raise transcode_timeout_s or transcode_memory_mb, or upload a smaller picture.",
        )
    fit_ladder = math.floor(spendable / ladder_cost) if ladder_cost > 0 else max_chunk_segments
    whole_ladder = fit_ladder >= 1 and (segments >= concurrency or len(renditions) == 1)
    per_segment = ladder_cost if whole_ladder else heaviest
    fit = max(1, math.floor(spendable / per_segment)) if per_segment > 0 else max_chunk_segments
    items_per_chunk = 1 if whole_ladder else len(renditions)
    # No longer than it takes to hand every worker something to do.
    spread = max(1, math.ceil(segments * items_per_chunk / concurrency))
    # A worker's piece of the source stays small whatever the source's bitrate (a short, huge file).
    by_size = max_chunk_segments
    if source_bytes and duration_s > 0:
        by_size = max(1, math.floor(max_piece_bytes / (source_bytes / duration_s * float(segment_s))))
    length = max(1, min(max_chunk_segments, fit, spread, by_size))

    chunks: list[Chunk] = []
    first = 0
    while first < segments:
        count = 1 if not chunks and segments > length else min(length, segments - first)
        start = first * segment_frames
        frames = count * segment_frames if first + count < segments else total_frames - start
        chunks.append(
            Chunk(
                index=len(chunks),
                first_segment=first,
                segments=count,
                start_frame=start,
                frames=frames,
                last=first + count >= segments,
            )
        )
        first += count

    items: list[WorkItem] = []
    for position in range(int(audio)):
        weight = duration_s * costs.audio_per_second
        items.append(WorkItem(item_id=audio_item_id(position), kind=ItemKind.AUDIO, weight=weight))
    for chunk in chunks:
        seconds = float(chunk.frames / rate)
        if whole_ladder:
            weight = seconds * (decode + sum(rung_cost.values())) + costs.item_overhead_cpu_s
            names = tuple(r.name for r in renditions)
            items.append(
                WorkItem(
                    item_id=f"c{chunk.index:05d}",
                    kind=ItemKind.VIDEO,
                    chunk=chunk.index,
                    renditions=names,
                    weight=weight,
                )
            )
        else:
            for r in renditions:
                weight = seconds * (decode + rung_cost[r.name]) + costs.item_overhead_cpu_s
                items.append(
                    WorkItem(
                        item_id=f"c{chunk.index:05d}-{r.name}",
                        kind=ItemKind.VIDEO,
                        chunk=chunk.index,
                        renditions=(r.name,),
                        weight=weight,
                    )
                )
    return ChunkPlan(
        frame_rate=str(rate),
        segment_frames=segment_frames,
        total_frames=total_frames,
        whole_ladder=whole_ladder,
        chunks=tuple(chunks),
        items=tuple(items),
    )
