"""Clip ranges, windows and fast (stream copy) clips: the pure rules, and real ffmpeg on indexed sources."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from lambdas.media.clip import (
    ClipWindow,
    clip_window,
    fast_clip_argv,
    fast_container,
    keyframe_at_or_before,
    make_fast_clip,
    parse_keyframes,
    range_problem,
    window_media,
)
from lambdas.media.errors import PolicyViolation
from lambdas.media.policy import ValidationPolicy
from lambdas.media.probe import AudioStream, MediaInfo, VideoStream, probe_source
from lambdas.media.runner import run
from tests.frame_index import frame_indices, make_indexed_source

POLICY = ValidationPolicy()


def _info(duration: float = 10.0, *, codec: str = "h264", start: float = 0.0, audio: str = "aac") -> MediaInfo:
    return MediaInfo(
        format_name="mov,mp4,m4a,3gp,3g2,mj2",
        duration=duration,
        start_time=start,
        size=1_000_000,
        video=VideoStream(index=0, codec=codec, width=640, height=360, frame_rate=24.0),
        audio=(AudioStream(index=1, codec=audio, channels=2, sample_rate=48000),),
    )


# --- ranges ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "end", "field"),
    [
        (-1.0, 2.0, "start_s"),
        (2.0, 2.0, "end_s"),  # end <= start
        (3.0, 2.0, "end_s"),
        (1.0, 1.05, "end_s"),  # shorter than 0.1 s
        (0.0, 601.0, "end_s"),  # longer than the maximum
        (0.0, 11.0, "end_s"),  # past the duration
        (10.0, 10.5, "start_s"),  # starts at the end
    ],
)
def test_a_bad_range_names_its_field(start: float, end: float, field: str) -> None:
    problem = range_problem(start, end, max_seconds=600, duration_s=10.0)
    assert problem is not None
    assert problem.startswith(f"{field}: ")


@pytest.mark.parametrize(("start", "end"), [(0.0, 0.1), (0.0, 10.0), (9.9, 10.04), (0.0, 600.0)])
def test_good_ranges_pass(start: float, end: float) -> None:
    assert range_problem(start, end, max_seconds=600, duration_s=None if end > 10.04 else 10.0) is None


def test_a_window_past_the_real_duration_is_a_policy_violation_naming_the_field() -> None:
    with pytest.raises(PolicyViolation) as raised:
        clip_window(2.0, 12.0, _info(10.0))
    assert raised.value.field == "end_s"
    assert "10 s long" in str(raised.value)


def test_an_end_within_the_duration_tolerance_is_clamped_to_the_duration() -> None:
    assert clip_window(2.0, 10.03, _info(10.0)) == ClipWindow(start_s=2.0, end_s=10.0)


def test_a_windowed_source_starts_and_lasts_as_the_window() -> None:
    info = _info(10.0, start=1.5)
    windowed = window_media(info, ClipWindow(start_s=2.0, end_s=6.0))
    assert windowed.start_time == pytest.approx(3.5)  # every offset of the plan counts from here
    assert windowed.duration == pytest.approx(4.0)
    assert windowed.size == 400_000  # pro rata: the planner sizes pieces by bytes per second
    assert windowed.video == info.video
    assert windowed.audio == info.audio


# --- keyframes and the fast argv ---------------------------------------------------------------------------


def test_keyframes_are_read_from_flagged_packets() -> None:
    out = "0.000000,K__\n0.041667,___\n1.000000,K_\n1.041667,___\n2.000000,K__\nN/A,K__\n"
    frames = parse_keyframes(out)
    assert frames == [0.0, 1.0, 2.0]
    assert keyframe_at_or_before(frames, 1.7) == 1.0
    assert keyframe_at_or_before(frames, 2.0) == 2.0  # a start on a keyframe stays there
    assert keyframe_at_or_before(frames, 1.9999999) == 2.0  # printed rounding of the same instant
    assert keyframe_at_or_before([1.0], 0.5) is None


def test_the_fast_argv_seeks_the_input_just_before_the_keyframe_and_drops_what_comes_before() -> None:
    argv = fast_clip_argv(
        Path("/tmp/src"), _info(), POLICY, Path("/tmp/clip.mp4"), keyframe_s=2.002002, end_s=5.0, audio_stream=1
    )
    ss = argv.index("-ss")
    assert argv[ss + 1] == "2.001002"  # microseconds: the millisecond below could be the keyframe before
    assert ss < argv.index("-i")
    assert argv[argv.index("-copypriorss") + 1] == "0"
    assert argv[argv.index("-t") + 1] == f"{5.0 - 2.001002:.6f}"
    assert argv[argv.index("-c:a") : argv.index("-c:a") + 2] == ["-c:a", "copy"]
    assert argv[-2:] == ["mp4", "file:/tmp/clip.mp4"]


def test_the_fast_container_is_matroska_for_codecs_mp4_cannot_carry_and_audio_is_encoded_when_needed() -> None:
    assert fast_container(_info(codec="h264")) == "mp4"
    assert fast_container(_info(codec="prores")) == "matroska"
    argv = fast_clip_argv(
        Path("/s"), _info(audio="pcm_s16le"), POLICY, Path("/c.mp4"), keyframe_s=0.0, end_s=1.0, audio_stream=1
    )
    assert "-ss" not in argv  # from the very start: no seek at all
    assert argv[argv.index("-c:a") + 1] == "aac"  # MP4 takes no PCM
    with pytest.raises(PolicyViolation):
        fast_container(_info(codec="svq3"))


# --- real ffmpeg ----------------------------------------------------------------------------------------

SOURCES = {
    "h264.mp4": {},
    "h264.ts": {"container": ("-f", "mpegts")},
    "vp9-opus.webm": {
        "video": ("-c:v", "libvpx-vp9", "-deadline", "realtime", "-cpu-used", "8", "-b:v", "200k"),
        "audio": ("-c:a", "libopus"),
    },
    "vp8-vorbis.mkv": {
        "video": ("-c:v", "libvpx", "-deadline", "realtime", "-b:v", "200k"),
        "audio": ("-c:a", "libvorbis"),
    },
    "prores-pcm.mov": {"video": ("-c:v", "prores_ks", "-profile:v", "0"), "audio": ("-c:a", "pcm_s16le")},
    "mpeg4-mp3.avi": {"video": ("-c:v", "mpeg4", "-q:v", "5"), "audio": ("-c:a", "libmp3lame")},
}


@pytest.mark.parametrize("name", sorted(SOURCES))
def test_a_fast_clip_starts_on_the_keyframe_it_reports(name: str, tmp_path: Path, layer_path: Path) -> None:
    source = make_indexed_source(tmp_path / name, seconds=4, rate="24", gop=24, **SOURCES[name])  # type: ignore[arg-type]
    info = probe_source(source, POLICY.format_whitelist)
    assert info.video is not None
    window = clip_window(1.3, 2.8, info)
    out, made = make_fast_clip(
        source, info, POLICY, window, tmp_path, run=run, audio_stream=info.audio[0].index, timeout=60
    )
    frames = frame_indices(out)
    video_start = (info.video.start_time or info.start_time) - info.start_time
    # The keyframe at or before 1.3 s is frame 24 (one every 24 frames); ProRes is all keyframes: frame 31.
    assert frames[0] == (31 if name.startswith("prores") else 24), frames[:5]
    # The time reported is the first frame's (within a frame: AVI stores a frame's time one frame off).
    assert abs(made.keyframe_s - video_start - frames[0] / 24) <= 1 / 24 + 1e-3
    assert made.keyframe_s <= 1.3
    assert frames == sorted(frames)
    assert frames[-1] in range(66, 70)
    assert made.start_shift_s == pytest.approx(1.3 - made.keyframe_s, abs=1e-6)
    assert made.duration_s is not None
    assert made.duration_s == pytest.approx(len(frames) / 24, abs=0.1)
    container = probe_source(out, "mov,mp4,m4a,3gp,3g2,mj2,matroska,webm")
    assert container.demuxer == ("mov" if made.container == "mp4" else "matroska")
    assert len(container.audio) == 1


def test_a_fast_clip_from_a_late_start_backs_off_to_find_its_keyframe(tmp_path: Path, layer_path: Path) -> None:
    # One keyframe only, at 0: the search window of 5 s before a start at 7 s holds none.
    source = make_indexed_source(tmp_path / "long-gop.mp4", seconds=8, gop=1000, size="160x90", audio=None)
    info = probe_source(source, POLICY.format_whitelist)
    out, made = make_fast_clip(
        source, info, POLICY, clip_window(7.0, 7.5, info), tmp_path, run=run, audio_stream=None, timeout=60
    )
    assert made.keyframe_s == 0.0
    assert made.start_shift_s == pytest.approx(7.0)
    assert frame_indices(out)[0] == 0
    assert not math.isinf(made.duration_s or math.inf)
