"""Sources whose frames carry their own index, and reading it back: clips are checked frame by frame.

Frame n shows n in binary as INDEX_BITS vertical bars across the picture (bar k white when bit k is set,
black otherwise), made with `geq`: big blocks survive any scaling and lossy encode, unlike burnt-in digits.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.media_tools import LAYER_BIN

INDEX_BITS = 10  # up to 1023 frames: 34 s at 30 fps
_ENV = {"GCONV_PATH": "/nonexistent"}
_READ_W, _READ_H = 160, 90


def index_filter(size: str, rate: str) -> str:
    """The lavfi source of the indexed picture (geq's N is the frame number)."""
    width = int(size.split("x", maxsplit=1)[0])
    bar = width / INDEX_BITS
    lum = f"if(bitand(N\\,pow(2\\,floor(X/{bar:g})))\\,235\\,16)"
    return f"color=c=black:s={size}:r={rate},geq=lum='{lum}':cb=128:cr=128"


def make_indexed_source(
    out: Path,
    *,
    seconds: float,
    rate: str = "24",
    size: str = "320x180",
    gop: int = 24,
    video: tuple[str, ...] = ("-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p"),
    audio: tuple[str, ...] | None = ("-c:a", "aac", "-b:a", "96k"),
    container: tuple[str, ...] = (),
) -> Path:
    """An indexed picture with a keyframe every `gop` frames (and a 440 Hz tone unless `audio` is None)."""
    argv = [str(LAYER_BIN / "ffmpeg"), "-hide_banner", "-v", "error", "-y", "-f", "lavfi", "-i"]
    argv += [index_filter(size, rate)]
    if audio is not None:
        argv += ["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000"]
    argv += ["-t", f"{seconds:g}", "-map", "0:v"]
    if audio is not None:
        argv += ["-map", "1:a", *audio, "-ac", "2"]
    argv += [*video, "-g", str(gop), "-keyint_min", str(gop), "-sc_threshold", "0", *container, str(out)]
    subprocess.run(argv, check=True, env=_ENV)
    return out


def frame_indices(path: Path | str) -> list[int]:
    """The index every decoded frame of `path` shows, in presentation order (edit lists applied)."""
    raw = subprocess.run(
        [
            str(LAYER_BIN / "ffmpeg"),
            "-v",
            "error",
            "-i",
            str(path),
            "-map",
            "0:v:0",
            "-fps_mode",
            "passthrough",  # every decoded frame once: never duplicated to fill a late start
            "-vf",
            f"scale={_READ_W}:{_READ_H}",
            "-f",
            "rawvideo",
            "-pix_fmt",
            "gray",
            "-",
        ],
        capture_output=True,
        check=True,
        env=_ENV,
    ).stdout
    size = _READ_W * _READ_H
    indices = []
    for n in range(len(raw) // size):
        frame = raw[n * size : (n + 1) * size]
        row = (_READ_H // 2) * _READ_W
        value = 0
        for bit in range(INDEX_BITS):
            if frame[row + int((bit + 0.5) * _READ_W / INDEX_BITS)] > 128:
                value |= 1 << bit
        indices.append(value)
    return indices
