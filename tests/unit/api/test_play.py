from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

from lambdas import keys
from lambdas.api.play import answer_play
from lambdas.media.manifests import master_playlist
from lambdas.playback.service import PlaybackConfig, PrivatePlayback
from lambdas.playback.tokens import PlayTokens
from tests.fakes.playback import DictManifests, FakeSigner
from tests.unit.media.test_manifests import HD, SOUND

JOB_ID = "01JBX7Q8K9M2N3P4R5S6T7V8W9"
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def playback(texts: dict[str, str] | None = None) -> PrivatePlayback:
    master = keys.master_key(JOB_ID, private=True)
    return PrivatePlayback(
        PlaybackConfig(play_base_url="https://api.example/v1"),
        FakeSigner(),
        lambda: PlayTokens(b"k" * 32),
        DictManifests({master: master_playlist([HD], [SOUND])} if texts is None else texts),
        clock=lambda: NOW,
    )


def event(url: str, method: str = "GET", **query: str) -> dict[str, Any]:
    parts = urlsplit(url)
    params = {k: v[0] for k, v in parse_qs(parts.query).items()} | query
    file = parts.path.split(f"/play/{JOB_ID}/", 1)[1]
    return {
        "httpMethod": method,
        "pathParameters": {"job_id": JOB_ID, "file": file},
        "queryStringParameters": params or None,
    }


def link(service: PrivatePlayback, minutes: float = 5) -> str:
    return service.play_url(JOB_ID, "cmaf/master.m3u8", NOW + timedelta(minutes=minutes))


def test_a_valid_link_answers_the_signed_playlist_uncached_and_readable_cross_origin() -> None:
    service = playback()
    answer = answer_play(service, event(link(service)))
    assert answer["statusCode"] == 200
    assert answer["headers"]["Content-Type"] == "application/vnd.apple.mpegurl"
    assert answer["headers"]["Cache-Control"] == "private, no-store"
    assert answer["headers"]["Access-Control-Allow-Origin"] == "*"
    assert "https://api.example/v1/play/" in answer["body"]
    assert answer_play(service, event(link(service), "HEAD"))["body"] == ""


def test_refusals_are_403_404_and_405_in_the_apis_error_shape() -> None:
    service = playback()
    good = link(service)
    sig = parse_qs(urlsplit(good).query)["sig"][0]
    tampered = answer_play(service, event(good, sig=sig[:-1] + ("A" if sig[-1] != "A" else "B")))
    assert tampered["statusCode"] == 403
    assert json.loads(tampered["body"]) == {"error": "forbidden", "message": "this link is not valid", "field": "sig"}
    expired = answer_play(service, event(link(service, minutes=-1)))
    assert expired["statusCode"] == 403
    assert "expired" in json.loads(expired["body"])["message"]
    unsigned = answer_play(service, {"httpMethod": "GET", "pathParameters": {"job_id": JOB_ID, "file": "cmaf/x.m3u8"}})
    assert unsigned["statusCode"] == 403
    gone = playback(texts={})
    assert answer_play(gone, event(link(gone)))["statusCode"] == 404
    assert answer_play(service, event(good, "POST"))["statusCode"] == 405
