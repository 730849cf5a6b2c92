from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import m3u8
import pytest

from lambdas import keys
from lambdas.jobs.model import Job, JobOutputs, OutputFile, OutputKind, Source
from lambdas.media.manifests import dash_mpd, master_playlist, media_playlist
from lambdas.playback.ports import ManifestNotFound
from lambdas.playback.service import DASH, HLS, PlaybackConfig, PrivatePlayback
from lambdas.playback.tokens import PlayTokens, TokenExpired, TokenRejected
from tests.fakes.playback import DictManifests, FakePrefixSigner, FakeSigner
from tests.unit.media.test_manifests import HD, SD, SOUND

JOB_ID = "01JBX7Q8K9M2N3P4R5S6T7V8W9"
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
API = "https://api.example/v1"
TTL = 900
TOKENS = PlayTokens(b"k" * 32)


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now


def stored() -> dict[str, str]:
    prefix = keys.stream_prefix(JOB_ID, private=True)
    texts = {prefix + "master.m3u8": master_playlist([HD, SD], [SOUND])}
    texts[prefix + "manifest.mpd"] = dash_mpd([HD, SD], [SOUND], duration_s=20.0)
    for track in (HD, SD, SOUND):
        texts[prefix + track.playlist_uri] = media_playlist(track.init_uri, track.segments, ended=True)
    return texts


def service(clock: Clock, signer: FakeSigner | None = None) -> PrivatePlayback:
    return PrivatePlayback(
        PlaybackConfig(play_base_url=API, url_ttl_s=TTL),
        signer or FakeSigner(),
        lambda: TOKENS,
        DictManifests(stored()),
        clock=clock,
    )


def private_job(*, private: bool = True) -> Job:
    job = Job.new(
        owner="alice",
        source=Source(bucket="uploads", key=f"uploads/alice/{JOB_ID}/source"),
        requested_renditions=("720p", "360p"),
        now=NOW,
        job_id=JOB_ID,
        private=private,
    )
    master, mpd = keys.master_key(JOB_ID, private=private), keys.dash_key(JOB_ID, private=private)
    files = (
        OutputFile(kind=OutputKind.HLS, key=master, size_bytes=10, duration_seconds=20.0),
        OutputFile(kind=OutputKind.DASH, key=mpd, size_bytes=10, duration_seconds=20.0),
        OutputFile(
            kind=OutputKind.HLS,
            key=keys.track_prefix(JOB_ID, "720p", private=private) + keys.MEDIA_PLAYLIST,
            size_bytes=10,
            rendition="720p",
        ),
        OutputFile(
            kind=OutputKind.THUMBNAILS,
            key=keys.thumbnails_prefix(JOB_ID, private=private) + "poster.jpg",
            size_bytes=10,
        ),
        OutputFile(kind=OutputKind.MP4, key=keys.mp4_key(JOB_ID, "720p", private=private), size_bytes=10),
    )
    outputs = JobOutputs(manifest_key=master, dash_manifest_key=mpd, files=files)
    return job.model_copy(update={"outputs": outputs, "playable_url": "https://cdn.example/unsigned"})


def play(url: str) -> tuple[str, str, str | None, str | None]:
    parts = urlsplit(url)
    assert url.startswith(f"{API}/play/{JOB_ID}/")
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    return JOB_ID, parts.path.split(f"/play/{JOB_ID}/", 1)[1], query.get("exp"), query.get("sig")


def test_the_signed_hls_master_leads_to_signed_segments_that_expire_together() -> None:
    clock, signer = Clock(), FakeSigner()
    playback = service(clock, signer)
    job = playback.signed_job(private_job())
    assert job.outputs is not None
    assert job.outputs.playback_url
    expires = NOW + timedelta(seconds=TTL + 20)  # the TTL to start, plus the video's duration
    master = playback.serve(*play(job.outputs.playback_url))
    assert master.content_type == HLS
    variants = m3u8.loads(master.body)
    assert len(variants.playlists) == 2
    assert len(variants.media) == 1
    for uri in [p.uri for p in variants.playlists] + [m.uri for m in variants.media]:
        assert play(uri)[2] == str(int(expires.timestamp()))
        media = m3u8.loads(playback.serve(*play(uri)).body)
        assert media.segments
        assert media.segment_map
        for segment in [media.segment_map[0], *media.segments]:
            assert segment.uri.startswith(f"https://media.example/private/{JOB_ID}/cmaf/")
    assert signer.signed
    assert {at for _, at in signer.signed} == {expires}


