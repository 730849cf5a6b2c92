"""ffprobe: the hardened command line and a pure parser of its JSON into `MediaInfo`."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from fractions import Fraction
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from lambdas.media.errors import SourceUnreadable
from lambdas.media.runner import RunResult
from lambdas.media.runner import run as run_ffmpeg

_VFR_TOLERANCE = 0.01
# A claimed rate this far above the counted one is a time base (1000/1, 120/1, 240/1), not a frame rate.
_CLAIM_TOLERANCE = 0.05
_MAX_PLAUSIBLE_RATE = 1000
_INTERLACED = frozenset({"tt", "bb", "tb", "bt"})
_HDR_TRANSFERS = {"smpte2084": "pq", "arib-std-b67": "hlg"}

# Planar/semi-planar formats name their depth: yuv420p10le, yuva444p16be, gbrp12le, gray10le, p010le, x2rgb10le.
_PIX_FMT_DEPTH = re.compile(r"^(?:yuva?j?\d{3}p|gbra?p|gray|ya|p[024]|x2rgb|x2bgr)(\d{1,2})(?:le|be)$")
_PACKED_DEPTH = {"rgb48le": 16, "rgb48be": 16, "bgr48le": 16, "bgr48be": 16, "rgba64le": 16, "rgba64be": 16}
_EIGHT_BIT_PREFIXES = ("yuv", "nv1", "nv2", "gbr", "rgb", "bgr", "argb", "abgr", "gray", "pal8", "uyvy", "yuyv")


class VideoStream(BaseModel):
    model_config = ConfigDict(frozen=True)

    index: int
    codec: str
    profile: str | None = None
    level: int | None = None
    codec_string: str | None = None  # RFC 6381, e.g. avc1.64001f, when ffprobe knows it
    start_time: float | None = None  # the first frame's timestamp, as the container stores it
    width: int
    height: int
    sample_aspect: str | None = None
    display_aspect: str | None = None
    rotation: int = 0  # clockwise degrees a player turns the picture: 0, 90, 180 or 270
    frame_rate: float | None = None  # what a viewer sees: measured when the container's claim is a time base
    pix_fmt: str | None = None
    bit_rate: int | None = None
    field_order: str | None = None  # "progressive", "tt", "bb", "tb", "bt"; None when unknown
    color_transfer: str | None = None
    color_primaries: str | None = None
    color_space: str | None = None
    color_range: str | None = None  # "tv" (limited) or "pc" (full)
    bit_depth: int | None = None
    nb_frames: int | None = None  # frames (packets) in the stream: counted when ffprobe read them all
    duration: float | None = None  # the stream's own duration, seconds (Matroska: its DURATION tag)
    avg_frame_rate: float | None = None  # as the container claims it
    r_frame_rate: float | None = None
    # nb_frames / duration. Above the true rate when an edit list hides stored frames (a stream-copy trim).
    measured_frame_rate: float | None = None

    @property
    def variable_frame_rate(self) -> bool:
        """The frames are not evenly spaced: the container's two claims disagree, or fewer frames were
        counted than the claimed rate needs (the claim was a time base: VFR Matroska/WebM/AVI)."""
        avg, guess = self.avg_frame_rate, self.r_frame_rate
        if avg and guess and abs(avg / guess - 1) > _VFR_TOLERANCE:
            return True
        claimed = avg or guess
        measured = self.measured_frame_rate
        return bool(claimed and measured and measured < claimed * (1 - _VFR_TOLERANCE))

    @property
    def interlaced(self) -> bool:
        return self.field_order in _INTERLACED

    @property
    def top_field_first(self) -> bool:
        return self.field_order in ("tt", "tb")

    @property
    def hdr(self) -> str | None:
        """The HDR transfer: "pq" (SMPTE ST 2084), "hlg" (ARIB STD-B67), or None for SDR and unknown."""
        return _HDR_TRANSFERS.get(self.color_transfer or "")

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
    language: str | None = None  # tags.language; "und" and empty become None
    title: str | None = None  # tags.title only (handler_name is not a title)
    default: bool = False  # disposition.default
    start_time: float | None = None


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
        source,
        format_whitelist,
        "-print_format",
        "json",
        "-show_format",
        "-show_streams",
        "-count_packets",  # demux-only count of every stream's packets: the measured frame rate needs it
        ffprobe=ffprobe,
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
    # A stream a header declares but that carries no sound (an MPEG-TS PMT entry, 0 channels, 0 Hz) is no track.
    audio = tuple(
        _audio(s)
        for s in streams
        if s.get("codec_type") == "audio" and _int(s.get("channels")) != 0 and _int(s.get("sample_rate")) != 0
    )
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
    # Packets ffprobe counted (`-count_packets`) beat the header's nb_frames: an AVI index lists dropped frames.
    frames = _int(stream.get("nb_read_packets")) or _int(stream.get("nb_frames"))
    duration = _float(stream.get("duration")) or _clock_tag(_tags(stream).get("DURATION"))
    measured = _measured_rate(frames, duration)
    claimed = _claimed_rate(stream)
    return VideoStream(
        index=int(stream.get("index", 0)),
        codec=str(stream.get("codec_name") or "unknown"),
        start_time=_float(stream.get("start_time")),
        profile=stream.get("profile"),
        level=_int(stream.get("level")),
        codec_string=stream.get("mime_codec_string"),
        width=int(stream["width"]),
        height=int(stream["height"]),
        sample_aspect=_aspect(stream.get("sample_aspect_ratio")),
        display_aspect=_aspect(stream.get("display_aspect_ratio")),
        rotation=_rotation(stream),
        frame_rate=_viewer_rate(claimed, measured),
        pix_fmt=stream.get("pix_fmt"),
        bit_rate=_int(stream.get("bit_rate")),
        field_order=_field_order(stream.get("field_order")),
        color_transfer=_known(stream.get("color_transfer")),
        color_primaries=_known(stream.get("color_primaries")),
        color_space=_known(stream.get("color_space")),
        color_range=_known(stream.get("color_range")),
        bit_depth=_bit_depth(stream),
        nb_frames=frames,
        duration=duration,
        avg_frame_rate=_rate(stream.get("avg_frame_rate")),
        r_frame_rate=_rate(stream.get("r_frame_rate")),
        measured_frame_rate=measured,
    )


def _audio(stream: Mapping[str, Any]) -> AudioStream:
    tags = _tags(stream)
    return AudioStream(
        index=int(stream.get("index", 0)),
        codec=str(stream.get("codec_name") or "unknown"),
        channels=_int(stream.get("channels")),
        channel_layout=stream.get("channel_layout"),
        sample_rate=_int(stream.get("sample_rate")),
        bit_rate=_int(stream.get("bit_rate")),
        language=_language(tags.get("language")),
        title=_text(tags.get("title")),
        default=_flag(stream, "default"),
        start_time=_float(stream.get("start_time")),
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


def _claimed_rate(stream: Mapping[str, Any]) -> float | None:
    avg = _fraction(stream.get("avg_frame_rate"))
    if avg and 0 < avg <= _MAX_PLAUSIBLE_RATE:
        return round(float(avg), 3)
    guess = _fraction(stream.get("r_frame_rate"))
    if not guess or not 0 < guess <= _MAX_PLAUSIBLE_RATE:
        return None
    tick = _fraction(stream.get("time_base"))
    if tick and guess == 1 / tick and guess >= _MAX_PLAUSIBLE_RATE:
        return None  # Matroska's millisecond clock (1000/1) with no average: a time base, not a rate
    return round(float(guess), 3)


def _measured_rate(frames: int | None, duration: float | None) -> float | None:
    if not frames or frames < 2 or not duration or duration <= 0:
        return None
    return round(frames / duration, 3)


def _viewer_rate(claimed: float | None, measured: float | None) -> float | None:
    """The claim, unless clearly fewer frames were counted than it needs: then the claim was a time base.
    A count *above* the claim is no evidence: an edit list (a trimmed phone clip) keeps stored frames
    that are never shown, and field-coded streams can carry a packet per field."""
    if claimed is None:
        return measured
    if measured is not None and measured < claimed * (1 - _CLAIM_TOLERANCE):
        return measured
    return claimed


def _clock_tag(value: object) -> float | None:
    """Matroska's per-stream DURATION tag, "HH:MM:SS.nnnnnnnnn", in seconds."""
    if not isinstance(value, str):
        return None
    parts = value.strip().split(":")
    if len(parts) != 3:
        return None
    try:
        hours, minutes, seconds = int(parts[0]), int(parts[1]), float(parts[2])
    except ValueError:
        return None
    total = hours * 3600 + minutes * 60 + seconds
    return total if total > 0 else None


