"""How a source's picture goes into a fixed frame (a box rung: 1080x1920, 720x720): fitted and padded, or
cropped to cover; and the scale filters that do it.

Everything is in the picture as shown: pixel aspect and rotation applied (`VideoStream.aspect`). The filters
run after `picture.upright_filters`, on the upright picture in its stored pixels (which may not be square).

- pad: the whole picture, scaled to fit inside the frame, centred on black bars (nothing is lost).
- crop: the centre of the picture, as much of it as has the frame's shape, scaled to fill the frame. The crop
  is taken from the stored pixels before scaling, so a wide source is never scaled up just to be cut.

Offsets and sizes are even (4:2:0 chroma). `upscale` is how much the picture is enlarged (1.0: one displayed
source pixel per output pixel), the number the ladder's no-upscaling rule is decided on.
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from lambdas.media.probe import VideoStream

Fit = Literal["pad", "crop"]
PAD_COLOUR = "black"


class Rect(BaseModel):
    model_config = ConfigDict(frozen=True)

    width: int = Field(gt=0)
    height: int = Field(gt=0)
    x: int = Field(0, ge=0)
    y: int = Field(0, ge=0)


class BoxFit(BaseModel):
    """One frame's geometry: `crop` (crop fit) is the part of the upright source kept, in its stored pixels;
    `picture` (pad fit) is where the scaled picture lies inside the frame."""

    model_config = ConfigDict(frozen=True)

    width: int
    height: int
    fit: Fit
    crop: Rect | None = None
    picture: Rect | None = None
    upscale: float


def upright_size(video: VideoStream) -> tuple[int, int]:
    """The stored picture's size once turned upright (what the scale filters receive)."""
    return (video.height, video.width) if video.rotation in (90, 270) else (video.width, video.height)


def displayed_size(video: VideoStream) -> tuple[Fraction, Fraction]:
    """The picture as shown, exactly: the upright height, and the width its aspect gives it."""
    _, height = upright_size(video)
    aspect = video.aspect
    # The displayed height of an anamorphic picture is its stored height (pixel aspect stretches the width).
    return Fraction(height) * aspect, Fraction(height)


def box_fit(video: VideoStream, width: int, height: int, fit: Fit) -> BoxFit:
    """The picture of `video` in a `width` x `height` frame (both even)."""
    aspect, box = video.aspect, Fraction(width, height)
    shown_w, shown_h = displayed_size(video)
    if fit == "pad":
        if aspect >= box:
            pw, ph = width, min(height, _even(width / aspect))
        else:
            pw, ph = min(width, _even(height * aspect)), height
        picture = Rect(width=pw, height=ph, x=_even_down((width - pw) / 2), y=_even_down((height - ph) / 2))
        return BoxFit(width=width, height=height, fit=fit, picture=picture, upscale=float(ph / shown_h))
    stored_w, stored_h = upright_size(video)
    if aspect >= box:  # wider than the frame: the sides go
        cw, ch = _even_size(stored_w * box / aspect), _even_size(stored_h)
        scale = height / shown_h
    else:  # taller: the top and bottom go
        cw, ch = _even_size(stored_w), _even_size(stored_h * aspect / box)
        scale = width / shown_w
    crop = Rect(width=cw, height=ch, x=_even_down((stored_w - cw) / 2), y=_even_down((stored_h - ch) / 2))
    return BoxFit(width=width, height=height, fit=fit, crop=crop, upscale=float(scale))


def shown_region(video: VideoStream, crop: Rect) -> tuple[Fraction, Fraction]:
    """How large the part `crop` keeps of the upright source is as shown (pixel aspect applied)."""
    stored_w, stored_h = upright_size(video)
    shown_w, shown_h = displayed_size(video)
    return crop.width * shown_w / stored_w, crop.height * shown_h / stored_h


def even(x: float | Fraction) -> int:
    """Nearest even number, halves rounded up (854 for 853.3)."""
    return _even(x)


def fit_filters(geometry: BoxFit | None, width: int, height: int, *, flags: str | None = None) -> list[str]:
    """Upright source frames -> this frame: scaled (and padded or cropped), square pixels."""
    scale = _scale(width, height, flags)
    if geometry is None:
        return [scale, "setsar=1"]
    if geometry.crop is not None:
        c = geometry.crop
        return [f"crop={c.width}:{c.height}:{c.x}:{c.y}", scale, "setsar=1"]
    assert geometry.picture is not None
    p = geometry.picture
    return [_scale(p.width, p.height, flags), "setsar=1", f"pad={width}:{height}:{p.x}:{p.y}:{PAD_COLOUR}"]


def _scale(width: int, height: int, flags: str | None) -> str:
    return f"scale={width}:{height}" + (f":flags={flags}" if flags else "")


def _even(x: float | Fraction) -> int:
    """Nearest even number, halves rounded up."""
    return max(2, 2 * math.floor(x / 2 + Fraction(1, 2)))


def _even_down(x: float | Fraction) -> int:
    return max(0, 2 * math.floor(x / 2))


def _even_size(x: float | Fraction) -> int:
    return max(2, _even_down(x))