def test_the_dash_manifest_is_served_with_every_segment_listed_and_signed() -> None:
    clock, signer = Clock(), FakeSigner()
    playback = service(clock, signer)
    job = playback.signed_job(private_job())
    assert job.outputs is not None
    assert job.outputs.dash_url
    signer.signed.clear()  # the job's own files
    served = playback.serve(*play(job.outputs.dash_url))
    assert served.content_type == DASH
    segments = sum(len(t.segments) + 1 for t in (HD, SD, SOUND))
    assert len(signer.signed) == segments
    assert "SegmentTemplate" not in served.body


def test_a_tampered_expired_or_redirected_link_is_refused() -> None:
    clock = Clock()
    playback = service(clock)
    job = playback.signed_job(private_job())
    assert job.outputs is not None
    assert job.outputs.playback_url
    job_id, file, exp, sig = play(job.outputs.playback_url)
    assert sig is not None
    assert exp is not None
    with pytest.raises(TokenRejected):
        playback.serve(job_id, file, exp, sig[:-1] + ("A" if sig[-1] != "A" else "B"))
    with pytest.raises(TokenRejected):
        playback.serve(job_id, "cmaf/manifest.mpd", exp, sig)  # the master's token opens only the master
    with pytest.raises(TokenRejected):
        playback.serve(job_id, file, str(int(exp) + 60), sig)
    clock.now = datetime.fromtimestamp(int(exp), UTC)
    with pytest.raises(TokenExpired):
        playback.serve(job_id, file, exp, sig)


def test_a_removed_manifest_is_not_found() -> None:
    clock = Clock()
    playback = PrivatePlayback(
        PlaybackConfig(play_base_url=API), FakeSigner(), lambda: TOKENS, DictManifests(), clock=clock
    )
    url = playback.play_url(JOB_ID, "cmaf/master.m3u8", NOW + timedelta(minutes=1))
    with pytest.raises(ManifestNotFound):
        playback.serve(*play(url))


def test_every_output_of_a_private_job_gets_a_signed_url_and_a_public_job_is_left_alone() -> None:
    clock, signer = Clock(), FakeSigner()
    playback = service(clock, signer)
    job = playback.signed_job(private_job())
    assert job.outputs is not None
    by_kind = {(f.kind, f.rendition): f.url for f in job.outputs.files}
    assert by_kind[(OutputKind.HLS, None)] == job.outputs.playback_url
    assert by_kind[(OutputKind.DASH, None)] == job.outputs.dash_url
    assert play(by_kind[(OutputKind.HLS, "720p")] or "")[1] == "cmaf/720p/index.m3u8"
    assert (by_kind[(OutputKind.THUMBNAILS, None)] or "").startswith(f"https://media.example/private/{JOB_ID}/")
    assert (by_kind[(OutputKind.MP4, None)] or "").startswith(f"https://media.example/private/{JOB_ID}/mp4/")
    assert job.playable_url is not None
    assert play(job.playable_url)[1] == "cmaf/master.m3u8"
    public = private_job(private=False)
    assert service(clock).signed_job(public) is public


def test_with_a_prefix_grant_each_manifest_costs_one_signature_and_dash_keeps_its_template() -> None:
    clock, signer = Clock(), FakePrefixSigner()
    playback = service(clock, signer)
    job = playback.signed_job(private_job())
    assert job.outputs is not None
    assert job.outputs.playback_url is not None
    assert job.outputs.dash_url is not None
    signer.signed.clear()
    master = m3u8.loads(playback.serve(*play(job.outputs.playback_url)).body)
    media = m3u8.loads(playback.serve(*play(master.playlists[0].uri)).body)
    stream = keys.stream_prefix(JOB_ID, private=True)
    assert [s.uri for s in media.segments] == [
        f"https://cdn.example/{stream}{s.uri}?grant={stream}&expires={play(master.playlists[0].uri)[2]}"
        for s in HD.segments
    ]
    served = playback.serve(*play(job.outputs.dash_url)).body
    assert "SegmentList" not in served
    assert f'media="https://cdn.example/{stream}720p/seg_$Number%05d$.m4s?grant=' in served
    assert not signer.signed  # nothing signed one file at a time
    assert [prefix for prefix, _ in signer.grants] == [stream, stream]  # media playlist, MPD (the master: none)
