"""ffmpeg command lines as data; storyboard, progress and master playlist text."""

from __future__ import annotations

from pathlib import Path

import pytest

from lambdas.media import ffmpeg_args as fa
from lambdas.media.ladder import plan_ladder
from lambdas.media.policy import ValidationPolicy
from tests.unit.media.conftest import load_info

POLICY = ValidationPolicy()
SRC = Path("/tmp/job/source")
INFO = load_info("landscape_h264_aac").model_copy(update={"duration": 10.0})
MUTE = load_info("portrait_h264_noaudio")


def opt(argv: list[str], name: str) -> str:
    return argv[argv.index(name) + 1]


def before_input(argv: list[str]) -> list[str]:
    return argv[: argv.index("-i")]


def after_input(argv: list[str]) -> list[str]:
    return argv[argv.index("-i") + 2 :]


def test_input_is_hardened() -> None:
    argv = fa.input_args(SRC, INFO, POLICY)
    assert opt(argv, "-protocol_whitelist") == "file"
    assert opt(argv, "-format_whitelist") == POLICY.format_whitelist
    assert opt(argv, "-codec_whitelist") == POLICY.codec_whitelist
    assert opt(argv, "-max_pixels") == str(4096 * 4096)
    assert opt(argv, "-f") == "mov"  # forced to the probed demuxer
    assert argv[-2:] == ["-i", "file:/tmp/job/source"]


def test_hls_rendition() -> None:
    rendition = plan_ladder(INFO, segment_seconds=4)[0]  # 320x240 source → one 240p rung
    argv = fa.hls_argv(SRC, INFO, rendition, POLICY, Path("/tmp/job/out/240p"))
    head, tail = before_input(argv), after_input(argv)
    assert argv[0] == "ffmpeg"
    assert {"-nostdin", "-nostats"} <= set(head)
    assert opt(head, "-progress") == "pipe:1"
    assert opt(head, "-format_whitelist") == POLICY.format_whitelist
    assert opt(tail, "-vf") == "scale=320:240,setsar=1"
    assert opt(tail, "-c:v") == "libx264"
    assert opt(tail, "-preset") == "veryfast"
    assert (opt(tail, "-crf"), opt(tail, "-maxrate"), opt(tail, "-bufsize")) == (
        str(rendition.crf),
        f"{rendition.maxrate_kbps}k",
        f"{rendition.bufsize_kbps}k",
    )
    assert opt(tail, "-g") == opt(tail, "-keyint_min") == "120"
    assert opt(tail, "-sc_threshold") == "0"
    assert opt(tail, "-force_key_frames") == "expr:gte(t,n_forced*4)"
    assert (opt(tail, "-c:a"), opt(tail, "-b:a"), opt(tail, "-ac")) == ("aac", "128k", "2")
    assert opt(tail, "-t") == "11.000"
    assert int(opt(tail, "-fs")) > 0
    assert opt(tail, "-f") == "hls"
    assert opt(tail, "-hls_segment_type") == "fmp4"
    assert opt(tail, "-hls_time") == "4"
    assert opt(tail, "-hls_playlist_type") == "vod"
    assert opt(tail, "-hls_flags") == "independent_segments"
    assert opt(tail, "-hls_segment_filename") == "/tmp/job/out/240p/seg_%05d.m4s"
    assert argv[-1] == "/tmp/job/out/240p/index.m3u8"
    assert tail[:2] == ["-map", "0:v:0"]
    assert "0:a:0" in tail


def test_hls_without_audio_uses_an() -> None:
    rendition = plan_ladder(MUTE)[0]
    argv = fa.hls_argv(SRC, MUTE, rendition, POLICY, Path("/o"))
    assert "-an" in argv
    assert "-c:a" not in argv
    assert "0:a:0" not in argv


def test_time_limit_never_exceeds_the_policy() -> None:
    long = INFO.model_copy(update={"duration": 10_000.0})
    argv = fa.hls_argv(SRC, long, plan_ladder(long)[0], POLICY, Path("/o"))
    assert opt(after_input(argv), "-t") == "7200.000"


def test_fps_filter_goes_first() -> None:
    rendition = plan_ladder(INFO)[0].model_copy(update={"fps_filter": 59.94})
    assert opt(fa.hls_argv(SRC, INFO, rendition, POLICY, Path("/o")), "-vf") == "fps=59.94,scale=320:240,setsar=1"


def test_mp4_fallback_is_a_stream_copy_of_our_own_fmp4_only() -> None:
    argv = fa.mp4_remux_argv(Path("/tmp/j/joined.mp4"), Path("/tmp/j/out.mp4"))
    assert opt(argv, "-c") == "copy"
    assert opt(argv, "-f") == "mov"  # the input demuxer is fixed, not guessed
    assert opt(argv, "-protocol_whitelist") == "file"
    assert opt(argv, "-movflags") == "+faststart"
    assert argv[-3:] == ["-f", "mp4", "file:/tmp/j/out.mp4"]


def test_poster_seeks_on_the_input() -> None:
    argv = fa.poster_argv(SRC, INFO, POLICY, Path("/o/poster.jpg"), at=3.0)
    assert opt(before_input(argv), "-ss") == "3.000"
    assert opt(after_input(argv), "-frames:v") == "1"
    assert argv[-1] == "/o/poster.jpg"
    # Past the end: clamped to just before it.
    assert opt(fa.poster_argv(SRC, INFO, POLICY, Path("/p.jpg"), at=99), "-ss") == "9.500"


