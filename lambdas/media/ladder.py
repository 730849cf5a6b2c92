"""The rendition ladder as data, and `plan_ladder`, which fits it to one source without upscaling.

The no-upscaling rule, for every preset: a rung is made when the picture is enlarged at most `max_upscale`
(1.0 unless a deployer's preset says more: never) to fill it. A short-side rung (1080p…) fits when its short
side is at most the source's; a box rung (1080x1920…) when its picture does: with `fit` pad the whole picture
inside the frame, with crop the centre that covers it (lambdas/media/geometry.py). When no rung fits, a
short-side ladder makes one rendition at the source's own size (nothing enlarged), and a box ladder makes its
smallest frame, the picture enlarged to fill it: a box preset's promise is its frame (a vertical player wants
720x1280, not the 480x854 the source has), and that one frame is the only enlargement it ever makes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from contextlib import suppress
from fractions import Fraction
from typing import Annotated, Any, Self

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from lambdas.media.errors import NoVideoStream, PolicyViolation
from lambdas.media.geometry import BoxFit, Fit, box_fit, fit_filters
from lambdas.media.probe import MediaInfo, VideoStream

__all__ = ["DEFAULT_LADDER", "RENDITION_NAMES", "Fit", "LadderConfig", "Rendition", "Rung", "plan_ladder"]


class Rung(BaseModel):
    """One step of the ladder, sized by the picture's SHORT side so portrait sources get portrait rungs, or a
    fixed box (`width` x `height`, a vertical or square preset's) the picture is fitted into (`LadderConfig.fit`)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]{0,31}$")]
    short_side: Annotated[int, Field(ge=2, le=4320)]
    maxrate_kbps: Annotated[int, Field(ge=1, le=200_000)]
    crf: Annotated[int, Field(ge=0, le=51)] = 23
    width: Annotated[int, Field(ge=2, le=7680, multiple_of=2)] | None = None
    height: Annotated[int, Field(ge=2, le=7680, multiple_of=2)] | None = None

    @model_validator(mode="before")
    @classmethod
    def _short_side_of_a_box(cls, data: Any) -> Any:
        # A box rung's short side is the box's: a document may leave it out.
        if isinstance(data, dict) and data.get("short_side") is None and data.get("width") and data.get("height"):
            with suppress(TypeError):
                return {**data, "short_side": min(data["width"], data["height"])}
        return data

    @model_validator(mode="after")
    def _box(self) -> Self:
        if (self.width is None) != (self.height is None):
            raise ValueError("a box rung needs both width and height")
        if self.width is not None and self.height is not None and min(self.width, self.height) != self.short_side:
            raise ValueError("short_side must be the box's shorter side")
        return self

    @property
    def box(self) -> tuple[int, int] | None:
        return (self.width, self.height) if self.width is not None and self.height is not None else None


class LadderConfig(BaseModel):
    model_config = ConfigDict(frozen=True)

    rungs: tuple[Rung, ...] = (
        Rung(name="1080p", short_side=1080, maxrate_kbps=6000, crf=23),
        Rung(name="720p", short_side=720, maxrate_kbps=3500, crf=23),
        Rung(name="480p", short_side=480, maxrate_kbps=1500, crf=24),
        Rung(name="360p", short_side=360, maxrate_kbps=800, crf=25),
    )
    bufsize_factor: float = 2.0
    max_frame_rate: float = 60.0
    default_frame_rate: float = 30.0
    audio_bitrate_kbps: int = 128
    audio_channels: int = 2
    audio_sample_rate: int = 48000
    fit: Fit | None = None  # how a picture goes into box rungs: scaled to fit and padded, or to cover and cropped
    # How much a rung may enlarge the picture (1.0: never; see the module's docstring).
    max_upscale: Annotated[float, Field(ge=1.0, le=4.0)] = 1.0


DEFAULT_LADDER = LadderConfig()
# The renditions a job may ask for, largest first: the API offers these, and RegisterJob reads the same rungs
# (PipelineConfig.ladder is DEFAULT_LADDER), so the two cannot disagree.
RENDITION_NAMES: tuple[str, ...] = tuple(rung.name for rung in DEFAULT_LADDER.rungs)


class Rendition(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str
    width: int = Field(gt=0, multiple_of=2)
    height: int = Field(gt=0, multiple_of=2)
    maxrate_kbps: int
    bufsize_kbps: int
    crf: int
    frame_rate: float
    fps_filter: float | None = None  # set when the source is faster than the ladder allows
    gop_frames: int
    segment_seconds: float
    audio: bool
    audio_bitrate_kbps: int
    audio_channels: int
    audio_sample_rate: int
    geometry: BoxFit | None = None  # a box rung's: where the picture goes in the frame (pad) or what is kept (crop)

    def scale_filters(self, flags: str | None = None) -> list[str]:
        """Upright source frames -> this rendition's frames (scaled, padded or cropped, square pixels)."""
        return fit_filters(self.geometry, self.width, self.height, flags=flags)


def plan_ladder(
    info: MediaInfo,
    requested: Sequence[str] | None = None,
    segment_seconds: float = 4,
    config: LadderConfig = DEFAULT_LADDER,
) -> list[Rendition]:
    """Renditions for this source, largest first.

    Only rungs the source fills without being enlarged (pixel aspect and rotation applied) are kept; see the
    module's docstring for the rule and what a source smaller than every rung gets. `requested` narrows the
    rungs by name; if none of them fits, the largest that does is used.
    """
    if info.video is None:
        raise NoVideoStream("video: the file contains no video stream.")
    if segment_seconds <= 0:
        raise ValueError("segment_seconds must be positive")
    rungs = config.rungs
    if requested is not None:
        unknown = sorted(set(requested) - {r.name for r in rungs})
        if unknown:
            raise PolicyViolation("renditions", f"unknown rendition(s) {', '.join(unknown)}.")

    video = info.video
    src_w, src_h = video.display_width, video.display_height
    src_short = min(src_w, src_h)
    aspect = video.aspect
    boxed = any(r.box is not None for r in rungs)
    if boxed and config.fit is None:
        raise ValueError("box rungs need a fit (pad or crop)")
    fits = sorted(
        (r for r in rungs if enlargement(r, video, config) <= config.max_upscale + _TOLERANCE),
        key=lambda r: -r.short_side,
    )
    if not fits and boxed:
        fits = [min(rungs, key=lambda r: r.short_side)]  # the box preset's promise: its smallest frame
    if not fits:
        smallest = min(rungs, key=lambda r: r.short_side)
        short = _even_down(src_short)
        area = (short / smallest.short_side) ** 2
        fits = [
            Rung(
                name=f"{short}p",
                short_side=short,
                maxrate_kbps=max(200, round(smallest.maxrate_kbps * area)),
                crf=smallest.crf,
            )
        ]
    elif requested is not None:
        chosen = [r for r in fits if r.name in requested]
        fits = chosen or fits[:1]

    frame_rate, fps_filter = _frame_rate(info.video.frame_rate, config, variable=info.video.variable_frame_rate)
    return [
        _rendition(
            rung,
            video=video,
            src_short=src_short,
            aspect=aspect,
            frame_rate=frame_rate,
            fps_filter=fps_filter,
            segment_seconds=segment_seconds,
            audio=bool(info.audio),
            config=config,
        )
        for rung in fits
    ]


_TOLERANCE = 1e-9


def enlargement(rung: Rung, video: VideoStream, config: LadderConfig) -> float:
    """How much `rung` enlarges the shown picture (1.0: one source pixel per output pixel)."""
    if rung.width is not None and rung.height is not None:
        return box_fit(video, rung.width, rung.height, config.fit or "pad").upscale
    return rung.short_side / min(video.display_width, video.display_height)


def _rendition(
    rung: Rung,
    *,
    video: VideoStream,
    src_short: int,
    aspect: Fraction,
    frame_rate: float,
    fps_filter: float | None,
    segment_seconds: float,
    audio: bool,
    config: LadderConfig,
) -> Rendition:
    geometry = None
    if rung.width is not None and rung.height is not None:
        width, height = rung.width, rung.height
        geometry = box_fit(video, width, height, config.fit or "pad")
    else:
        out_short = min(_even(rung.short_side), _even_down(src_short * config.max_upscale))
        out_long = _even(out_short * max(aspect, 1 / aspect))
        width, height = (out_long, out_short) if aspect >= 1 else (out_short, out_long)
    return Rendition(
        name=rung.name,
        width=width,
        height=height,
        maxrate_kbps=rung.maxrate_kbps,
        bufsize_kbps=round(rung.maxrate_kbps * config.bufsize_factor),
        crf=rung.crf,
        frame_rate=frame_rate,
        fps_filter=fps_filter,
        gop_frames=max(1, round(frame_rate * segment_seconds)),
        segment_seconds=segment_seconds,
        audio=audio,
        audio_bitrate_kbps=config.audio_bitrate_kbps,
        audio_channels=config.audio_channels,
        audio_sample_rate=config.audio_sample_rate,
        geometry=geometry,
    )


# The rates a faster source is brought down to when a whole divisor gets there (within 0.1 %).
STANDARD_FRAME_RATES: tuple[Fraction, ...] = (
    Fraction(24000, 1001),
    Fraction(24),
    Fraction(25),
    Fraction(30000, 1001),
    Fraction(30),
    Fraction(48),
    Fraction(50),
    Fraction(60000, 1001),
    Fraction(60),
)
_STANDARD_TOLERANCE = 0.001


# A variable-frame-rate source (phones) gets the smallest of these at or above its average rate: a rate players
# and TVs know, every frame kept (27.57 average -> 30: frames repeated where the phone slowed down).
_VFR_TARGETS = (24, 25, 30, 48, 50, 60)


def _frame_rate(source: float | None, config: LadderConfig, *, variable: bool = False) -> tuple[float, float | None]:
    """Output frame rate, and the rate the fps filter resamples to when the source is faster than the cap.

    A variable-frame-rate source below the cap gets a standard constant rate (`_VFR_TARGETS`).

    Above the cap: the source rate divided by the smallest whole number that brings it under, when that is
    a standard rate (every n-th frame kept: 120 -> 60, 119.88 -> 59.94, 240 -> 60, 100 -> 50); otherwise
    the cap itself, frames picked by time (187 -> 60, not 46.75).
    """
    rate = source or config.default_frame_rate
    if variable and rate <= config.max_frame_rate:
        target = next((t for t in _VFR_TARGETS if t >= rate * (1 - _STANDARD_TOLERANCE)), None)
        if target is not None and target <= config.max_frame_rate:
            return float(target), None
    if rate <= config.max_frame_rate:
        return rate, None
    divided = rate / math.ceil(rate / config.max_frame_rate - 1e-9)
    standard = min(STANDARD_FRAME_RATES, key=lambda r: abs(divided - float(r)))
    if abs(divided - float(standard)) <= float(standard) * _STANDARD_TOLERANCE and standard <= config.max_frame_rate:
        out = round(float(standard), 3)
    else:
        out = round(config.max_frame_rate, 3)
    return out, out


def _even(x: float | Fraction) -> int:
    """Nearest even number, halves rounded up (854 for 853.3, not banker's 852)."""
    return max(2, 2 * math.floor(x / 2 + Fraction(1, 2)))


def _even_down(x: float) -> int:
    return max(2, 2 * int(x // 2))