def _rate(value: object) -> float | None:
    rate = _fraction(value)
    return round(float(rate), 3) if rate and rate > 0 else None


def _field_order(value: object) -> str | None:
    return value if value in ("progressive", "tt", "bb", "tb", "bt") else None


def _bit_depth(stream: Mapping[str, Any]) -> int | None:
    """bits_per_raw_sample when ffprobe reports it, else read off the pixel format (yuv420p10le → 10)."""
    raw = _int(stream.get("bits_per_raw_sample"))
    if raw and 0 < raw <= 32:
        return raw
    pix_fmt = stream.get("pix_fmt")
    if not isinstance(pix_fmt, str) or not pix_fmt:
        return None
    match = _PIX_FMT_DEPTH.match(pix_fmt)
    if match:
        return int(match.group(1))
    if pix_fmt in _PACKED_DEPTH:
        return _PACKED_DEPTH[pix_fmt]
    if re.search(r"\d(?:le|be)$", pix_fmt):
        return None  # a high-depth layout we do not know: better unknown than wrong
    return 8 if pix_fmt.startswith(_EIGHT_BIT_PREFIXES) else None


def _tags(stream: Mapping[str, Any]) -> Mapping[str, Any]:
    tags = stream.get("tags")
    return tags if isinstance(tags, Mapping) else {}


def _known(value: object) -> str | None:
    return value if isinstance(value, str) and value and value not in ("unknown", "N/A", "unspecified") else None


def _text(value: object) -> str | None:
    return value.strip() or None if isinstance(value, str) else None


def _language(value: object) -> str | None:
    text = _text(value)
    return None if text is None or text.lower() == "und" else text


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
