"""Clips: a window [start, end) of a source, planned like a whole source (exact) or copied from a keyframe (fast).

Every time here is in seconds from the source's start (its container's first timestamp), as users see it.
`exact` re-encodes the window through the chunk pipeline: the window's MediaInfo starts where the window
starts, so every offset the pipeline computes from `MediaInfo.start_time` lands inside it. `fast` copies the
streams without decoding them, from the keyframe at or before the start (a stream copy can only start on
one), into one file: MP4 when MP4 carries the video codec, else Matroska.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from contextlib import suppress
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from lambdas.media.errors import PolicyViolation
from lambdas.media.ffmpeg_args import ffmpeg_head, input_args
from lambdas.media.policy import ValidationPolicy
from lambdas.media.probe import MediaInfo, hardened_ffprobe, probe_source
from lambdas.media.runner import RunResult

MIN_CLIP_SECONDS = 0.1
# How far past the end a clip may be asked for and still be read as "to the end": containers round their
# duration (AAC priming makes a 10 s file 10.02 s long, a 29.97 fps one ends between two whole milliseconds).
DURATION_TOLERANCE_S = 0.05
# A fast clip's input seek lands this much before the keyframe: a seek to exactly its time may round to the
# microsecond below it and fall back to the keyframe before; packets before the seek point are dropped, so
# nothing earlier than the keyframe is kept either way.
FAST_SEEK_EARLY_S = 0.001
# Where the keyframe before `start` is looked for: this far back first, then further (long GOPs, late seeks).
KEYFRAME_SEARCH_S = (5.0, 30.0, 120.0, math.inf)

# What MP4 (ffmpeg's mp4 muxer) carries by stream copy; anything else goes into Matroska.
MP4_VIDEO_CODECS = frozenset({"h264", "hevc", "av1", "vp9", "mpeg4", "mpeg2video", "mpeg1video", "mjpeg"})
MP4_AUDIO_CODECS = frozenset({"aac", "mp3", "mp2", "ac3", "eac3", "opus", "flac", "alac"})
# Matroska carries all of these by stream copy (the QuickTime-only Sorenson codecs it does not: see
# ffmpeg_args.NUT_PIECE_CODECS); audio it cannot carry is encoded to AAC, the one re-encode fast mode does.
MKV_UNCOPYABLE_VIDEO = frozenset({"svq1", "svq3"})
MKV_AUDIO_CODECS = MP4_AUDIO_CODECS | {"vorbis", "pcm_s16le", "pcm_s24le", "pcm_f32le", "pcm_u8", "pcm_s32le"}
FAST_AUDIO_BITRATE_KBPS = 160


class ClipWindow(BaseModel):
    """[start_s, end_s) of the source, in seconds from its start."""

    model_config = ConfigDict(frozen=True)

    start_s: Annotated[float, Field(ge=0)]
    end_s: Annotated[float, Field(gt=0)]

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s


def range_problem(start_s: float, end_s: float, *, max_seconds: float, duration_s: float | None) -> str | None:
    """Why [start_s, end_s) is not a clip one may ask for (None: it is). The same rule for the API and the
    pipeline; the field at fault is the one named first in the message."""
    length = end_s - start_s
    known = duration_s if duration_s is not None else math.inf
    checks = (
        (start_s < 0, "start_s: the start cannot be before 0"),
        (end_s <= start_s, f"end_s: the end ({end_s:g} s) must be after the start ({start_s:g} s)"),
        (length < MIN_CLIP_SECONDS, f"end_s: the clip is {length:.3f} s long; the shortest is {MIN_CLIP_SECONDS:g} s"),
        (
            length > max_seconds,
            f"end_s: the clip is {length:g} s long; the longest this deployment makes is {max_seconds:g} s",
        ),
        (start_s >= known, f"start_s: the source is {known:g} s long; the clip starts at {start_s:g} s"),
        (end_s > known + DURATION_TOLERANCE_S, f"end_s: the source is {known:g} s long; the clip ends at {end_s:g} s"),
    )
    return next((problem for failed, problem in checks if failed), None)


def clip_window(start_s: float, end_s: float, info: MediaInfo, *, max_seconds: float = math.inf) -> ClipWindow:
    """The window of a probed source, the end clamped to its duration; a range the source cannot give is a
    PolicyViolation naming the field (an upload asking for a clip past the real duration fails with it)."""
    problem = range_problem(start_s, end_s, max_seconds=max_seconds, duration_s=info.duration)
    if problem is not None:
        field, _, message = problem.partition(": ")
        raise PolicyViolation(field, message)
    end = min(end_s, info.duration) if info.duration is not None else end_s
    return ClipWindow(start_s=start_s, end_s=end)


def window_media(info: MediaInfo, window: ClipWindow) -> MediaInfo:
    """The source as the pipeline sees a clip of it: starting at the window's first instant, as long as the
    window, its size pro rata (the planner sizes pieces by bytes per second). Streams are unchanged."""
    size = None
    if info.size is not None and info.duration:
        size = max(1, round(info.size * window.duration_s / info.duration))
    return info.model_copy(
        update={"start_time": info.start_time + window.start_s, "duration": window.duration_s, "size": size}
    )


# --- fast mode ---------------------------------------------------------------------------------------------


class FastClip(BaseModel):
    """What a fast clip did: where it really starts and how long it is, as the output says."""

    model_config = ConfigDict(frozen=True)

    keyframe_s: float  # the keyframe the copy starts on, seconds from the source's start
    start_shift_s: float  # requested start - keyframe_s (>= 0): how much earlier the clip starts
    duration_s: float | None = None  # the output's own duration, probed
    container: str  # "mp4" or "matroska"
    audio_copied: bool  # False: the audio was encoded to AAC (the container cannot carry the source's)


def keyframes_argv(
    source: Path, info: MediaInfo, format_whitelist: str, *, since_s: float, until_s: float
) -> list[str]:
    """ffprobe listing the video packets' pts and flags between two times (from the source's start), demux only."""
    if info.video is None:
        raise ValueError("no video stream")
    start = info.start_time + max(0.0, since_s)
    interval = f"{start:.6f}%{info.start_time + until_s:.6f}" if since_s > 0 else f"%{info.start_time + until_s:.6f}"
    return hardened_ffprobe(
        source,
        format_whitelist,
        "-select_streams",
        str(info.video.index),
        "-read_intervals",
        interval,
        "-show_entries",
        "packet=pts_time,flags",
        "-of",
        "csv=p=0",
    )


def parse_keyframes(stdout: str) -> list[float]:
    """The pts (absolute, seconds) of every keyframe packet in `keyframes_argv`'s output, sorted."""
    times = []
    for line in stdout.splitlines():
        parts = line.strip().split(",")
        if len(parts) >= 2 and parts[1].startswith("K"):
            with suppress(ValueError):
                times.append(float(parts[0]))
    return sorted(times)


