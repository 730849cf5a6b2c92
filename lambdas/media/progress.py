"""ffmpeg's `-progress pipe:1` output, parsed into Progress records."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping

from pydantic import BaseModel, ConfigDict


class Progress(BaseModel):
    model_config = ConfigDict(frozen=True)

    out_time: float  # seconds of output written
    percent: float | None = None
    speed: float | None = None
    frame: int | None = None
    done: bool = False


def iter_progress(lines: Iterable[str], duration: float | None = None) -> Iterator[Progress]:
    """ffmpeg `-progress` key=value blocks → one Progress per block (each block ends with `progress=`)."""
    block: dict[str, str] = {}
    for raw in lines:
        key, sep, value = raw.strip().partition("=")
        if not sep:
            continue
        block[key] = value.strip()
        if key == "progress":
            yield _progress(block, duration)
            block = {}


def parse_progress(lines: Iterable[str], duration: float | None = None) -> Progress | None:
    """The latest complete progress block, or None if there is none yet."""
    last = None
    for last in iter_progress(lines, duration):  # noqa: B007
        pass
    return last


def _progress(block: Mapping[str, str], duration: float | None) -> Progress:
    out_time = 0.0
    us = block.get("out_time_us") or block.get("out_time_ms")  # both are microseconds in ffmpeg
    if us and us.lstrip("-").isdigit():
        out_time = max(0.0, int(us) / 1_000_000)
    elif block.get("out_time"):
        out_time = _parse_clock(block["out_time"])
    done = block.get("progress") == "end"
    percent = None
    if duration:
        percent = 100.0 if done else round(min(100.0, 100.0 * out_time / duration), 1)
    speed_text = block.get("speed", "").rstrip("x").strip()
    frame_text = block.get("frame", "")
    return Progress(
        out_time=out_time,
        percent=percent,
        speed=float(speed_text) if re.fullmatch(r"\d+(\.\d+)?", speed_text) else None,
        frame=int(frame_text) if frame_text.isdigit() else None,
        done=done,
    )


def _parse_clock(text: str) -> float:
    try:
        h, m, s = text.split(":")
        return max(0.0, int(h) * 3600 + int(m) * 60 + float(s))
    except ValueError:
        return 0.0
