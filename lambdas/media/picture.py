"""How a source's picture is made viewable before scaling: deinterlaced, upright, SDR BT.709 8-bit.

Placeholder interface (filled in by the picture-normalisation work): `picture_filters` returns the ffmpeg
filters, in order, that every consumer of decoded source frames (chunk encodes, stills, storyboard, the
quality reference) applies before its own scaling.
"""

from __future__ import annotations

from lambdas.media.probe import VideoStream


def picture_filters(video: VideoStream) -> list[str]:
    """Filters applied to decoded source frames before any scaling (may be empty)."""
    return []
