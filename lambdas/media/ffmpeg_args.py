"""Pure builders of ffmpeg command lines, and of progress, storyboard and master playlist text."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from lambdas.media.ladder import Rendition
from lambdas.media.policy import ValidationPolicy
from lambdas.media.probe import MediaInfo

FFMPEG = "ffmpeg"
# Output size guard for -fs: twice the capped bitrate plus a fixed allowance for headers and audio.
# NB: in n8.1.2 -fs only bites on muxers that write through one stream (mpegts); hls and mp4 ignore it,
# so the runner's RLIMIT_FSIZE is the hard stop. It stays for the muxers that honour it.
_FS_SLACK_BYTES = 16 * 1024 * 1024


def _common(progress: bool) -> list[str]:
    argv = [FFMPEG, "-hide_banner", "-nostdin", "-y", "-v", "error"]
    if progress:
        argv += ["-progress", "pipe:1", "-nostats"]
    return argv


def input_args(
    source: Path,
    info: MediaInfo,
    policy: ValidationPolicy,
    *,
    seek: float | None = None,
    keyframes_only: bool = False,
) -> list[str]:
    """The hardened input: our fixed local file, read only by the demuxer and decoders the probe found."""
    argv = [
        "-protocol_whitelist",
        "file",
        "-format_whitelist",
        policy.format_whitelist,
        "-codec_whitelist",
        policy.codec_whitelist,
        "-max_pixels",
        str(policy.max_pixels),
    ]
    if seek is not None:
        argv += ["-ss", _ts(seek)]
    if keyframes_only:
        argv += ["-skip_frame", "nokey"]
    return [*argv, "-f", info.demuxer, "-i", f"file:{source}"]


def _time_limit(info: MediaInfo, policy: ValidationPolicy) -> str:
    duration = info.duration if info.duration is not None else policy.max_duration_s
    return _ts(min(duration + 1.0, policy.max_duration_s))


def _size_limit(info: MediaInfo, policy: ValidationPolicy, kbps: int) -> str:
    duration = min(info.duration or policy.max_duration_s, policy.max_duration_s) + 1.0
    return str(int(duration * kbps * 1000 / 8 * 2) + _FS_SLACK_BYTES)


def _video_filter(rendition: Rendition) -> str:
    # ffmpeg applies the source's rotation before this chain, so W:H are the display-oriented size.
    chain = [f"scale={rendition.width}:{rendition.height}", "setsar=1"]
    if rendition.fps_filter:
        chain.insert(0, f"fps={rendition.fps_filter:g}")
    return ",".join(chain)


def _x264(rendition: Rendition) -> list[str]:
    seg = f"{rendition.segment_seconds:g}"
    return [
        "-c:v",
        "libx264",
        "-preset",
        "veryfast",
        "-profile:v",
        "high",
        "-pix_fmt",
        "yuv420p",
        "-crf",
        str(rendition.crf),
        "-maxrate",
        f"{rendition.maxrate_kbps}k",
        "-bufsize",
        f"{rendition.bufsize_kbps}k",
        "-g",
        str(rendition.gop_frames),
        "-keyint_min",
        str(rendition.gop_frames),
        "-sc_threshold",
        "0",
        "-flags",
        "+cgop",
        "-force_key_frames",
        f"expr:gte(t,n_forced*{seg})",
    ]


def _audio(rendition: Rendition) -> list[str]:
    if not rendition.audio:
        return ["-an"]
    return [
        "-c:a",
        "aac",
        "-b:a",
        f"{rendition.audio_bitrate_kbps}k",
        "-ac",
        str(rendition.audio_channels),
        "-ar",
        str(rendition.audio_sample_rate),
    ]


def _maps(rendition: Rendition) -> list[str]:
    maps = ["-map", "0:v:0"]
    if rendition.audio:
        maps += ["-map", "0:a:0"]
    return [*maps, "-sn", "-dn", "-map_metadata", "-1", "-map_chapters", "-1"]


def _encode(source: Path, info: MediaInfo, rendition: Rendition, policy: ValidationPolicy) -> list[str]:
    """Everything up to the muxer: the hardened input, one rendition's x264/AAC encode, time and size limits."""
    total_kbps = rendition.maxrate_kbps + (rendition.audio_bitrate_kbps if rendition.audio else 0)
    return [
        *_common(progress=True),
        *input_args(source, info, policy),
        *_maps(rendition),
        "-vf",
        _video_filter(rendition),
        *_x264(rendition),
        *_audio(rendition),
        "-t",
        _time_limit(info, policy),
        "-fs",
        _size_limit(info, policy, total_kbps),
    ]


