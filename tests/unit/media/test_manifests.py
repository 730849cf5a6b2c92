"""HLS and DASH manifests over CMAF segments, read back with the m3u8 and mpegdash parsers."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence
from typing import Any

import m3u8
import pytest
from mpegdash.parser import MPEGDASHParser
from pydantic import ValidationError

from lambdas.media.manifests import (
    AudioTrack,
    Segment,
    VideoTrack,
    avc1_codec,
    dash_mpd,
    master_playlist,
    media_playlist,
    peak_and_average_bps,
)

GOP = 60060  # 60 frames at 30000/1001, in a 30000 timescale
AAC = 1024


def segments(
    prefix: str,
    ticks: Sequence[int],
    timescale: int,
    *,
    sizes: Sequence[int] | None = None,
    starts: Sequence[int] | None = None,
    first: int = 0,
) -> tuple[Segment, ...]:
    """Numbered segments, contiguous unless `starts` says otherwise."""
    if starts is None:
        starts = [sum(ticks[:i]) for i in range(len(ticks))]
    sizes = sizes or [1000 + 10 * i for i in range(len(ticks))]
    return tuple(
        Segment(
            uri=f"{prefix}seg_{first + i:05d}.m4s",
            duration_s=d / timescale,
            ticks=d,
            start_ticks=t,
            bytes=b,
        )
        for i, (d, t, b) in enumerate(zip(ticks, starts, sizes, strict=True))
    )


def video(name: str, width: int, height: int, segs: tuple[Segment, ...], timescale: int = 30000) -> VideoTrack:
    return VideoTrack(
        name=name,
        uri_prefix=f"{name}/",
        init_uri=f"{name}/init.mp4",
        playlist_uri=f"{name}/index.m3u8",
        timescale=timescale,
        width=width,
        height=height,
        frame_rate="30000/1001",
        codec="avc1.64001f" if height >= 720 else "avc1.64001e",
        segments=segs,
    )


def audio(
    segs: tuple[Segment, ...], language: str | None = "en", *, name: str = "audio", label: str | None = None
) -> AudioTrack:
    return AudioTrack(
        name=name,
        label=label,
        init_uri=f"{name}/init.mp4",
        playlist_uri=f"{name}/index.m3u8",
        timescale=48000,
        codec="mp4a.40.2",
        sample_rate=48000,
        channels=2,
        language=language,
        segments=segs,
    )


HD = video("720p", 1280, 720, segments("720p/", [GOP] * 5 + [6006], 30000, sizes=[500_000] * 5 + [20_000]))
SD = video("360p", 640, 360, segments("360p/", [GOP] * 5 + [6006], 30000, sizes=[100_000] * 5 + [30_000]))
SOUND = audio(segments("audio/", [94 * AAC] * 5 + [12 * AAC], 48000, sizes=[16_000] * 5 + [2_000]))


def expand(timeline: Sequence[Any]) -> list[tuple[int, int]]:
    """(start, duration) of every segment an MPD SegmentTimeline describes."""
    out: list[tuple[int, int]] = []
    now = 0
    for s in timeline:
        t, d, r = s.t, s.d, s.r or 0
        now = now if t is None else t
        for _ in range(r + 1):
            out.append((now, d))
            now += d
    return out


def test_peak_and_average_follow_the_hls_definitions() -> None:
    segs = segments("v/", [30000, 60000], 30000, sizes=[1000, 3000])
    # peak: 3000 B over 2 s is 12 kbit/s; average: 32 kbit over 3 s, rounded up.
    assert peak_and_average_bps(segs) == (12000, 10667)
    assert peak_and_average_bps(()) == (0, 0)


def test_avc1_codec_strings() -> None:
    assert avc1_codec("High", 40) == "avc1.640028"
    assert avc1_codec("Constrained Baseline", 30) == "avc1.42c01e"
    assert avc1_codec("Main", 31) == "avc1.4d401f"
    assert avc1_codec(None, None) == "avc1.640028"


def test_media_playlist_parses_back_to_the_segments() -> None:
    text = media_playlist(HD.init_uri, HD.segments)
    parsed = m3u8.loads(text)
    assert parsed.version == 7
    assert parsed.target_duration == 3  # 2.002 s segments: the ceiling
    assert parsed.playlist_type == "vod"
    assert parsed.is_endlist
    assert parsed.is_independent_segments
    assert [s.uri for s in parsed.segments] == [f"seg_{i:05d}.m4s" for i in range(6)]
    assert [s.duration for s in parsed.segments] == pytest.approx([2.002] * 5 + [0.2002])
    assert parsed.segment_map[0].uri == "init.mp4"
    assert all(s.init_section.uri == "init.mp4" for s in parsed.segments)
    assert "#EXTINF:2.002000," in text


def test_media_playlist_target_duration_is_not_inflated_by_float_noise() -> None:
    segs = segments("v/", [48000, 48000, 24000], 48000)
    assert m3u8.loads(media_playlist("v/init.mp4", segs)).target_duration == 1
    longer = segments("v/", [48000, 48001], 48000)
    assert m3u8.loads(media_playlist("v/init.mp4", longer)).target_duration == 2


def test_media_playlist_in_progress_is_an_event_without_endlist() -> None:
    parsed = m3u8.loads(media_playlist(HD.init_uri, HD.segments[:2], ended=False))
    assert parsed.playlist_type == "event"
    assert not parsed.is_endlist
    assert len(parsed.segments) == 2
    with pytest.raises(ValueError, match="at least one segment"):
        media_playlist(HD.init_uri, ())


def test_master_playlist_with_an_audio_group() -> None:
    parsed = m3u8.loads(master_playlist([HD, SD], [SOUND]))
    (media,) = parsed.media
    assert (media.type, media.group_id, media.name, media.language) == ("AUDIO", "audio", "audio", "en")
    assert (media.default, media.autoselect, media.channels, media.uri) == ("YES", "YES", "2", "audio/index.m3u8")

    audio_peak, audio_average = peak_and_average_bps(SOUND.segments)
    assert audio_peak == 63_830  # 16000 B over 94 x 1024 / 48000 s, rounded up
    assert [p.uri for p in parsed.playlists] == ["720p/index.m3u8", "360p/index.m3u8"]
    hd, sd = (p.stream_info for p in parsed.playlists)
    assert hd.bandwidth == 1_998_002 + audio_peak  # 500000 B over 2.002 s
    assert sd.bandwidth == 1_198_802 + audio_peak  # the short last segment is the peak: 30000 B over 0.2002 s
    assert hd.average_bandwidth == peak_and_average_bps(HD.segments)[1] + audio_average
    assert hd.codecs == "avc1.64001f,mp4a.40.2"
    assert hd.resolution == (1280, 720)
    assert hd.frame_rate == pytest.approx(29.97)
    assert hd.audio == sd.audio == "audio"


def test_master_playlist_without_audio_or_language() -> None:
    parsed = m3u8.loads(master_playlist([SD]))
    assert parsed.media == []
    (variant,) = parsed.playlists
    assert variant.stream_info.codecs == "avc1.64001e"
    assert variant.stream_info.audio is None
    assert variant.stream_info.bandwidth == peak_and_average_bps(SD.segments)[0]
    unnamed = m3u8.loads(master_playlist([SD], [audio(SOUND.segments, language=None)]))
    assert unnamed.media[0].language is None


def languages() -> list[AudioTrack]:
    """The default track (English), a French one and one of unknown language, the French the heaviest."""
    return [
        audio(SOUND.segments, "eng", name="audio", label="eng"),
        audio(
            segments("audio-1/", [94 * AAC] * 5 + [12 * AAC], 48000, sizes=[24_000] * 5 + [2_000]),
            "fra",
            name="audio-1",
            label="fra - Français",
        ),
        audio(segments("audio-2/", [94 * AAC] * 5 + [12 * AAC], 48000), None, name="audio-2", label="audio"),
    ]


def test_master_playlist_with_three_languages() -> None:
    tracks = languages()
    parsed = m3u8.loads(master_playlist([HD, SD], tracks))
    assert [(m.type, m.group_id) for m in parsed.media] == [("AUDIO", "audio")] * 3
    assert [(m.name, m.language, m.default, m.autoselect) for m in parsed.media] == [
        ("eng", "eng", "YES", "YES"),
        ("fra - Français", "fra", "NO", "YES"),
        ("audio", None, "NO", "YES"),
    ]
    assert [m.uri for m in parsed.media] == ["audio/index.m3u8", "audio-1/index.m3u8", "audio-2/index.m3u8"]
    assert {m.channels for m in parsed.media} == {"2"}
    # A variant plays with any one of them: the heaviest counts, not their sum.
    heaviest = max(peak_and_average_bps(t.segments)[0] for t in tracks)
    assert heaviest == peak_and_average_bps(tracks[1].segments)[0] > peak_and_average_bps(SOUND.segments)[0]
    hd, sd = (p.stream_info for p in parsed.playlists)
    assert hd.bandwidth == 1_998_002 + heaviest
    assert hd.average_bandwidth == peak_and_average_bps(HD.segments)[1] + peak_and_average_bps(tracks[1].segments)[1]
    assert hd.codecs == "avc1.64001f,mp4a.40.2"  # the audio codec once
    assert hd.audio == sd.audio == "audio"
    text = master_playlist([HD, SD], tracks)
    assert 'LANGUAGE=""' not in text
    assert text.count("DEFAULT=YES") == 1


def test_a_second_track_of_one_language_is_not_autoselected() -> None:
    main = audio(SOUND.segments, "eng", name="audio", label="eng")
    commentary = audio(SOUND.segments, "eng", name="audio-1", label="eng - Commentary")
    parsed = m3u8.loads(master_playlist([SD], [main, commentary]))
    assert [(m.default, m.autoselect) for m in parsed.media] == [("YES", "YES"), ("NO", "NO")]


def test_audio_names_must_be_unique_in_the_group() -> None:
    with pytest.raises(ValueError, match="distinct names"):
        master_playlist([SD], [audio(SOUND.segments, name="audio"), audio(SOUND.segments, name="audio")])
    with pytest.raises(ValueError, match="distinct names"):
        master_playlist(
            [SD], [audio(SOUND.segments, name="audio", label="eng"), audio(SOUND.segments, name="audio-1", label="eng")]
        )


def test_dash_mpd_has_one_adaptation_set_per_language() -> None:
    text = dash_mpd([HD, SD], languages(), duration_s=10.2102)
    ns = {"d": "urn:mpeg:dash:schema:mpd:2011"}
    sets = ET.fromstring(text).findall("d:Period/d:AdaptationSet", ns)
    assert [(s.get("id"), s.get("contentType"), s.get("lang")) for s in sets] == [
        ("0", "video", None),
        ("1", "audio", "eng"),
        ("2", "audio", "fra"),
        ("3", "audio", None),
    ]
    roles = [[(r.get("schemeIdUri"), r.get("value")) for r in s.findall("d:Role", ns)] for s in sets[1:]]
    assert roles == [
        [("urn:mpeg:dash:role:2011", "main")],
        [("urn:mpeg:dash:role:2011", "alternate")],
        [("urn:mpeg:dash:role:2011", "alternate")],
    ]
    for adaptation, name in zip(sets[1:], ["audio", "audio-1", "audio-2"], strict=True):
        children = [child.tag.split("}")[1] for child in adaptation]
        assert children == ["Role", "Representation"]  # the schema's order
        (representation,) = adaptation.findall("d:Representation", ns)
        assert representation.get("id") == name
        template = representation.find("d:SegmentTemplate", ns)
        assert template is not None
        assert template.get("media") == f"{name}/seg_$Number%05d$.m4s"
        assert template.get("initialization") == f"{name}/init.mp4"
    parsed = MPEGDASHParser.parse(text)
    assert [s.lang for s in parsed.periods[0].adaptation_sets] == [None, "eng", "fra", None]
    assert [r.value for s in parsed.periods[0].adaptation_sets[1:] for r in s.roles] == [
        "main",
        "alternate",
        "alternate",
    ]


def test_quoted_strings_refuse_what_would_break_the_playlist() -> None:
    with pytest.raises(ValueError, match="quoted-string"):
        master_playlist([SD], [audio(SOUND.segments, language='en",URI="http://evil')])


def test_frame_rate_must_be_a_rational() -> None:
    assert VideoTrack.model_validate({**SD.model_dump(), "frame_rate": "30"}).frame_rate == "30"
    for bad in ("29.97", "0", "30000/0", "30/1001/2"):  # none is a DASH FrameRateType
        with pytest.raises(ValidationError):
            VideoTrack.model_validate({**SD.model_dump(), "frame_rate": bad})


def test_dash_mpd_static_with_run_length_timelines() -> None:
    text = dash_mpd([HD, SD], [SOUND], duration_s=10.2102)
    assert text.startswith('<?xml version="1.0" encoding="UTF-8"?>\n<MPD xmlns="urn:mpeg:dash:schema:mpd:2011"')
    mpd = MPEGDASHParser.parse(text)
    assert mpd.type == "static"
    assert mpd.profiles == "urn:mpeg:dash:profile:isoff-live:2011"
    assert mpd.media_presentation_duration == "PT10.210S"
    assert mpd.min_buffer_time == "PT2.005S"  # the longest segment: audio, 94 AAC frames
    (period,) = mpd.periods
    video_set, audio_set = period.adaptation_sets
    assert (video_set.content_type, video_set.mime_type, video_set.start_with_sap) == ("video", "video/mp4", 1)
    assert (video_set.max_width, video_set.max_height, video_set.par) == (1280, 720, "16:9")

    hd, sd = video_set.representations
    assert (hd.id, hd.width, hd.height, hd.codecs, hd.frame_rate, hd.sar) == (
        "720p",
        1280,
        720,
        "avc1.64001f",
        "30000/1001",
        "1:1",
    )
    assert hd.bandwidth == peak_and_average_bps(HD.segments)[0]
    assert sd.id == "360p"
    (template,) = hd.segment_templates
    assert (template.timescale, template.initialization, template.media, template.start_number) == (
        30000,
        "720p/init.mp4",
        "720p/seg_$Number%05d$.m4s",
        0,
    )
    (timeline,) = template.segment_timelines
    assert [(s.t, s.d, s.r) for s in timeline.Ss] == [(0, GOP, 4), (None, 6006, None)]
    assert expand(timeline.Ss) == [(s.start_ticks, s.ticks) for s in HD.segments]

    assert (audio_set.content_type, audio_set.lang) == ("audio", "en")
    (sound,) = audio_set.representations
    assert (sound.id, sound.codecs, sound.audio_sampling_rate) == ("audio", "mp4a.40.2", "48000")
    (channels,) = sound.audio_channel_configurations
    assert channels.scheme_id_uri == "urn:mpeg:dash:23003:3:audio_channel_configuration:2011"
    assert channels.value == "2"
    (audio_template,) = sound.segment_templates
    assert audio_template.timescale == 48000
    assert audio_template.media == "audio/seg_$Number%05d$.m4s"
    assert expand(audio_template.segment_timelines[0].Ss) == [(s.start_ticks, s.ticks) for s in SOUND.segments]


def test_dash_timeline_restates_t_after_a_gap_or_overlap() -> None:
    ticks = [GOP, GOP, GOP, GOP, GOP]
    starts = [1000, 1000 + GOP, 1000 + 2 * GOP + 500, 1000 + 3 * GOP + 400, 1000 + 4 * GOP + 400]  # gap, overlap
    track = video("720p", 1280, 720, segments("720p/", ticks, 30000, starts=starts, first=7))
    mpd = MPEGDASHParser.parse(dash_mpd([track], duration_s=10.01))
    (adaptation,) = mpd.periods[0].adaptation_sets
    (template,) = adaptation.representations[0].segment_templates
    assert template.start_number == 7
    entries = template.segment_timelines[0].Ss
    assert [(s.t, s.d, s.r) for s in entries] == [(1000, GOP, 1), (starts[2], GOP, None), (starts[3], GOP, 1)]
    assert expand(entries) == list(zip(starts, ticks, strict=True))


def test_dash_par_only_when_every_rung_shares_it() -> None:
    odd = video("240p", 426, 240, SD.segments)
    mpd = MPEGDASHParser.parse(dash_mpd([HD, odd], duration_s=10.2102))
    assert mpd.periods[0].adaptation_sets[0].par is None
    assert len(mpd.periods[0].adaptation_sets) == 1


def test_dash_refuses_segment_names_the_template_cannot_express() -> None:
    base = segments("720p/", [GOP, GOP, GOP], 30000)
    skipped = (*base[:2], base[2].model_copy(update={"uri": "720p/seg_00003.m4s"}))
    with pytest.raises(ValueError, match="template expects"):
        dash_mpd([video("720p", 1280, 720, skipped)], duration_s=6.006)
    unnumbered = (base[0].model_copy(update={"uri": "720p/first.m4s"}),)
    with pytest.raises(ValueError, match="carries no number"):
        dash_mpd([video("720p", 1280, 720, unnumbered)], duration_s=2.002)