def keyframe_at_or_before(keyframes: Sequence[float], at: float) -> float | None:
    """The latest keyframe time <= `at` (a microsecond of slack for printed rounding), or None."""
    before = [t for t in keyframes if t <= at + 1e-6]
    return before[-1] if before else None


def fast_container(info: MediaInfo) -> str:
    """ "mp4" when MP4 carries the video codec by stream copy, else "matroska"."""
    if info.video is None:
        raise ValueError("no video stream")
    if info.video.codec in MKV_UNCOPYABLE_VIDEO:
        raise PolicyViolation("mode", f"{info.video.codec!r} video cannot be copied into a clip: use mode exact.")
    return "mp4" if info.video.codec in MP4_VIDEO_CODECS else "matroska"


def copies_audio(info: MediaInfo, codec: str) -> bool:
    return codec in (MP4_AUDIO_CODECS if fast_container(info) == "mp4" else MKV_AUDIO_CODECS)


def fast_clip_argv(
    source: Path,
    info: MediaInfo,
    policy: ValidationPolicy,
    out_file: Path,
    *,
    keyframe_s: float,
    end_s: float,
    audio_stream: int | None,
) -> list[str]:
    """Stream copy of the picture (and one audio stream) from the keyframe at `keyframe_s` to `end_s`, both from
    the source's start, timestamps from zero. Audio the container cannot carry is encoded to AAC."""
    if info.video is None:
        raise ValueError("no video stream")
    container = fast_container(info)
    seek = max(0.0, keyframe_s - FAST_SEEK_EARLY_S)
    # An input seek (before -i: the demuxer lands on the keyframe, nothing is decoded), to the microsecond:
    # input_args' millisecond could round below the keyframe and land on the one before.
    argv = [
        *ffmpeg_head(progress=False),
        *(["-ss", f"{seek:.6f}"] if seek > 0 else []),
        *input_args(source, info, policy),
        "-map",
        f"0:{info.video.index}",
    ]
    audio = next((a for a in info.audio if a.index == audio_stream), None)
    if audio is not None:
        argv += ["-map", f"0:{audio.index}"]
    # A demuxer seek lands on the keyframe at or before the seek point that its index knows (Matroska: a cue
    # point, maybe seconds earlier); a stream copy keeps what comes before the seek point unless told not to.
    argv += ["-copypriorss", "0", "-c:v", "copy"]
    if container == "mp4" and info.video.codec == "hevc":
        argv += ["-tag:v", "hvc1"]  # what Apple players require of HEVC in MP4
    if audio is not None:
        if copies_audio(info, audio.codec):
            argv += ["-c:a", "copy"]
        else:
            argv += ["-c:a", "aac", "-b:a", f"{FAST_AUDIO_BITRATE_KBPS}k"]
    argv += ["-t", f"{max(0.0, end_s - seek):.6f}", "-sn", "-dn", "-map_metadata", "-1", "-map_chapters", "-1"]
    if container == "mp4":
        argv += ["-movflags", "+faststart"]
    return [*argv, "-f", container, f"file:{out_file}"]


