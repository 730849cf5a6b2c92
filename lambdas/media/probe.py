"""ffprobe: the hardened command line and a pure parser of its JSON into `MediaInfo`."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from fractions import Fraction
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from lambdas.media.errors import SourceUnreadable
from lambdas.media.runner import RunResult
from lambdas.media.runner import run as run_ffmpeg


class VideoStream(BaseModel):
    model_config = ConfigDict(frozen=True)

    index: int
    codec: str
    profile: str | None = None
    level: int | None = None
    codec_string: str | None = None  # RFC 6381, e.g. avc1.64001f, when ffprobe knows it
    width: int
    height: int
    sample_aspect: str | None = None
    display_aspect: str | None = None
    rotation: int = 0  # clockwise degrees a player turns the picture: 0, 90, 180 or 270
    frame_rate: float | None = None
    pix_fmt: str | None = None
    bit_rate: int | None = None

    @property
    def display_width(self) -> int:
        """Width as shown: pixel aspect applied, then rotation."""
        w, h = self._unrotated()
        return h if self.rotation in (90, 270) else w

    @property
    def display_height(self) -> int:
        w, h = self._unrotated()
        return w if self.rotation in (90, 270) else h

    @property
    def aspect(self) -> Fraction:
        """Exact displayed width / height, pixel aspect and rotation applied."""
        sar = _fraction(self.sample_aspect, sep=":")
        ratio = Fraction(self.width, self.height) * (sar if sar and sar > 0 else 1)
        return 1 / ratio if self.rotation in (90, 270) else ratio

    def _unrotated(self) -> tuple[int, int]:
        sar = _fraction(self.sample_aspect, sep=":")
        if sar and sar > 0 and sar != 1:
            return round(self.width * sar), self.height
        return self.width, self.height


class AudioStream(BaseModel):
    model_config = ConfigDict(frozen=True)

    index: int
    codec: str
    channels: int | None = None
    channel_layout: str | None = None
    sample_rate: int | None = None
    bit_rate: int | None = None


class MediaInfo(BaseModel):
    model_config = ConfigDict(frozen=True)

    format_name: str  # as ffprobe reports it, e.g. "mov,mp4,m4a,3gp,3g2,mj2"
    duration: float | None = None
    start_time: float = 0.0  # the container's first timestamp: time zero of every output
    size: int | None = None
    bit_rate: int | None = None
    video: VideoStream | None = None
    audio: tuple[AudioStream, ...] = ()

    @property
    def demuxer(self) -> str:
        """The name to force with `-f` on every later ffmpeg run."""
        return self.format_name.split(",")[0]


def hardened_ffprobe(source: Path, format_whitelist: str, *options: str, ffprobe: str = "ffprobe") -> list[str]:
    """ffprobe with `options` on our fixed local file, unable to follow any reference out of it."""
    return [
        ffprobe,
        "-hide_banner",
        "-v",
        "error",
        "-protocol_whitelist",
        "file",
        "-format_whitelist",
        format_whitelist,
        *options,
        f"file:{source}",
    ]


def probe_argv(source: Path, format_whitelist: str, ffprobe: str = "ffprobe") -> list[str]:
    """Format and streams as JSON, for `parse_probe`."""
    return hardened_ffprobe(
        source, format_whitelist, "-print_format", "json", "-show_format", "-show_streams", ffprobe=ffprobe
    )


def parse_probe(payload: str | bytes | Mapping[str, Any]) -> MediaInfo:
    """ffprobe `-print_format json -show_format -show_streams` output → MediaInfo."""
    try:
        data = json.loads(payload) if isinstance(payload, str | bytes) else payload
    except ValueError as exc:
        raise SourceUnreadable("The file could not be analysed (the probe returned no readable data).") from exc
    fmt = data.get("format") if isinstance(data, Mapping) else None
    if not isinstance(fmt, Mapping) or not fmt.get("format_name"):
        raise SourceUnreadable("The file could not be analysed: no container format was recognised.")
    streams = [s for s in data.get("streams", []) if isinstance(s, Mapping)]

    video = None
    for stream in streams:
        if stream.get("codec_type") != "video" or _flag(stream, "attached_pic"):
            continue  # cover art is a "video" stream of one picture
        if not stream.get("width") or not stream.get("height"):
            continue
        video = _video(stream)
        break
    audio = tuple(_audio(s) for s in streams if s.get("codec_type") == "audio")
    return MediaInfo(
        format_name=str(fmt["format_name"]),
        duration=_float(fmt.get("duration")) or _float(_video_stream_duration(streams)),
        start_time=_float(fmt.get("start_time")) or 0.0,
        size=_int(fmt.get("size")),
        bit_rate=_int(fmt.get("bit_rate")),
        video=video,
        audio=audio,
    )


def _video_stream_duration(streams: Sequence[Mapping[str, Any]]) -> str | None:
    for stream in streams:
        if stream.get("codec_type") == "video" and stream.get("duration"):
            return str(stream["duration"])
    return None


def probe_source(
    source: Path,
    format_whitelist: str,
    run: Callable[..., RunResult] = run_ffmpeg,
    *,
    timeout: float = 60.0,
) -> MediaInfo:
    """Run the hardened ffprobe on the downloaded source and parse it; failures become typed errors."""
    if not source.is_file() or source.stat().st_size == 0:
        raise SourceUnreadable("The uploaded file is empty.")
    result = run(probe_argv(source, format_whitelist), cwd=source.parent, timeout=timeout, stage="probe")
    return parse_probe(result.stdout)


def _video(stream: Mapping[str, Any]) -> VideoStream:
    return VideoStream(
        index=int(stream.get("index", 0)),
        codec=str(stream.get("codec_name") or "unknown"),
        profile=stream.get("profile"),
        level=_int(stream.get("level")),
        codec_string=stream.get("mime_codec_string"),
        width=int(stream["width"]),
        height=int(stream["height"]),
        sample_aspect=_aspect(stream.get("sample_aspect_ratio")),
        display_aspect=_aspect(stream.get("display_aspect_ratio")),
        rotation=_rotation(stream),
        frame_rate=_frame_rate(stream),
        pix_fmt=stream.get("pix_fmt"),
        bit_rate=_int(stream.get("bit_rate")),
    )


def _audio(stream: Mapping[str, Any]) -> AudioStream:
    return AudioStream(
        index=int(stream.get("index", 0)),
        codec=str(stream.get("codec_name") or "unknown"),
        channels=_int(stream.get("channels")),
        channel_layout=stream.get("channel_layout"),
        sample_rate=_int(stream.get("sample_rate")),
        bit_rate=_int(stream.get("bit_rate")),
    )


def _rotation(stream: Mapping[str, Any]) -> int:
    """Clockwise display rotation. The display matrix reports counter-clockwise degrees; the legacy
    `rotate` tag (older muxers, phones) reports clockwise ones."""
    for side in stream.get("side_data_list") or ():
        if isinstance(side, Mapping) and side.get("side_data_type") == "Display Matrix":
            degrees = _float(side.get("rotation"))
            if degrees is not None:
                return _quarter(-degrees)
    tag = _float((stream.get("tags") or {}).get("rotate"))
    return _quarter(tag) if tag is not None else 0


def _quarter(degrees: float) -> int:
    return (round(degrees / 90) * 90) % 360


def _frame_rate(stream: Mapping[str, Any]) -> float | None:
    for key in ("avg_frame_rate", "r_frame_rate"):
        rate = _fraction(stream.get(key))
        if rate and 0 < rate <= 1000:
            return round(float(rate), 3)
    return None


def _fraction(value: object, sep: str = "/") -> Fraction | None:
    if not isinstance(value, str) or sep not in value:
        return None
    num, _, den = value.partition(sep)
    try:
        return Fraction(int(num), int(den)) if int(den) else None
    except ValueError:
        return None


def _aspect(value: object) -> str | None:
    return value if isinstance(value, str) and value not in ("0:1", "N/A") else None


def _flag(stream: Mapping[str, Any], name: str) -> bool:
    return bool((stream.get("disposition") or {}).get(name))


def _float(value: object) -> float | None:
    if value in (None, "", "N/A"):
        return None
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


def _int(value: object) -> int | None:
    number = _float(value)
    return int(number) if number is not None else None
