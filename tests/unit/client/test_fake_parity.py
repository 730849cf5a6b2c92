"""The fake the client tests run on (fake_api.py) is the real API behind HTTP: what the function answers comes
back over HTTP unchanged, and the authorizer's refusal is API Gateway's."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from tests.unit.api.conftest import Api, api, clock  # noqa: F401 - the real API, called with its events
from tests.unit.client.fake_api import FakeVodpipe


def over_http(fake: FakeVodpipe, method: str, path: str, content: bytes | None = None, **kwargs: Any) -> httpx.Response:
    headers = {"Authorization": f"Bearer {fake.token}", "Content-Type": "application/json"}
    return httpx.request(method, fake.url + path, content=content, headers=headers, timeout=30, **kwargs)


@pytest.mark.parametrize(
    ("method", "path", "content", "query"),
    [
        pytest.param("POST", "/uploads", b'{"file_name": "clip.mp4", "size": 0, "renditions": ["4k"]}', None, id="422"),
        pytest.param("POST", "/uploads", b"0+\xff9\xff{", None, id="body not UTF-8"),
        pytest.param("GET", "/jobs/01JBZQ4J9Q8X6Y2M3N4P5R6S7T", None, None, id="404"),
        pytest.param("GET", "/jobs", None, {"limit": "0", "status": "DONE"}, id="query"),
        pytest.param("GET", "/nothing/here", None, None, id="no such route"),
    ],
)
def test_the_functions_answer_comes_back_unchanged(
    fake: FakeVodpipe,
    api: Api,  # noqa: F811
    method: str,
    path: str,
    content: bytes | None,
    query: dict[str, str] | None,
) -> None:
    answer = over_http(fake, method, path, content, params=query)
    direct = api.call(method, path, raw=content, query=query)

    assert (answer.status_code, answer.json()) == (direct.status, direct.body)
    assert answer.status_code >= 400
    assert set(answer.json()) == {"error", "message", "field"}
    assert answer.headers["Content-Type"] == "application/json"


@pytest.mark.parametrize("token", [None, "wrong", "Bearer"])
def test_a_missing_or_unknown_token_is_refused_as_api_gateway_does(fake: FakeVodpipe, token: str | None) -> None:
    headers = {} if token is None else {"Authorization": f"Bearer {token}"}
    answer = httpx.get(f"{fake.url}/jobs", headers=headers, timeout=30)
    assert (answer.status_code, answer.json()) == (401, {"message": "Unauthorized"})


def test_a_part_put_answers_the_etag_and_complete_assembles_the_object(fake: FakeVodpipe) -> None:
    size = 3 * 64 * 1024 + 5
    data = bytes(range(256)) * (size // 256) + bytes(size % 256)
    created = over_http(fake, "POST", "/uploads", f'{{"file_name": "a.mp4", "size": {size}}}'.encode()).json()
    etags = []
    for part in created["parts"]:
        start = (part["part_number"] - 1) * created["part_size"]
        put = httpx.put(part["url"], content=data[start : start + created["part_size"]], timeout=30)
        assert put.status_code == 200
        etags.append({"part_number": part["part_number"], "etag": put.headers["ETag"]})
    body = json.dumps({"parts": etags}).encode()

    completed = over_http(fake, "POST", f"/uploads/{created['job']['job_id']}/complete", body)

    assert completed.status_code == 200, completed.text
    assert completed.json()["status"] == "QUEUED"
    assert fake.stored(created["job"]["job_id"]) == data
