"""The client's side of presets and downloads: the saved name from Content-Disposition, saving a file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from lambdas.api.downloads import content_disposition
from vodpipe.client.downloads import describe_presets, file_name_from_disposition, save_download
from vodpipe.client.errors import TransportError


@pytest.mark.parametrize(
    "name", ["Holiday-720p.mp4", "Été à Paris 東京-720p.mp4", 'say "hi"-audio.m4a', "50% off-audio.mp3"]
)
def test_the_name_the_server_gives_is_the_name_read_back(name: str) -> None:
    # Whatever the fallback loses, RFC 5987's filename* carries the name exactly.
    assert file_name_from_disposition(content_disposition(name)) == name


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ('attachment; filename="../../etc/passwd"', "passwd"),
        ("attachment; filename*=UTF-8''..%2F..%2Fx.mp4", "x.mp4"),
        ('attachment; filename=".."', None),
        ("attachment", None),
        (None, None),
    ],
)
def test_a_name_never_leaves_the_folder(header: str | None, expected: str | None) -> None:
    assert file_name_from_disposition(header) == expected


class FakeApi:
    def __init__(self, link: dict[str, Any]) -> None:
        self.link = link

    def get_download(self, job_id: str, name: str) -> dict[str, Any]:
        return self.link


def _http(status: int, body: bytes, disposition: str | None) -> httpx.Client:
    def answer(request: httpx.Request) -> httpx.Response:
        headers = {"content-disposition": disposition} if disposition else {}
        return httpx.Response(status, content=body, headers=headers)

    return httpx.Client(transport=httpx.MockTransport(answer))


def test_save_download_uses_the_servers_name_in_the_folder_given(tmp_path: Path) -> None:
    api = FakeApi({"url": "https://s3.example/x", "file_name": "fallback.mp4"})
    http = _http(200, b"movie", content_disposition("Été-720p.mp4"))
    saved = save_download(api, "J", "720p.mp4", tmp_path, http=http)  # type: ignore[arg-type]
    assert saved == tmp_path / "Été-720p.mp4"
    assert saved.read_bytes() == b"movie"
    assert not list(tmp_path.glob("*.part"))
    chosen = save_download(api, "J", "720p.mp4", tmp_path / "mine.mp4", http=http)  # type: ignore[arg-type]
    assert chosen == tmp_path / "mine.mp4"


def test_a_refused_link_is_an_error_and_leaves_nothing(tmp_path: Path) -> None:
    api = FakeApi({"url": "https://s3.example/x", "file_name": "f.mp4"})
    with pytest.raises(TransportError, match="answered 403"):
        save_download(api, "J", "720p.mp4", tmp_path, http=_http(403, b"<Error/>", None))  # type: ignore[arg-type]
    assert list(tmp_path.iterdir()) == []


def test_describe_presets() -> None:
    lines = describe_presets(
        [
            {"name": "vertical", "version": 1, "rungs": [{"name": "a", "width": 1080, "height": 1920}], "fit": "pad",
             "outputs": ["hls", "mp4"], "description": "9:16"},
            {"name": "audio", "version": 2, "rungs": [], "outputs": ["audio"], "description": "sound"},
        ]
    )  # fmt: skip
    assert lines == ["vertical v1: 1080x1920 fit=pad -> hls,mp4  9:16", "audio v2: no video -> audio  sound"]
