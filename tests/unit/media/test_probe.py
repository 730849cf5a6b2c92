"""ffprobe argv and the JSON parser, on JSON recorded from the real ffprobe."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from lambdas.media.errors import SourceUnreadable, TranscodeFailed, UnsupportedInput, classify_failure
from lambdas.media.probe import parse_probe, probe_argv, probe_source
from lambdas.media.runner import RunResult
from tests.unit.media.conftest import FIXTURES, load_info, load_probe_json


def test_argv_is_hardened_and_reads_only_the_fixed_file() -> None:
    argv = probe_argv(Path("/tmp/job/source"), "mov,mp4,matroska")
    assert argv[0] == "ffprobe"
    assert argv[argv.index("-protocol_whitelist") + 1] == "file"
    assert argv[argv.index("-format_whitelist") + 1] == "mov,mp4,matroska"
    assert argv[argv.index("-v") + 1] == "error"
    assert argv[argv.index("-print_format") + 1] == "json"
    assert {"-show_format", "-show_streams"} <= set(argv)
    assert argv[-1] == "file:/tmp/job/source"


def test_probe_source_runs_the_hardened_argv_with_the_whitelist_it_is_given(tmp_path: Path) -> None:
    source = tmp_path / "source"
    source.write_bytes(b"\0" * 64)
    calls: list[tuple[tuple[str, ...], dict[str, object]]] = []

    def fake_run(argv: list[str], **kwargs: object) -> RunResult:
        calls.append((tuple(argv), kwargs))
        stdout = (FIXTURES / "landscape_h264_aac.json").read_text()
        return RunResult(argv=tuple(argv), returncode=0, stdout=stdout, stderr_tail=(), elapsed_s=0, cpu_s=0)

    info = probe_source(source, "mov,mp4,m4a,3gp,3g2,mj2", fake_run, timeout=12.0)
    assert info.demuxer == "mov"
    ((argv, kwargs),) = calls
    assert list(argv) == probe_argv(source, "mov,mp4,m4a,3gp,3g2,mj2")
    assert kwargs == {"cwd": tmp_path, "timeout": 12.0, "stage": "probe"}


def test_an_empty_upload_is_refused_before_ffprobe_runs(tmp_path: Path) -> None:
    source = tmp_path / "source"
    source.write_bytes(b"")

    def never(*_: object, **__: object) -> RunResult:
        raise AssertionError("ffprobe ran on an empty file")

    with pytest.raises(SourceUnreadable, match="empty"):
        probe_source(source, "mov", never)
    with pytest.raises(SourceUnreadable, match="empty"):
        probe_source(tmp_path / "missing", "mov", never)


def test_landscape_mp4() -> None:
    info = load_info("landscape_h264_aac")
    assert info.format_name == "mov,mp4,m4a,3gp,3g2,mj2"
    assert info.demuxer == "mov"
    assert info.duration == pytest.approx(1.0, abs=0.05)
    assert info.size
    assert info.size > 1000
    assert info.bit_rate
    assert info.bit_rate > 0
    video = info.video
    assert video is not None
    assert (video.codec, video.width, video.height) == ("h264", 320, 240)
    assert (video.display_width, video.display_height) == (320, 240)
    assert video.display_aspect == "4:3"
    assert video.rotation == 0
    assert video.frame_rate == 30.0
    assert video.pix_fmt == "yuv420p"
    assert video.profile == "Constrained Baseline"  # x264 ultrafast
    assert video.level == 13
    assert video.codec_string == "avc1.42c00d"
    assert [(a.codec, a.channels, a.sample_rate) for a in info.audio] == [("aac", 2, 48000)]


def test_display_matrix_rotation_swaps_the_display_size() -> None:
    video = load_info("rotated90_h264_aac").video
    assert video is not None
    assert (video.width, video.height) == (320, 240)  # stored pixels stay landscape
    # `-display_rotation 90` is 90° counter-clockwise, i.e. a player turns it 270° clockwise.
    assert video.rotation == 270
    assert (video.display_width, video.display_height) == (240, 320)


def test_legacy_rotate_tag_is_clockwise() -> None:
    data = load_probe_json("landscape_h264_aac")
    data["streams"][0]["tags"]["rotate"] = "90"
    video = parse_probe(data).video
    assert video is not None
    assert video.rotation == 90
    assert (video.display_width, video.display_height) == (240, 320)


def test_display_matrix_wins_over_the_tag() -> None:
    data = load_probe_json("rotated90_h264_aac")
    data["streams"][0].setdefault("tags", {})["rotate"] = "180"
    video = parse_probe(data).video
    assert video is not None
    assert video.rotation == 270


def test_native_portrait_without_audio() -> None:
    info = load_info("portrait_h264_noaudio")
    assert info.video is not None
    assert (info.video.display_width, info.video.display_height) == (240, 320)
    assert info.video.frame_rate == 25.0
    assert info.audio == ()


def test_webm_ntsc_frame_rate_and_mono_opus() -> None:
    info = load_info("webm_vp9_opus_ntsc")
    assert info.format_name == "matroska,webm"
    assert info.demuxer == "matroska"
    assert info.video is not None
    assert info.video.codec == "vp9"
    assert info.video.frame_rate == pytest.approx(29.97, abs=0.001)
    assert [(a.codec, a.channels) for a in info.audio] == [("opus", 1)]


def test_anamorphic_mpegts_display_width_uses_the_pixel_aspect() -> None:
    info = load_info("mpegts_mpeg2_anamorphic_51")
    assert info.demuxer == "mpegts"
    video = info.video
    assert video is not None
    assert (video.width, video.height, video.sample_aspect) == (720, 480, "32:27")
    assert (video.display_width, video.display_height) == (853, 480)
    assert info.audio[0].channels == 6


def test_start_time_is_the_containers_first_timestamp() -> None:
    assert load_info("landscape_h264_aac").start_time == 0.0
    # MPEG-TS starts where the muxer's clock was (1.4 s by default), and the earliest stream sets it: the audio here.
    assert load_info("mpegts_mpeg2_anamorphic_51").start_time == pytest.approx(1.427567)


@pytest.mark.parametrize("value", ["N/A", "", None, "garbage"])
def test_an_unknown_start_time_is_zero(value: object) -> None:
    data = load_probe_json("mpegts_mpeg2_anamorphic_51")
    if value is None:
        data["format"].pop("start_time")
    else:
        data["format"]["start_time"] = value
    assert parse_probe(data).start_time == 0.0


def test_a_negative_start_time_is_kept() -> None:
    data = load_probe_json("landscape_h264_aac")
    data["format"]["start_time"] = "-0.021333"  # an edit list that drops the AAC priming, as some muxers write
    assert parse_probe(data).start_time == pytest.approx(-0.021333)


def test_audio_only_has_no_video() -> None:
    info = load_info("audio_only_m4a")
    assert info.video is None
    assert len(info.audio) == 1


def test_cover_art_is_not_the_video_stream() -> None:
    data = load_probe_json("audio_only_m4a")
    art = copy.deepcopy(load_probe_json("landscape_h264_aac")["streams"][0])
    art.update(codec_name="mjpeg", index=1, disposition={"attached_pic": 1})
    data["streams"].append(art)
    assert parse_probe(data).video is None


def test_frame_rate_falls_back_to_r_frame_rate() -> None:
    data = load_probe_json("landscape_h264_aac")
    data["streams"][0]["avg_frame_rate"] = "0/0"
    data["streams"][0]["r_frame_rate"] = "24000/1001"
    video = parse_probe(data).video
    assert video is not None
    assert video.frame_rate == pytest.approx(23.976)


def test_missing_numbers_are_none_not_errors() -> None:
    data = load_probe_json("landscape_h264_aac")
    for key in ("duration", "size", "bit_rate"):
        data["format"].pop(key)
    data["streams"][0]["duration"] = "N/A"
    info = parse_probe(data)
    assert (info.duration, info.size, info.bit_rate) == (None, None, None)


def test_duration_falls_back_to_the_video_stream() -> None:
    data = load_probe_json("landscape_h264_aac")
    data["format"].pop("duration")
    assert parse_probe(data).duration == pytest.approx(1.0, abs=0.05)


@pytest.mark.parametrize("payload", ["", "not json", "{}", '{"format": {}}', "[]"])
def test_unreadable_probe_output(payload: str) -> None:
    with pytest.raises(SourceUnreadable):
        parse_probe(payload)


@pytest.mark.parametrize(
    ("stderr", "stage", "expected"),
    [
        (
            ["[concat @ 0x1] Format not on whitelist 'mov,matroska'", "file:x: Invalid argument"],
            "probe",
            UnsupportedInput,
        ),
        (
            [
                "Not detecting m3u8/hls with non standard extension and non standard mime type",
                "file:x: Invalid data found when processing input",
            ],
            "probe",
            UnsupportedInput,
        ),
        (
            [
                "[mov,mp4,m4a,3gp,3g2,mj2 @ 0x1] moov atom not found",
                "file:x: Invalid data found when processing input",
            ],
            "probe",
            SourceUnreadable,
        ),
        (["file:x: Invalid data found when processing input"], "probe", UnsupportedInput),
        (["file:x: Invalid data found when processing input"], "transcode", SourceUnreadable),
        (["[h264 @ 0x1] Invalid NAL unit size"], "transcode", SourceUnreadable),
        (["[libx264 @ 0x1] something odd"], "transcode", TranscodeFailed),
    ],
)
def test_classify_failure(stderr: list[str], stage: str, expected: type) -> None:
    error = classify_failure(stderr, stage=stage)
    assert type(error) is expected
    assert error.stderr_tail == tuple(stderr)
    assert "ffmpeg" not in str(error)  # messages are for the uploader