def fast_clip_name(info: MediaInfo) -> str:
    """The fast clip's file name: clip.mp4 or clip.mkv."""
    return "clip.mp4" if fast_container(info) == "mp4" else "clip.mkv"


def find_keyframe(
    source: Path,
    info: MediaInfo,
    format_whitelist: str,
    start_s: float,
    run: Callable[..., RunResult],
    *,
    timeout: float,
) -> float:
    """The keyframe at or before `start_s` (seconds from the source's start), looked for ever further back."""
    for back in KEYFRAME_SEARCH_S:
        since = start_s - back
        argv = keyframes_argv(source, info, format_whitelist, since_s=since, until_s=start_s + 0.5)
        result = run(argv, cwd=source.parent, timeout=timeout, stage="probe")
        found = keyframe_at_or_before(parse_keyframes(result.stdout), info.start_time + start_s)
        if found is not None:
            return max(0.0, found - info.start_time)
        if since <= 0:
            break
    return 0.0  # no keyframe flagged before the start (some streams flag none): copy from the beginning


def make_fast_clip(
    source: Path,
    info: MediaInfo,
    policy: ValidationPolicy,
    window: ClipWindow,
    out_dir: Path,
    *,
    run: Callable[..., RunResult],
    audio_stream: int | None,
    timeout: float,
) -> tuple[Path, FastClip]:
    """The fast clip of `window` in `out_dir`, and what it did (the keyframe, the shift, the probed duration)."""
    keyframe = find_keyframe(source, info, policy.format_whitelist, window.start_s, run, timeout=timeout)
    out = out_dir / fast_clip_name(info)
    argv = fast_clip_argv(source, info, policy, out, keyframe_s=keyframe, end_s=window.end_s, audio_stream=audio_stream)
    run(argv, cwd=out_dir, timeout=timeout)
    made = probe_source(out, "mov,mp4,m4a,3gp,3g2,mj2,matroska,webm", run, timeout=timeout)
    audio = next((a for a in info.audio if a.index == audio_stream), None)
    return out, FastClip(
        keyframe_s=round(keyframe, 6),
        start_shift_s=round(max(0.0, window.start_s - keyframe), 6),
        duration_s=made.duration,
        container=fast_container(info),
        audio_copied=audio is None or copies_audio(info, audio.codec),
    )