def hls_argv(source: Path, info: MediaInfo, rendition: Rendition, policy: ValidationPolicy, out_dir: Path) -> list[str]:
    """One rendition as VOD HLS with CMAF (fMP4) segments, keyframes exactly on segment boundaries."""
    return [
        *_encode(source, info, rendition, policy),
        "-f",
        "hls",
        "-hls_segment_type",
        "fmp4",
        "-hls_time",
        f"{rendition.segment_seconds:g}",
        "-hls_playlist_type",
        "vod",
        "-hls_flags",
        "independent_segments",
        "-hls_fmp4_init_filename",
        "init.mp4",
        "-hls_segment_filename",
        str(out_dir / "seg_%05d.m4s"),
        str(out_dir / "index.m3u8"),
    ]


# The demuxer our own fMP4 rendition output is read back with, and nothing else.
OWN_FMP4_DEMUXER = "mov"


def mp4_remux_argv(joined: Path, out_file: Path) -> list[str]:
    """Fragmented MP4 (init + segments) -> progressive MP4 by stream copy, index (moov) first."""
    return [
        *_common(progress=False),
        "-protocol_whitelist",
        "file",
        "-format_whitelist",
        "mov,mp4,m4a,3gp,3g2,mj2",
        "-f",
        OWN_FMP4_DEMUXER,
        "-i",
        f"file:{joined}",
        "-map",
        "0",
        "-c",
        "copy",
        "-map_metadata",
        "-1",
        "-movflags",
        "+faststart",
        "-f",
        "mp4",
        f"file:{out_file}",
    ]


def poster_argv(
    source: Path, info: MediaInfo, policy: ValidationPolicy, out_file: Path, *, at: float, width: int = 1280
) -> list[str]:
    """One JPEG frame; input seek (`-ss` before `-i`) decodes from the nearest keyframe only."""
    return [
        *_common(progress=False),
        *input_args(source, info, policy, seek=_clamp_seek(at, info)),
        "-map",
        "0:v:0",
        "-frames:v",
        "1",
        "-vf",
        f"scale='min({width},iw)':-2,setsar=1",
        "-q:v",
        "3",
        "-update",
        "1",
        "-f",
        "image2",
        str(out_file),
    ]


def thumbnails_argv(
    source: Path,
    info: MediaInfo,
    policy: ValidationPolicy,
    out_dir: Path,
    times: Sequence[float],
    *,
    width: int = 640,
) -> list[str]:
    """N JPEGs at given times in one process: one seeking input per timestamp, one output each.

    Files are named thumb_00000.jpg, thumb_00001.jpg, … in the order of `times`.
    """
    argv = _common(progress=False)
    for t in times:
        argv += input_args(source, info, policy, seek=_clamp_seek(t, info))
    for i in range(len(times)):
        argv += [
            "-map",
            f"{i}:v:0",
            "-frames:v",
            "1",
            "-vf",
            f"scale='min({width},iw)':-2,setsar=1",
            "-q:v",
            "3",
            "-update",
            "1",
            "-f",
            "image2",
            str(out_dir / f"thumb_{i:05d}.jpg"),
        ]
    return argv


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


def sprite_argv(
    source: Path,
    info: MediaInfo,
    policy: ValidationPolicy,
    plan: SpritePlan,
    out_dir: Path,
    *,
    keyframes_only: bool = True,
) -> list[str]:
    """Sprite sheets, by default from keyframes only (`-skip_frame nokey`): about a twentieth of a full decode."""
    return [
        *_common(progress=False),
        *input_args(source, info, policy, keyframes_only=keyframes_only),
        "-map",
        "0:v:0",
        "-vf",
        (
            f"fps=1/{plan.interval:g},scale={plan.tile_width}:{plan.tile_height},setsar=1,"
            f"tile={plan.columns}x{plan.rows}"
        ),
        "-fps_mode",
        "vfr",
        "-frames:v",
        str(plan.sheets),
        "-q:v",
        "4",
        "-f",
        "image2",
        "-start_number",
        "0",
        str(out_dir / "sprite_%03d.jpg"),
    ]


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


