"""Thumbnail times and the sprite-sheet storyboard: its plan and its WebVTT."""

from __future__ import annotations

import math

from pydantic import BaseModel, ConfigDict

from lambdas.media.probe import MediaInfo


def thumbnail_times(duration: float | None, count: int) -> list[float]:
    """`count` timestamps spread evenly, avoiding the very first and last frames."""
    if not duration or count <= 0:
        return [0.0][: max(count, 0)]
    step = duration / (count + 1)
    return [round(step * (i + 1), 3) for i in range(count)]


class SpritePlan(BaseModel):
    """A storyboard: one tile every `interval` seconds, `columns` x `rows` tiles per JPEG sheet."""

    model_config = ConfigDict(frozen=True)

    interval: float
    columns: int
    rows: int
    tile_width: int
    tile_height: int
    count: int

    @property
    def per_sheet(self) -> int:
        return self.columns * self.rows

    @property
    def sheets(self) -> int:
        return math.ceil(self.count / self.per_sheet)


def plan_sprite(
    info: MediaInfo, *, interval: float = 10.0, columns: int = 10, rows: int = 10, tile_width: int = 160
) -> SpritePlan:
    video = info.video
    if video is None:
        raise ValueError("a storyboard needs a video stream")
    tile_height = max(2, 2 * round(tile_width * video.display_height / video.display_width / 2))
    count = max(1, math.ceil((info.duration or interval) / interval))
    return SpritePlan(
        interval=interval,
        columns=columns,
        rows=rows,
        tile_width=tile_width,
        tile_height=tile_height,
        count=count,
    )


def storyboard_vtt(plan: SpritePlan, duration: float, *, sheet_url: str = "sprite_{:03d}.jpg") -> str:
    """WebVTT that maps each interval to its tile: `sprite_000.jpg#xywh=x,y,w,h`."""
    lines = ["WEBVTT", ""]
    for i in range(plan.count):
        start = i * plan.interval
        if start >= duration and i > 0:
            break
        end = min((i + 1) * plan.interval, duration)
        sheet, pos = divmod(i, plan.per_sheet)
        row, col = divmod(pos, plan.columns)
        x, y = col * plan.tile_width, row * plan.tile_height
        lines += [
            f"{_vtt_ts(start)} --> {_vtt_ts(end)}",
            f"{sheet_url.format(sheet)}#xywh={x},{y},{plan.tile_width},{plan.tile_height}",
            "",
        ]
    return "\n".join(lines)


def _vtt_ts(seconds: float) -> str:
    ms = round(seconds * 1000)
    h, rem = divmod(ms, 3_600_000)
    m, rem = divmod(rem, 60_000)
    s, ms = divmod(rem, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}.{ms:03d}"