def test_thumbnails_one_process_one_seeking_input_each() -> None:
    times = fa.thumbnail_times(INFO.duration, 3)
    assert times == [2.5, 5.0, 7.5]
    argv = fa.thumbnails_argv(SRC, INFO, POLICY, Path("/o"), times)
    assert argv.count("-i") == 3
    assert argv.count("-format_whitelist") == 3  # every input hardened
    assert [argv[i + 1] for i, a in enumerate(argv) if a == "-ss"] == ["2.500", "5.000", "7.500"]
    assert [argv[i + 1] for i, a in enumerate(argv) if a == "-map"] == ["0:v:0", "1:v:0", "2:v:0"]
    assert argv[-1] == "/o/thumb_00002.jpg"
    assert fa.thumbnail_times(None, 2) == [0.0]


def test_sprite_decodes_keyframes_only() -> None:
    plan = fa.plan_sprite(INFO, interval=2, columns=3, rows=2, tile_width=160)
    assert (plan.tile_height, plan.count, plan.per_sheet, plan.sheets) == (120, 5, 6, 1)
    argv = fa.sprite_argv(SRC, INFO, POLICY, plan, Path("/o"))
    assert opt(before_input(argv), "-skip_frame") == "nokey"
    assert opt(argv, "-vf") == "fps=1/2,scale=160:120,setsar=1,tile=3x2"
    assert opt(argv, "-frames:v") == "1"
    assert argv[-1] == "/o/sprite_%03d.jpg"


def test_storyboard_vtt() -> None:
    plan = fa.plan_sprite(INFO.model_copy(update={"duration": 25.0}), interval=5, columns=2, rows=2, tile_width=100)
    assert plan.sheets == 2
    vtt = fa.storyboard_vtt(plan, 25.0, sheet_url="sb/{:03d}.jpg")
    assert vtt.splitlines()[:8] == [
        "WEBVTT",
        "",
        "00:00:00.000 --> 00:00:05.000",
        "sb/000.jpg#xywh=0,0,100,76",
        "",
        "00:00:05.000 --> 00:00:10.000",
        "sb/000.jpg#xywh=100,0,100,76",
        "",
    ]
    assert "sb/000.jpg#xywh=100,76,100,76" in vtt
    assert vtt.rstrip().splitlines()[-2:] == ["00:00:20.000 --> 00:00:25.000", "sb/001.jpg#xywh=0,0,100,76"]


PROGRESS = """\
frame=30
fps=0.00
out_time_us=1000000
out_time_ms=1000000
out_time=00:00:01.000000
speed=2.01x
progress=continue
frame=60
fps=0.00
out_time_us=N/A
out_time=00:00:01.933333
speed=N/A
progress=end
"""


def test_progress_blocks() -> None:
    blocks = list(fa.iter_progress(PROGRESS.splitlines(), duration=2.0))
    assert [(b.out_time, b.percent, b.speed, b.frame, b.done) for b in blocks] == [
        (1.0, 50.0, 2.01, 30, False),
        (pytest.approx(1.933333), 100.0, None, 60, True),
    ]
    last = fa.parse_progress(PROGRESS.splitlines())
    assert last is not None
    assert last.done
    assert last.percent is None
    assert fa.parse_progress(["frame=1", "garbage"]) is None


def test_avc1_codec_strings() -> None:
    assert fa.avc1_codec("High", 31) == "avc1.64001f"
    assert fa.avc1_codec("Main", 40) == "avc1.4d4028"
    video = load_info("landscape_h264_aac").video
    assert video is not None
    assert fa.avc1_codec(video.profile, video.level) == video.codec_string  # agrees with ffprobe


def test_measure_media_playlist() -> None:
    playlist = "\n".join(
        ["#EXTM3U", '#EXT-X-MAP:URI="init.mp4"', "#EXTINF:4.000000,", "a.m4s", "#EXTINF:2.000000,", "b.m4s"]
    )
    peak, average = fa.measure_media_playlist(playlist, {"a.m4s": 500_000, "b.m4s": 500_000})
    assert (peak, average) == (2_000_000, 1_333_334)


def test_master_playlist() -> None:
    assert INFO.video is not None
    hd = INFO.model_copy(update={"video": INFO.video.model_copy(update={"width": 1280, "height": 720})})
    ladder = plan_ladder(hd)
    measured = {
        r.name: fa.MeasuredRendition(
            uri=f"{r.name}/index.m3u8",
            peak_bps=r.maxrate_kbps * 1100,
            average_bps=r.maxrate_kbps * 700,
            width=r.width,
            height=r.height,
            frame_rate=30.0,
            level=31,
        )
        for r in ladder
    }
    measured["360p"] = measured["360p"].model_copy(update={"codec_string": "avc1.64001e"})
    text = fa.master_playlist(ladder, measured)
    lines = text.splitlines()
    assert lines[:3] == ["#EXTM3U", "#EXT-X-VERSION:7", "#EXT-X-INDEPENDENT-SEGMENTS"]
    assert lines[3] == (
        "#EXT-X-STREAM-INF:BANDWIDTH=3850000,AVERAGE-BANDWIDTH=2450000,RESOLUTION=1280x720,"
        'CODECS="avc1.64001f,mp4a.40.2",FRAME-RATE=30.000'
    )
    assert lines[4] == "720p/index.m3u8"
    assert 'CODECS="avc1.64001e,mp4a.40.2"' in lines[7]
    assert text.endswith("360p/index.m3u8\n")