class MeasuredRendition(BaseModel):
    """What the encoder actually produced for one rendition, measured after the encode."""

    model_config = ConfigDict(frozen=True)

    uri: str  # media playlist, relative to the master, e.g. "720p/index.m3u8"
    peak_bps: int
    average_bps: int
    width: int
    height: int
    frame_rate: float
    profile: str | None = "High"
    level: int | None = None  # level_idc as ffprobe reports it: 31 for 3.1
    codec_string: str | None = None  # ffprobe's mime_codec_string wins when present
    audio: bool = True


_AVC_PROFILES = {
    "baseline": (66, 0x00),
    "constrained baseline": (66, 0xC0),  # constraint_set0+1, as x264 writes it
    "main": (77, 0x40),
    "extended": (88, 0x00),
    "high": (100, 0x00),
    "high 10": (110, 0x00),
    "high 4:2:2": (122, 0x00),
    "high 4:4:4 predictive": (244, 0x00),
}


def avc1_codec(profile: str | None, level: int | None) -> str:
    """RFC 6381 `avc1.PPCCLL` from ffprobe's profile name and level_idc."""
    idc, constraints = _AVC_PROFILES.get((profile or "high").lower(), (100, 0x00))
    return f"avc1.{idc:02x}{constraints:02x}{(level or 40):02x}"


def measure_media_playlist(playlist: str, segment_sizes: Mapping[str, int]) -> tuple[int, int]:
    """(peak, average) bits per second over the segments of a media playlist, as HLS defines them."""
    peak = 0.0
    total_bits = 0
    total_seconds = 0.0
    duration: float | None = None
    for raw in playlist.splitlines():
        line = raw.strip()
        if line.startswith("#EXTINF:"):
            duration = float(line[len("#EXTINF:") :].split(",")[0])
        elif line and not line.startswith("#") and duration is not None:
            bits = segment_sizes[line] * 8
            if duration > 0:
                peak = max(peak, bits / duration)
            total_bits += bits
            total_seconds += duration
            duration = None
    average = total_bits / total_seconds if total_seconds else 0.0
    return math.ceil(peak), math.ceil(average)


def master_playlist(
    renditions: Sequence[Rendition],
    measured: Mapping[str, MeasuredRendition],
    *,
    audio_codec: str = "mp4a.40.2",
) -> str:
    """HLS master playlist over renditions in ladder order. Bitrates include the muxed audio."""
    lines = ["#EXTM3U", "#EXT-X-VERSION:7", "#EXT-X-INDEPENDENT-SEGMENTS"]
    for rendition in renditions:
        m = measured[rendition.name]
        codecs = [m.codec_string or avc1_codec(m.profile, m.level)]
        if m.audio:
            codecs.append(audio_codec)
        attrs = [
            f"BANDWIDTH={m.peak_bps}",
            f"AVERAGE-BANDWIDTH={m.average_bps}",
            f"RESOLUTION={m.width}x{m.height}",
            f'CODECS="{",".join(codecs)}"',
            f"FRAME-RATE={m.frame_rate:.3f}",
        ]
        lines += [f"#EXT-X-STREAM-INF:{','.join(attrs)}", m.uri]
    return "\n".join(lines) + "\n"


def _clamp_seek(at: float, info: MediaInfo) -> float:
    if info.duration:
        at = min(at, max(0.0, info.duration - 0.5))
    return max(0.0, at)


def _ts(seconds: float) -> str:
    return f"{seconds:.3f}"


def _vtt_ts(seconds: float) -> str:
    ms = round(seconds * 1000)
    h, rem = divmod(ms, 3_600_000)
    m, rem = divmod(rem, 60_000)
    s, ms = divmod(rem, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}.{ms:03d}"


def _parse_clock(text: str) -> float:
    try:
        h, m, s = text.split(":")
        return max(0.0, int(h) * 3600 + int(m) * 60 + float(s))
    except ValueError:
        return 0.0
