"""The captions client: create, PUT the file to the presigned URL, complete; a refused file leaves nothing pending."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from vodpipe.client.api import ApiClient
from vodpipe.client.captions import CaptionFileError, add_caption, caption_format, describe
from vodpipe.client.errors import ApiError

JOB = "01JABCDEFGHJKMNPQRSTVWXYZ0"
CAPTION = {"caption_id": "cap_0123456789abcdef", "language": "en", "label": "English", "default": True}


class Server:
    def __init__(self, *, refuse: bool = False) -> None:
        self.refuse = refuse
        self.seen: list[tuple[str, str, bytes]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.seen.append((request.method, request.url.path, request.content))
        path = request.url.path
        if request.method == "POST" and path.endswith("/captions"):
            body = {"caption": CAPTION | {"status": "pending"}, "upload_url": "https://s3.test/up?X-Amz-Signature=s",
                    "expires_at": "2026-01-01T00:00:00Z"}  # fmt: skip
            return httpx.Response(201, json=body)
        if request.method == "PUT":
            return httpx.Response(200)
        if path.endswith("/complete"):
            if self.refuse:
                error = {"error": "validation_error", "message": "line 6: malformed cue timing", "field": "file"}
                return httpx.Response(422, json=error)
            return httpx.Response(200, json=CAPTION | {"status": "ready", "cue_count": 2, "removed": ["script"]})
        if request.method == "DELETE":
            return httpx.Response(204)
        return httpx.Response(404, json={"error": "not_found", "message": path, "field": None})


def client(server: Server) -> ApiClient:
    return ApiClient("https://api.test/v1", "token", transport=httpx.MockTransport(server), attempts=1)


def test_a_caption_is_created_uploaded_and_completed(tmp_path: Path) -> None:
    path = tmp_path / "en.srt"
    path.write_bytes(b"1\n00:00:01,000 --> 00:00:02,000\nhi\n")
    server = Server()
    caption = add_caption(
        client(server), JOB, path, language="en", label="English", default=True, transport=httpx.MockTransport(server)
    )
    assert caption["status"] == "ready"
    methods = [(m, p) for m, p, _ in server.seen]
    assert methods == [
        ("POST", f"/v1/jobs/{JOB}/captions"),
        ("PUT", "/up"),
        ("POST", f"/v1/jobs/{JOB}/captions/cap_0123456789abcdef/complete"),
    ]
    assert json.loads(server.seen[0][2]) == {"language": "en", "format": "srt", "default": True, "label": "English"}
    assert server.seen[1][2] == path.read_bytes()
    assert describe(caption) == 'cap_0123456789abcdef en "English" (default) ready: 2 cues, removed script'


def test_a_refused_file_raises_the_apis_message_and_deletes_the_pending_caption(tmp_path: Path) -> None:
    path = tmp_path / "bad.vtt"
    path.write_text("WEBVTT\n")
    server = Server(refuse=True)
    with pytest.raises(ApiError, match="line 6"):
        add_caption(client(server), JOB, path, language="en", transport=httpx.MockTransport(server))
    assert server.seen[-1][:2] == ("DELETE", f"/v1/jobs/{JOB}/captions/cap_0123456789abcdef")


def test_the_format_comes_from_the_extension() -> None:
    assert caption_format(Path("a.SRT")) == "srt"
    assert caption_format(Path("a.vtt")) == "vtt"
    assert caption_format(Path("a.txt"), "srt") == "srt"
    with pytest.raises(CaptionFileError):
        caption_format(Path("a.txt"))
