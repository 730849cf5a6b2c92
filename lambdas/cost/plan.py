"""The shape of a job's plan as the estimate reads it (ProbeSource calls this with the plan it made)."""

from __future__ import annotations

from lambdas.cost.estimate import PlannedItem, PlanShape
from lambdas.jobs.model import Job, OutputKind
from lambdas.media.chunking import ItemKind
from lambdas.pipeline.plan import EncodePlan, PlannedRendition


def plan_shape(plan: EncodePlan, job: Job, *, stills: int) -> PlanShape:
    """`stills`: the thumbnails planned (0 when the job makes none)."""
    chunks = plan.chunks
    items: list[PlannedItem] = []
    for item in chunks.items:
        if item.kind is ItemKind.VIDEO and item.chunk is not None:
            segments, tracks = chunks.chunk(item.chunk).segments, len(item.renditions)
        elif item.kind is ItemKind.AUDIO:
            segments, tracks = chunks.segment_count, 1
        else:  # the audio downloads: a few whole files
            segments, tracks = 3, 1
        items.append(PlannedItem(weight=item.weight, segments=segments, tracks=tracks))
    renditions = plan.renditions
    audio_kbps = max((r.audio_bitrate_kbps for r in renditions), default=128)
    mp4: tuple[PlannedRendition, ...] = ()
    if OutputKind.MP4 in job.requested_outputs and renditions:
        wanted = job.mp4_renditions
        mp4 = tuple(r for r in renditions if r.name in wanted) if wanted else (renditions[len(renditions) // 2],)
    return PlanShape(
        duration_s=plan.media.duration or 0.0,
        source_bytes=plan.media.size or job.source.size or 0,
        pieces=len(chunks.chunks) + len(plan.audio),
        items=tuple(items),
        rungs=len(renditions),
        bitrate_kbps=sum(r.maxrate_kbps for r in renditions) + audio_kbps * len(plan.audio),
        mp4_rungs=len(mp4),
        mp4_bitrate_kbps=sum(r.maxrate_kbps + r.audio_bitrate_kbps for r in mp4),
        thumbnails=stills,
    )
