"""Caption files read strictly (errors carry the line), checked against the video and written as clean WebVTT."""

from __future__ import annotations

import pytest

from lambdas.captions.webvtt import MAX_CAPTION_BYTES, CaptionRejected, read_caption
from lambdas.jobs.model import CaptionFormat

SRT = CaptionFormat.SRT
VTT = CaptionFormat.VTT


def rejected(data: bytes | str, file_format: CaptionFormat, duration_s: float | None = 60.0) -> CaptionRejected:
    raw = data.encode() if isinstance(data, str) else data
    with pytest.raises(CaptionRejected) as caught:
        read_caption(raw, file_format, duration_s=duration_s)
    return caught.value


def test_subrip_becomes_webvtt() -> None:
    srt = (
        "1\r\n00:00:01,000 --> 00:00:02,500\r\n<i>Hello</i>\r\nworld\r\n\r\n2\r\n00:00:03,5 --> 00:00:04,000\r\nBye\r\n"
    )
    track = read_caption(srt.encode(), SRT, duration_s=10)
    assert track.render() == (
        "WEBVTT\n\n00:00:01.000 --> 00:00:02.500\n<i>Hello</i>\nworld\n\n00:00:03.500 --> 00:00:04.000\nBye\n"
    )


def test_a_hostile_file_is_cleaned() -> None:
    vtt = (
        "WEBVTT\n\nSTYLE\n::cue { background: url(https://evil.example/t.png) }\n\n"
        "REGION\nid:r1\n\nNOTE tracking https://evil.example\n\n"
        "1\n00:00.000 --> 00:01.000 region:r1 align:start\n<script>alert(1)</script>Hi "
        '<img src="https://evil.example/x.png">there\n'
    )
    track = read_caption(vtt.encode(), VTT, duration_s=5)
    out = track.render()
    assert out == "WEBVTT\n\n1\n00:00:00.000 --> 00:00:01.000 align:start\nHi there\n"
    assert {"script", "img", "style", "region", "note", "settings"} <= track.removed


def test_a_malformed_subrip_names_the_line() -> None:
    srt = "1\n00:00:01,000 --> 00:00:02,000\nfine\n\n2\n00:00:03,000 -> 00:00:04,000\nbroken arrow\n"
    error = rejected(srt, SRT)
    assert error.line == 6
    assert str(error).startswith("line 6: malformed cue timing")


def test_subrip_text_where_a_timing_belongs() -> None:
    error = rejected("1\n00:00:01,000 --> 00:00:02,000\nok\n\nno number here\n", SRT)
    assert error.line == 5


def test_webvtt_without_its_header() -> None:
    assert rejected("00:00.000 --> 00:01.000\nx\n", VTT).line == 1


def test_a_cue_that_ends_before_it_starts() -> None:
    error = rejected("WEBVTT\n\n\n00:05.000 --> 00:04.000\nx\n", VTT)
    assert error.line == 4
    assert "before" in error.reason


def test_a_timing_line_inside_the_text() -> None:
    assert rejected("WEBVTT\n\n00:01.000 --> 00:02.000\nx\n00:03.000 --> 00:04.000\ny\n", VTT).line == 5


def test_cues_must_start_inside_the_video() -> None:
    error = rejected("1\n00:00:01,000 --> 00:00:02,000\nok\n\n2\n00:01:05,000 --> 00:01:06,000\nlate\n", SRT, 60)
    assert error.line == 6
    assert "after the video ends" in error.reason


def test_a_cue_running_past_the_end_is_cut_back() -> None:
    track = read_caption(b"WEBVTT\n\n00:08.000 --> 00:15.000\nend\n", VTT, duration_s=10)
    assert track.cues[0].end_s == 10
    assert track.trimmed_cues == 1


def test_cues_come_out_in_start_order() -> None:
    srt = "1\n00:00:05,000 --> 00:00:06,000\nsecond\n\n2\n00:00:01,000 --> 00:00:02,000\nfirst\n"
    assert [cue.text for cue in read_caption(srt.encode(), SRT, duration_s=10).cues] == ["first", "second"]


def test_not_utf8_names_the_line() -> None:
    data = b"1\n00:00:01,000 --> 00:00:02,000\ncaf" + b"\xe9\n"
    error = rejected(data, SRT)
    assert error.line == 3
    assert "UTF-8" in error.reason


def test_a_bom_is_fine() -> None:
    assert read_caption(b"\xef\xbb\xbfWEBVTT\n\n00:01.000 --> 00:02.000\nx\n", VTT, duration_s=5).cues


@pytest.mark.parametrize("data", [b"", b"   \n\n", b"WEBVTT\n\nNOTE only a note\n"])
def test_nothing_to_show(data: bytes) -> None:
    rejected(data, VTT)


def test_a_cue_only_of_markup_is_dropped() -> None:
    srt = "1\n00:00:01,000 --> 00:00:02,000\n<script>x</script>\n\n2\n00:00:03,000 --> 00:00:04,000\nkept\n"
    assert [cue.text for cue in read_caption(srt.encode(), SRT, duration_s=10).cues] == ["kept"]


def test_the_size_limit() -> None:
    assert "limit" in rejected(b"WEBVTT\n\n" + b"x" * MAX_CAPTION_BYTES, VTT).reason


def test_nul_bytes() -> None:
    assert rejected(b"WEBVTT\n\n00:01.000 --> 00:02.000\na\x00b\n", VTT).line == 4


def test_unknown_settings_go_and_valid_ones_stay() -> None:
    vtt = b"WEBVTT\n\n00:01.000 --> 00:02.000 line:10%,start position:50% size:80% vertical:rl evil:1 align:nope\nx\n"
    cue = read_caption(vtt, VTT, duration_s=5).cues[0]
    assert cue.settings == "line:10%,start position:50% size:80% vertical:rl"


def test_long_hours_and_ids() -> None:
    vtt = b"WEBVTT\n\nintro <b>&\n100:00:01.000 --> 100:00:02.000\nx\n"
    track = read_caption(vtt, VTT, duration_s=None)
    assert track.render() == "WEBVTT\n\nintro &lt;b&gt;&amp;\n100:00:01.000 --> 100:00:02.000\nx\n"
