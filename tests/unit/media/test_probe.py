"""ffprobe argv and the JSON parser, on JSON recorded from the real ffprobe."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from lambdas.media.errors import SourceUnreadable, TranscodeFailed, UnsupportedInput, classify_failure
from lambdas.media.probe import VideoStream, parse_probe, probe_argv, probe_source
from lambdas.media.runner import RunResult
from tests.unit.media.conftest import FIXTURES, load_info, load_probe_json


def test_argv_is_hardened_and_reads_only_the_fixed_file() -> None:
    argv = probe_argv(Path("/tmp/job/source"), "mov,mp4,matroska")
    assert argv[0] == "ffprobe"
    assert argv[argv.index("-protocol_whitelist") + 1] == "file"
    assert argv[argv.index("-format_whitelist") + 1] == "mov,mp4,matroska"
    assert argv[argv.index("-v") + 1] == "error"
    assert argv[argv.index("-print_format") + 1] == "json"
    assert {"-show_format", "-show_streams", "-count_packets"} <= set(argv)
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


def test_an_audio_stream_without_sound_is_no_track() -> None:
    """An MPEG-TS PMT can declare an AAC stream that never carries a packet: 0 channels, 0 Hz."""
    probe = {
        "format": {"format_name": "mpegts", "start_time": "1.4"},
        "streams": [
            {"index": 0, "codec_type": "video", "codec_name": "h264", "width": 64, "height": 64, "start_time": "1.4"},
            {"index": 1, "codec_type": "audio", "codec_name": "aac", "channels": 0, "sample_rate": "0"},
        ],
    }
    assert parse_probe(probe).audio == ()


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
    # A sentence for the uploader first, then ffmpeg's own line for what to fix, without memory addresses.
    sentence, _, said = str(error).partition(" said: ")
    assert sentence.startswith(("The file", "Processing the video failed")), sentence
    assert said
    assert said in " ".join(stderr).replace(" @ 0x1", "")
    assert "0x1" not in str(error)


# --- frame rate: what a viewer sees, not what the container claims ---


@pytest.mark.parametrize(
    ("fixture", "avg", "r", "frames", "seconds", "rate", "variable"),
    [
        # ffprobe 6.0 on files the layer's ffmpeg made (make_fixtures.py); `frames` counted with -count_packets.
        ("avi_vp9_187fps", 187.0, 187.0, 187, 1.0, 187.0, False),
        ("mp4_h264_240fps", 240.0, 240.0, 240, 1.0, 240.0, False),
        ("mp4_h264_300fps", 300.0, 300.0, 300, 1.0, 300.0, False),
        ("webm_vp9_30fps", 30.0, 30.0, 30, 1.0, 30.0, False),
        # 30 fps then 24 fps: r_frame_rate is the 1/120 s tick both fit, not a rate.
        ("vfr_30_then_24_mp4", 27.574, 120.0, 54, 1.958333, 27.574, True),
        ("vfr_30_then_24_mkv", None, 120.0, 54, 1.958, 27.579, True),  # avg_frame_rate 0/0
        ("vfr_30_then_24_webm", None, 120.0, 54, 1.958, 27.579, True),
        # AVI: the index holds an entry per 1/240 s tick (479); only 54 frames are really there.
        ("vfr_30_then_24_avi", 240.0, 120.0, 54, 1.995833, 27.056, True),
        # 24, 25, 29.97 and 50 fps: Matroska's millisecond clock is all that is left (r_frame_rate 1000/1).
        ("vfr_four_rates_mkv", None, 1000.0, 129, 3.981, 32.404, True),
        # Stream-copy trim: the edit list shows 1.5 s of 300 stored samples; the claim is the true rate.
        ("trimmed_editlist_mp4", 30.0, 30.0, 300, 1.5, 30.0, False),
        ("interlaced_tff_mpeg2_ts", 25.0, 25.0, 25, 1.0, 25.0, False),
    ],
)
def test_frame_rate_is_measured_when_the_claim_is_a_time_base(
    fixture: str, avg: float | None, r: float, frames: int, seconds: float, rate: float, variable: bool
) -> None:
    video = load_info(fixture).video
    assert video is not None
    assert video.avg_frame_rate == (pytest.approx(avg) if avg else None)
    assert video.r_frame_rate == pytest.approx(r)
    assert video.nb_frames == frames
    assert video.duration == pytest.approx(seconds)
    assert video.measured_frame_rate == pytest.approx(frames / seconds, abs=0.001)
    assert video.frame_rate == pytest.approx(rate, abs=0.001)
    assert video.variable_frame_rate is variable


def test_a_counted_frame_beats_the_avi_index() -> None:
    stream = load_probe_json("vfr_30_then_24_avi")["streams"][0]
    assert (stream["nb_frames"], stream["nb_read_packets"]) == ("479", "54")
    stream.pop("nb_read_packets")  # a probe without -count_packets: only the index is left
    video = parse_probe({"format": {"format_name": "avi"}, "streams": [stream]}).video
    assert video is not None
    assert video.nb_frames == 479
    assert video.frame_rate == 240.0  # nothing says otherwise


def test_matroska_stream_duration_comes_from_its_tag() -> None:
    stream = load_probe_json("vfr_30_then_24_mkv")["streams"][0]
    assert "duration" not in stream
    assert stream["tags"]["DURATION"] == "00:00:01.958000000"
    video = load_info("vfr_30_then_24_mkv").video
    assert video is not None
    assert video.duration == pytest.approx(1.958)


def test_a_millisecond_clock_with_nothing_to_measure_is_no_rate() -> None:
    # A browser/live WebM: no duration anywhere, avg 0/0, r_frame_rate the 1/1000 s time base.
    data = load_probe_json("vfr_four_rates_mkv")
    stream = data["streams"][0]
    stream.pop("tags")
    assert (stream["r_frame_rate"], stream["avg_frame_rate"], stream["time_base"]) == ("1000/1", "0/0", "1/1000")
    video = parse_probe(data).video
    assert video is not None
    assert video.frame_rate is None
    assert video.measured_frame_rate is None


def test_a_real_1000_fps_claim_is_kept() -> None:
    data = load_probe_json("mp4_h264_300fps")
    stream = data["streams"][0]
    stream.update(avg_frame_rate="0/0", r_frame_rate="1000/1")  # time base 1/19200: 1000/1 is no clock tick
    stream.pop("nb_read_packets")
    stream.pop("nb_frames")
    video = parse_probe(data).video
    assert video is not None
    assert video.frame_rate == 1000.0


@pytest.mark.parametrize(
    ("avg", "r", "measured", "variable"),
    [
        (30.0, 30.0, 30.0, False),
        (29.97, 29.97, None, False),
        (29.508, 30.0, 29.508, True),  # jittered timestamps: the average is off the common step
        (30.0, 30.0, 29.513, True),  # Matroska claims 30, fewer frames are there
        (30.0, 30.0, 200.0, False),  # more samples stored than shown (edit list): not a rate change
        (None, None, 25.0, False),
    ],
)
def test_variable_frame_rate(avg: float | None, r: float | None, measured: float | None, variable: bool) -> None:
    video = VideoStream(
        index=0, codec="h264", width=2, height=2, avg_frame_rate=avg, r_frame_rate=r, measured_frame_rate=measured
    )
    assert video.variable_frame_rate is variable


# --- picture and audio details ---


@pytest.mark.parametrize(
    ("fixture", "transfer", "hdr"),
    [("hdr_pq_hevc10_mp4", "smpte2084", "pq"), ("hdr_hlg_hevc10_mp4", "arib-std-b67", "hlg")],
)
def test_hdr_transfer_and_ten_bits(fixture: str, transfer: str, hdr: str) -> None:
    video = load_info(fixture).video
    assert video is not None
    assert (video.codec, video.pix_fmt, video.bit_depth) == ("hevc", "yuv420p10le", 10)
    assert (video.color_transfer, video.color_primaries, video.color_space) == (transfer, "bt2020", "bt2020nc")
    assert video.color_range == "tv"
    assert video.hdr == hdr


def test_sdr_and_unknown_colour_are_none() -> None:
    video = load_info("landscape_h264_aac").video
    assert video is not None
    assert (video.color_transfer, video.color_primaries, video.color_space, video.color_range) == (None,) * 4
    assert video.hdr is None
    assert video.bit_depth == 8
    data = load_probe_json("landscape_h264_aac")
    data["streams"][0].update(color_transfer="unknown", color_range="unknown", field_order="unknown")
    video = parse_probe(data).video
    assert video is not None
    assert (video.color_transfer, video.color_range, video.field_order) == (None, None, None)
    assert not video.interlaced


def test_interlaced_top_field_first() -> None:
    video = load_info("interlaced_tff_mpeg2_ts").video
    assert video is not None
    assert video.field_order == "tt"
    assert video.interlaced
    assert video.top_field_first
    assert not load_info("landscape_h264_aac").video.interlaced  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("order", "interlaced", "tff"),
    [("progressive", False, False), ("tt", True, True), ("tb", True, True), ("bb", True, False), ("bt", True, False)],
)
def test_field_orders(order: str, interlaced: bool, tff: bool) -> None:
    video = VideoStream(index=0, codec="mpeg2video", width=2, height=2, field_order=order)
    assert (video.interlaced, video.top_field_first) == (interlaced, tff)


@pytest.mark.parametrize(
    ("pix_fmt", "raw", "depth"),
    [
        ("yuv420p10le", None, 10),
        ("yuv422p10le", None, 10),  # ProRes 422
        ("yuv444p12be", None, 12),
        ("p010le", None, 10),
        ("gbrp10le", None, 10),
        ("gray10le", None, 10),
        ("yuv420p", None, 8),
        ("yuvj420p", None, 8),
        ("nv12", None, 8),
        ("rgb24", None, 8),  # Cinepak
        ("uyvy422", None, 8),
        ("rgb48le", None, 16),
        ("rgb565le", None, None),  # not a depth we can name
        (None, None, None),
        ("yuv420p", "8", 8),
        ("yuv420p10le", "10", 10),
    ],
)
def test_bit_depth(pix_fmt: str | None, raw: str | None, depth: int | None) -> None:
    data = load_probe_json("landscape_h264_aac")
    stream = data["streams"][0]
    stream.pop("bits_per_raw_sample")
    stream["pix_fmt"] = pix_fmt
    if raw:
        stream["bits_per_raw_sample"] = raw
    video = parse_probe(data).video
    assert video is not None
    assert video.bit_depth == depth


def test_audio_language_title_default_and_start() -> None:
    first, second = load_info("two_audio_tracks_mkv").audio
    assert (first.language, first.title, first.default) == ("eng", "Director's commentary", True)
    assert (second.language, second.title, second.default) == (None, None, False)  # "und" is no language
    assert first.start_time == pytest.approx(-0.007)  # Opus pre-skip
    assert second.start_time == pytest.approx(0.494, abs=0.01)  # -itsoffset 0.5


def test_a_handler_name_is_not_a_title() -> None:
    (track,) = load_info("landscape_h264_aac").audio
    assert track.title is None
    assert track.language is None  # MP4 writes "und"
    assert track.default
    assert track.start_time == 0.0
