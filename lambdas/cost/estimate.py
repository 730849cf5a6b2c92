"""A job's expected cost from its plan (ProbeSource): invocations, GB-s, requests, transitions, stored bytes.

Lambda time comes from the planner's own cost model (`lambdas/media/chunking.py`: each work item's `weight` is its
expected CPU-seconds) over the CPUs a worker's memory buys; the small steps take fixed times measured on this
project's runs. S3 requests follow the keys the steps write (a segment per rung per segment, manifests, pieces,
results, thumbnails); stored bytes the ladder's capped bitrates x the duration.
"""

from __future__ import annotations

import math
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from lambdas.cost.model import CostBreakdown
from lambdas.cost.prices import Architecture, Prices, prices_for
from lambdas.cost.usage import MB_PER_GB, Usage, priced
from lambdas.cost.workflow import state_transitions

Seconds = Annotated[float, Field(ge=0)]
MULTIPART_CHUNK = 8 * 1024 * 1024  # boto3's transfer threshold and part size: one request per part beyond it


class FunctionMemory(BaseModel):
    """Each metered function's memory (MB), as stacks/pipeline_stack.py configures them."""

    model_config = ConfigDict(frozen=True)

    RegisterJob: int = 512
    ProbeSource: int = 1769
    EncodeChunk: int = 3008
    MakeThumbnails: int = 3008
    PackageOutputs: int = 3008
    PublishJob: int = 512

    def of(self, function: str) -> int:
        memory: int = getattr(self, function)
        return memory


class Assumptions(BaseModel):
    """The fixed parts of the estimate (seconds of wall time, requests), from the project's measured runs."""

    model_config = ConfigDict(frozen=True)

    register_s: Seconds = 0.3
    publish_s: Seconds = 0.5
    probe_s: Seconds = 1.5  # ffprobe, planning, the plan written
    probe_per_piece_s: Seconds = 0.3  # one stream copy, its ffprobe check and its upload
    download_bytes_per_s: Annotated[float, Field(gt=0)] = 80e6
    item_io_s: Seconds = 0.5  # a work item's downloads and uploads besides its CPU
    thumbnails_s: Seconds = 1.5
    thumbnails_per_source_s: Seconds = 0.02  # the sprite from keyframes
    package_s: Seconds = 1.0
    package_per_item_s: Seconds = 0.05
    mp4_per_source_s: Seconds = 0.02  # one progressive MP4 rung, by copy
    cold_start_s: Seconds = 0.8  # INIT of a new environment, billed: every function starts cold once per job here
    # CRF under a cap: the mean bitrate is well below maxrate on most footage.
    bitrate_fill: Annotated[float, Field(gt=0, le=1.5)] = 0.5
    # Per invocation, as the metered runs of bench/cost.py counted them (2026-12-02: 8-12 writes, 7-8 reads):
    # progress, events, the job guard's reads, the usage record.
    dynamodb_writes_per_invocation: int = 10
    dynamodb_reads_per_invocation: int = 8
    thumbnail_files: int = 4  # poster, sprite sheet, its WebVTT, quality and storyboard files besides the stills


class CostConfig(BaseModel):
    """How a deployment's jobs are priced: its region and architecture, its functions' memory, a worker's CPUs."""

    model_config = ConfigDict(frozen=True)

    region: str = "us-east-1"
    architecture: Architecture = "x86_64"
    memory: FunctionMemory = FunctionMemory()
    worker_vcpus: Annotated[float, Field(gt=0)] = 1.7
    assumptions: Assumptions = Assumptions()

    @property
    def prices(self) -> Prices:
        return prices_for(self.region, self.architecture)


class PlannedItem(BaseModel):
    model_config = ConfigDict(frozen=True)

    weight: Seconds  # expected CPU-seconds (chunking.WorkItem.weight)
    segments: int  # segments it writes per track
    tracks: int  # rungs (video) or 1 (audio)


class PlanShape(BaseModel):
    """What the estimate needs of a plan (lambdas/cost/plan.py builds it from the EncodePlan)."""

    model_config = ConfigDict(frozen=True)

    duration_s: Seconds
    source_bytes: Annotated[int, Field(ge=0)]
    pieces: int  # the chunks' pieces and the audio tracks' ProbeSource cuts
    items: tuple[PlannedItem, ...]
    rungs: int
    bitrate_kbps: Annotated[int, Field(ge=0)]  # every rung's maxrate and every audio track's bitrate, added
    mp4_rungs: int = 0
    mp4_bitrate_kbps: int = 0
    thumbnails: int = 0  # stills (0: none made)


def estimate(shape: PlanShape, config: CostConfig) -> CostBreakdown:
    usage = expected_usage(shape, config)
    return priced(usage, config.prices)


def expected_usage(shape: PlanShape, config: CostConfig) -> Usage:
    a = config.assumptions
    seconds: dict[str, float] = {
        "RegisterJob": a.register_s,
        "ProbeSource": a.probe_s + shape.source_bytes / a.download_bytes_per_s + shape.pieces * a.probe_per_piece_s,
        "EncodeChunk": sum(item.weight / config.worker_vcpus + a.item_io_s for item in shape.items),
        "MakeThumbnails": a.thumbnails_s + a.thumbnails_per_source_s * shape.duration_s,
        "PackageOutputs": a.package_s
        + a.package_per_item_s * len(shape.items)
        + a.mp4_per_source_s * shape.duration_s * shape.mp4_rungs,
        "PublishJob": a.publish_s,
    }
    # One cold start per function per job, the encoder's concurrency aside (a guess either way: say so).
    invocations = 5 + len(shape.items)
    gb_s = {name: (value + a.cold_start_s) * config.memory.of(name) / MB_PER_GB for name, value in seconds.items()}
    segments = sum(item.segments * item.tracks for item in shape.items)
    source_parts = max(1, math.ceil(shape.source_bytes / MULTIPART_CHUNK))
    items = len(shape.items)
    probe_writes = shape.pieces + 4  # each piece, the plan, its items, the prefixes listed
    encode_writes = segments + 2 * items  # segments (and inits), each item's result
    thumbnail_writes = shape.thumbnails + a.thumbnail_files
    package_writes = 2 * shape.rungs + 4 + shape.mp4_rungs  # playlists, master, MPD, the MP4s, the list
    s3_writes = probe_writes + encode_writes + thumbnail_writes + package_writes
    # A download is a HEAD and then its GETs (boto3's transfer manager).
    source_reads = 2 * (source_parts + 1)  # ProbeSource and MakeThumbnails read the source
    item_reads = 2 * (3 * items + 1)  # each item its plan and its piece; PackageOutputs the plan and each result
    mp4_reads = shape.mp4_rungs * segments // max(1, shape.rungs)  # the MP4 rungs' segments read back
    s3_reads = source_reads + item_reads + mp4_reads
    stored = shape.bitrate_kbps * 1000 / 8 * shape.duration_s * a.bitrate_fill
    stored += shape.mp4_bitrate_kbps * 1000 / 8 * shape.duration_s * a.bitrate_fill
    return Usage(
        gb_seconds_by_function=gb_s,
        lambda_requests=invocations,
        state_transitions=state_transitions(invocations),
        s3_writes=s3_writes,
        s3_reads=s3_reads,
        dynamodb_writes=invocations * a.dynamodb_writes_per_invocation,
        dynamodb_reads=invocations * a.dynamodb_reads_per_invocation,
        stored_bytes=round(stored),
    )
