"""The encode plan (one JSON document per attempt, in the work bucket) and the results work items leave beside it.

The state machine carries only the plan's key: a two-hour source has hundreds of work items, far past
Step Functions' 256 KB payload limit, so every step reads what it needs from here.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from lambdas import keys
from lambdas.media.audio_tracks import AudioChoice, choose_audio
from lambdas.media.chunking import AUDIO_ITEM, ChunkPlan, ItemKind, WorkItem
from lambdas.media.ladder import Rendition
from lambdas.media.probe import MediaInfo
from lambdas.media.quality import ChunkQuality
from lambdas.pipeline.clip import ClipPlan
from lambdas.storage.ports import MediaStore

JSON = "application/json"


class PlannedRendition(Rendition):
    """One rendition to encode, and whether the job asked for it by name (a fitted rung reports overall only)."""

    track_progress: bool


class EncodePlan(BaseModel):
    model_config = ConfigDict(frozen=True)

    job_id: str
    attempt: Annotated[int, Field(ge=0)]
    media: MediaInfo
    renditions: tuple[PlannedRendition, ...]  # largest first
    chunks: ChunkPlan
    # A clip job's window of the source (then `media` is the window's: it starts and lasts as the window does),
    # and for a fast clip the file ProbeSource copied.
    clip: ClipPlan | None = None

    def rendition(self, name: str) -> PlannedRendition:
        for rendition in self.renditions:
            if rendition.name == name:
                return rendition
        raise KeyError(name)

    @property
    def audio(self) -> tuple[AudioChoice, ...]:
        """The audio tracks the plan encodes, the default first (empty: a silent output)."""
        planned = {item.item_id for item in self.chunks.items if item.kind is ItemKind.AUDIO}
        if any(item.kind is ItemKind.DOWNLOADS for item in self.chunks.items):
            planned.add(AUDIO_ITEM)  # the downloads are made from the default track's piece (even with no stream)
        return tuple(choice for choice in choose_audio(self.media.audio) if choice.track in planned)

    def audio_track(self, track: str) -> AudioChoice:
        """An audio track by its item id ("audio", "audio-1", …)."""
        for choice in self.audio:
            if choice.track == track:
                return choice
        raise KeyError(track)


class SegmentResult(BaseModel):
    model_config = ConfigDict(frozen=True)

    number: int
    start_ticks: int
    ticks: int
    bytes: int


class TrackResult(BaseModel):
    """One track's share of a work item: its segments, and for the first chunk what the init says."""

    model_config = ConfigDict(frozen=True)

    timescale: int
    segments: tuple[SegmentResult, ...]
    codec: str | None = None  # RFC 6381, measured on the output (first chunk and audio only)
    width: int | None = None
    height: int | None = None


class ItemResult(BaseModel):
    model_config = ConfigDict(frozen=True)

    item_id: str
    tracks: dict[str, TrackResult]  # rendition name, or the audio track's item id (keys.AUDIO_TRACK, …)
    cpu_seconds: float
    elapsed_seconds: float
    # A video item's scores per rung (lambdas/media/quality.py), or why it has none; empty for audio.
    quality: ChunkQuality = ChunkQuality()


def save_json(store: MediaStore, bucket: str, key: str, model: BaseModel | list[dict[str, str]], tmp: Path) -> None:
    path = tmp / "document.json"
    text = model.model_dump_json() if isinstance(model, BaseModel) else json.dumps(model)
    path.write_text(text)
    store.upload(path, bucket, key, content_type=JSON, cache_control="no-store")
    path.unlink()


def load_plan(store: MediaStore, bucket: str, key: str, tmp: Path) -> EncodePlan:
    path = tmp / "plan.json"
    store.download(bucket, key, path)
    plan = EncodePlan.model_validate_json(path.read_text())
    path.unlink()
    return plan


def load_result(store: MediaStore, bucket: str, plan: EncodePlan, item: WorkItem, tmp: Path) -> ItemResult:
    path = tmp / "result.json"
    store.download(bucket, keys.result_key(plan.job_id, plan.attempt, item.item_id), path)
    result = ItemResult.model_validate_json(path.read_text())
    path.unlink()
    return result
