"""The clip client: what POST /jobs/{id}/clips is sent, and the line a finished clip is described by."""

from __future__ import annotations

import json

import httpx

from vodpipe.client.api import ApiClient
from vodpipe.client.clips import ClipRequest, create_clip, describe_clip

JOB = "01JAAAAAAAAAAAAAAAAAAAAAAA"


def test_a_clip_request_sends_only_what_was_asked() -> None:
    seen: list[httpx.Request] = []

    def server(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(201, json={"job_id": "01JBBBBBBBBBBBBBBBBBBBBBBB", "status": "QUEUED"})

    api = ApiClient("https://api.test/v1", "token", transport=httpx.MockTransport(server), attempts=1)
    answer = create_clip(api, JOB, ClipRequest(start_s=1.5, end_s=4, mode="fast", preset="mobile"))
    assert answer["status"] == "QUEUED"
    (request,) = seen
    assert (request.method, request.url.path) == ("POST", f"/v1/jobs/{JOB}/clips")
    assert json.loads(request.content) == {"start_s": 1.5, "end_s": 4, "mode": "fast", "preset": "mobile"}


def test_a_fast_clip_says_where_it_really_starts() -> None:
    job = {
        "clip": {"start_s": 1.3, "end_s": 2.8, "mode": "fast"},
        "outputs": {"clip": {"mode": "fast", "start_s": 1.0, "start_shift_s": 0.3, "duration_s": 1.9167}},
    }
    assert describe_clip(job) == "clip fast from 1 s, 1.917 s long (starts 0.300 s early, on the keyframe before 1.3 s)"
    assert describe_clip({"clip": {"start_s": 2, "end_s": 5, "mode": "exact"}}) == "clip exact 2-5 s"
