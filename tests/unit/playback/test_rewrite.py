from __future__ import annotations

import xml.etree.ElementTree as ET

import m3u8
import pytest

from lambdas.media.manifests import AudioTrack, VideoTrack, dash_mpd, master_playlist, media_playlist
from lambdas.playback.rewrite import ForeignUri, resolve_uri, rewrite_dash, rewrite_hls
from tests.unit.media.test_manifests import HD, SD, SOUND

NS = {"d": "urn:mpeg:dash:schema:mpd:2011"}


def media(path: str) -> str:
    return f"https://cdn.example/private/J/{path}?Signature=s&Key-Pair-Id=K"


def playlist(path: str) -> str:
    return f"https://api.example/v1/play/J/{path}?exp=1&sig=t"


def test_a_master_playlist_points_at_the_play_endpoint_for_every_media_playlist() -> None:
    text = master_playlist([HD, SD], [SOUND])
    out = rewrite_hls(text, "cmaf/master.m3u8", media=media, playlist=playlist)
    parsed = m3u8.loads(out)
    assert sorted(p.uri for p in parsed.playlists) == [
        playlist("cmaf/360p/index.m3u8"),
        playlist("cmaf/720p/index.m3u8"),
    ]
    assert [m.uri for m in parsed.media] == [playlist("cmaf/audio/index.m3u8")]
    # Nothing else changed: same tags, same order.
    assert [line for line in out.splitlines() if line.startswith("#")] == [
        line.replace('URI="audio/index.m3u8"', f'URI="{playlist("cmaf/audio/index.m3u8")}"')
        for line in text.splitlines()
        if line.startswith("#")
    ]


def test_a_media_playlist_signs_its_init_and_every_segment() -> None:
    text = media_playlist(HD.init_uri, HD.segments, ended=True)
    out = rewrite_hls(text, "cmaf/720p/index.m3u8", media=media, playlist=playlist)
    parsed = m3u8.loads(out)
    assert parsed.segment_map[0].uri == media("cmaf/720p/init.mp4")
    assert [s.uri for s in parsed.segments] == [media(f"cmaf/720p/seg_{n:05d}.m4s") for n in range(len(HD.segments))]
    assert parsed.is_endlist
    assert not [line for line in out.splitlines() if line if not line.startswith(("#", "https://"))]


@pytest.mark.parametrize(
    "uri", ["https://evil.example/x.m4s", "/private/OTHER/cmaf/x.m4s", "../../../OTHER/cmaf/x.m4s", "a.m4s?x=1", ""]
)
def test_a_uri_outside_the_jobs_outputs_is_refused(uri: str) -> None:
    with pytest.raises(ForeignUri):
        resolve_uri("cmaf/720p/index.m3u8", uri)
    if uri:
        with pytest.raises(ForeignUri):
            rewrite_hls(f"#EXTM3U\n#EXTINF:4,\n{uri}\n", "cmaf/720p/index.m3u8", media=media, playlist=playlist)


def test_a_dash_manifest_lists_each_signed_segment_on_the_same_timeline() -> None:
    text = dash_mpd([HD, SD], [SOUND], duration_s=20.0)
    out = rewrite_dash(text, "cmaf/manifest.mpd", media=media)
    root = ET.fromstring(out)
    assert root.tag == "{urn:mpeg:dash:schema:mpd:2011}MPD"
    assert not root.findall(".//d:SegmentTemplate", NS)
    original = ET.fromstring(text)
    tracks: list[VideoTrack | AudioTrack] = [HD, SD, SOUND]
    for rep, track in zip(root.iterfind(".//d:Representation", NS), tracks, strict=True):
        segment_list = rep.find("d:SegmentList", NS)
        assert segment_list is not None
        template = original.find(f".//d:Representation[@id='{rep.get('id')}']/d:SegmentTemplate", NS)
        assert template is not None
        assert segment_list.get("timescale") == template.get("timescale")
        assert segment_list.get("startNumber") == template.get("startNumber")
        init = segment_list.find("d:Initialization", NS)
        assert init is not None
        assert init.get("sourceURL") == media(f"cmaf/{track.init_uri}")
        assert [u.get("media") for u in segment_list.iterfind("d:SegmentURL", NS)] == [
            media(f"cmaf/{s.uri}") for s in track.segments
        ]
        timeline = segment_list.find("d:SegmentTimeline", NS)
        expected = template.find("d:SegmentTimeline", NS)
        assert timeline is not None
        assert expected is not None
        assert [s.attrib for s in timeline] == [s.attrib for s in expected]
    # Escaped as XML requires: the query's & survives a round trip.
    assert "&amp;Key-Pair-Id=K" in out
