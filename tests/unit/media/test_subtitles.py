"""Subtitle tracks edited into stored manifests: HLS SUBTITLES group, DASH text sets; idempotent and reversible."""

from __future__ import annotations

import m3u8
import pytest
from mpegdash.parser import MPEGDASHParser

from lambdas.media.manifests import AudioTrack, Segment, VideoTrack, dash_mpd, master_playlist
from lambdas.media.subtitles import (
    SubtitleTrack,
    master_with_subtitles,
    mpd_duration,
    mpd_with_subtitles,
    subtitle_playlist,
    unique_names,
)


def _segments(prefix: str, timescale: int) -> tuple[Segment, ...]:
    return tuple(
        Segment(uri=f"{prefix}seg_{n:05d}.m4s", duration_s=4, ticks=4 * timescale, start_ticks=4 * n * timescale,
                bytes=50_000)
        for n in range(2)
    )  # fmt: skip


VIDEOS = [
    VideoTrack(name=n, uri_prefix=f"{n}/", init_uri=f"{n}/init.mp4", playlist_uri=f"{n}/index.m3u8", timescale=90_000,
               width=w, height=h, frame_rate="30000/1001", codec="avc1.64001f", segments=_segments(f"{n}/", 90_000))
    for n, w, h in (("720p", 1280, 720), ("360p", 640, 360))
]  # fmt: skip
AUDIO = [
    AudioTrack(name="audio", init_uri="audio/init.mp4", playlist_uri="audio/index.m3u8", timescale=48_000,
               codec="mp4a.40.2", sample_rate=48_000, channels=2, language="en", segments=_segments("audio/", 48_000))
]  # fmt: skip
MASTER = master_playlist(VIDEOS, AUDIO)
MPD = dash_mpd(VIDEOS, AUDIO, duration_s=8.0)


def track(n: int, language: str, name: str, *, default: bool = False) -> SubtitleTrack:
    return SubtitleTrack(
        track_id=f"cap_{n:016d}",
        language=language,
        name=name,
        default=default,
        playlist_uri=f"subtitles/cap_{n:016d}/index.m3u8",
        vtt_uri=f"subtitles/cap_{n:016d}/captions.vtt",
        size_bytes=800,
    )


TRACKS = [track(1, "en", "English", default=True), track(2, "pt-BR", "Português")]


def test_the_master_lists_every_track_and_every_variant_references_the_group() -> None:
    playlist = m3u8.loads(master_with_subtitles(MASTER, TRACKS))
    subtitles = [m for m in playlist.media if m.type == "SUBTITLES"]
    assert [(m.group_id, m.name, m.language, m.default, m.autoselect, m.forced, m.uri) for m in subtitles] == [
        ("subs", "English", "en", "YES", "YES", "NO", "subtitles/cap_0000000000000001/index.m3u8"),
        ("subs", "Português", "pt-BR", "NO", "YES", "NO", "subtitles/cap_0000000000000002/index.m3u8"),
    ]
    assert len(playlist.playlists) == 2
    for variant in playlist.playlists:
        assert variant.stream_info.subtitles == "subs"
        assert variant.stream_info.audio == "audio"
        assert variant.stream_info.resolution in {(1280, 720), (640, 360)}
    assert [m.type for m in playlist.media] == ["AUDIO", "SUBTITLES", "SUBTITLES"]


def test_editing_again_replaces_and_none_restores_the_original() -> None:
    once = master_with_subtitles(MASTER, TRACKS)
    assert master_with_subtitles(once, TRACKS) == once
    assert master_with_subtitles(once, TRACKS[1:]).count("TYPE=SUBTITLES") == 1
    assert master_with_subtitles(once, []) == MASTER
    mpd = mpd_with_subtitles(MPD, TRACKS)
    assert mpd_with_subtitles(mpd, TRACKS) == mpd
    assert mpd_with_subtitles(mpd, []) == mpd_with_subtitles(MPD, [])
    assert "text/vtt" not in mpd_with_subtitles(mpd, [])


def test_the_mpd_gets_one_text_set_per_track() -> None:
    mpd = MPEGDASHParser.parse(mpd_with_subtitles(MPD, TRACKS))
    sets = mpd.periods[0].adaptation_sets
    assert [s.content_type for s in sets] == ["video", "audio", "text", "text"]
    texts = sets[2:]
    assert [(s.mime_type, s.lang, s.id) for s in texts] == [("text/vtt", "en", 2), ("text/vtt", "pt-BR", 3)]
    assert [s.representations[0].id for s in texts] == ["cap_0000000000000001", "cap_0000000000000002"]
    assert [[r.value for r in s.roles] for s in texts] == [["subtitle", "main"], ["subtitle"]]
    assert [s.representations[0].base_urls[0].base_url_value for s in texts] == [
        "subtitles/cap_0000000000000001/captions.vtt",
        "subtitles/cap_0000000000000002/captions.vtt",
    ]
    assert all(s.representations[0].bandwidth >= 1 for s in texts)
    # The rest is untouched: the video set and its SegmentTimeline.
    assert len(sets[0].representations) == 2
    assert sets[0].representations[0].segment_templates[0].media == "720p/seg_$Number%05d$.m4s"


def test_the_mpd_keeps_one_default_namespace() -> None:
    edited = mpd_with_subtitles(MPD, TRACKS)
    assert "ns0:" not in edited
    assert edited.count('xmlns="urn:mpeg:dash:schema:mpd:2011"') == 1
    assert mpd_duration(edited) == 8.0


def test_a_subtitle_playlist_is_one_vod_segment_the_length_of_the_video() -> None:
    playlist = m3u8.loads(subtitle_playlist("captions.vtt", 12.345))
    assert playlist.is_endlist
    assert playlist.playlist_type == "vod"
    assert playlist.target_duration == 13
    assert [(s.uri, s.duration) for s in playlist.segments] == [("captions.vtt", 12.345)]


def test_names_are_made_unique() -> None:
    assert unique_names(["en", "en", "fr", "en", "en (2)"]) == ["en", "en (2)", "fr", "en (3)", "en (2) (2)"]


@pytest.mark.parametrize("name", ['a "quoted" name', "new\nline"])
def test_names_that_cannot_be_quoted_are_refused(name: str) -> None:
    with pytest.raises(ValueError, match="quoted-string"):
        master_with_subtitles(MASTER, [track(1, "en", name)])


def test_not_a_master() -> None:
    with pytest.raises(ValueError, match="master"):
        master_with_subtitles("#EXTM3U\n#EXTINF:4,\nseg.m4s\n", TRACKS)
