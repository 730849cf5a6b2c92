"""Clips from the command line's side: a range of one of your jobs, made as a job of its own."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

from vodpipe.client.api import ApiClient, Json


@dataclass(frozen=True)
class ClipRequest:
    """A range of a job (seconds from its first frame) and how to make it; None leaves the choice to the server."""

    start_s: float
    end_s: float
    mode: Literal["exact", "fast"] = "exact"
    preset: str | None = None
    fit: str | None = None
    renditions: tuple[str, ...] | None = None
    outputs: tuple[str, ...] | None = None
    priority: int | None = None
    private: bool | None = None

    def as_dict(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items() if v is not None}


def create_clip(api: ApiClient, job_id: str, request: ClipRequest) -> Json:
    """POST /jobs/{id}/clips: the clip job, QUEUED (follow it like any job: `vodpipe status ID --watch`)."""
    return api.create_clip(job_id, request.as_dict())


def describe_clip(job: Json) -> str:
    """One line on what a finished clip job made of its range (fast: where the copy really starts)."""
    made = (job.get("outputs") or {}).get("clip")
    asked = job.get("clip") or {}
    if not made:
        return f"clip {asked.get('mode', 'exact')} {asked.get('start_s', 0):g}-{asked.get('end_s', 0):g} s"
    line = f"clip {made['mode']} from {made['start_s']:g} s"
    if made.get("duration_s") is not None:
        line += f", {made['duration_s']:.3f} s long"
    if made.get("start_shift_s"):
        line += f" (starts {made['start_shift_s']:.3f} s early, on the keyframe before {asked.get('start_s', 0):g} s)"
    return line
