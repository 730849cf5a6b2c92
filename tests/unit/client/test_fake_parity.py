"""The fake API the client tests run on (fake_api.py) answers as the real one (lambdas/api) does.

Each request goes to both, after the same arrangement (an upload of three 5 MiB parts, some of them sent, or
completed, or cancelled): the refusals must be the same document, `{error, message, field}`, with the same
status. The fake is configured as the `api` fixture is (S3's 5 MiB minimum part, a 100 MiB upload limit).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from lambdas.api.ports import MIN_PART_SIZE
from lambdas.jobs.transitions import QueueStats
from tests.unit.api.conftest import MAX_UPLOAD, MIB, Api, api, clock, payload  # noqa: F401 - the real API
from tests.unit.client.fake_api import FakeVodpipe

UNKNOWN = "01JBZQ4J9Q8X6Y2M3N4P5R6S7T"  # a well-formed job id nobody was given
DATA = payload(12 * MIB)  # three parts of 5, 5 and 2 MiB

Etags = list[dict[str, Any]]


@pytest.fixture
def like_real() -> Iterator[FakeVodpipe]:
    with FakeVodpipe(min_part_size=MIN_PART_SIZE, default_part_size=8 * MIB, max_upload_bytes=MAX_UPLOAD) as fake:
        yield fake


class Side:
    """One of the two APIs, called the same way."""

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        raw: str | bytes | None = None,
        query: dict[str, str] | None = None,
        content_type: str | None = None,
    ) -> tuple[int, Any]:
        raise NotImplementedError

    def put(self, plan: dict[str, Any], data: bytes) -> None:
        raise NotImplementedError


class Real(Side):
    def __init__(self, api: Api) -> None:  # noqa: F811
        self.api = api

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        raw: str | bytes | None = None,
        query: dict[str, str] | None = None,
        content_type: str | None = None,
    ) -> tuple[int, Any]:
        headers = {"Content-Type": content_type} if content_type else None
        answer = self.api.call(method, path, body, raw=raw, query=query, headers=headers)
        return answer.status, answer.body

    def put(self, plan: dict[str, Any], data: bytes) -> None:
        self.api.put_all(plan, data)


class Fake(Side):
    def __init__(self, fake: FakeVodpipe) -> None:
        self.fake = fake

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        raw: str | bytes | None = None,
        query: dict[str, str] | None = None,
        content_type: str | None = None,
    ) -> tuple[int, Any]:
        content = raw.encode() if isinstance(raw, str) else raw
        if raw is None and body is not None:
            content = json.dumps(body).encode()
        headers = {"Authorization": f"Bearer {self.fake.token}", "Content-Type": content_type or "application/json"}
        response = httpx.request(
            method, self.fake.url + path, content=content, params=query, headers=headers, timeout=30
        )
        return response.status_code, response.json() if response.content else None

    def put(self, plan: dict[str, Any], data: bytes) -> None:
        size = plan["part_size"]
        for part in plan["parts"]:
            start = (part["part_number"] - 1) * size
            answer = httpx.put(part["url"], content=data[start : start + size], timeout=30)
            assert answer.status_code == 200, answer.text


def arrange(side: Side, state: str) -> str:
    """The id of a job in `state` (an unknown id for "unknown")."""
    if state == "unknown":
        return UNKNOWN
    status, created = side.call("POST", "/uploads", {"file_name": "clip.mp4", "size": len(DATA), "part_size": 5 * MIB})
    assert status == 201, created
    job_id = str(created["job"]["job_id"])
    if state == "two parts":
        side.put({**created, "parts": created["parts"][:2]}, DATA)
    elif state == "short":
        side.put(created, DATA[:-1])
    elif state in {"all parts", "completed"}:
        side.put(created, DATA)
    if state == "completed":
        assert side.call("POST", f"/uploads/{job_id}/complete", {})[0] == 200
    if state == "cancelled":
        assert side.call("DELETE", f"/uploads/{job_id}")[0] == 200
    return job_id


@dataclass(frozen=True)
class Case:
    state: str  # of the job the request is about: see `arrange`
    method: str
    path: str  # "{job}": that job's id
    body: Any = None  # a JSON document, or one made of the parts the job has (`Etags`)
    raw: str | bytes | None = None
    query: dict[str, str] | None = None
    content_type: str | None = None


def create(**changes: Any) -> Case:
    return Case("unknown", "POST", "/uploads", {"file_name": "clip.mp4", "size": 1000, **changes})


def complete(state: str, body: Any) -> Case:
    return Case(state, "POST", "/uploads/{job}/complete", body)


def presign(body: Any = None, *, job: str = "{job}", raw: str | None = None) -> Case:
    return Case("open", "POST", f"/uploads/{job}/parts", body, raw=raw)


def _wrong_second_etag(parts: Etags) -> dict[str, Any]:
    return {"parts": [part | {"etag": "0" * 32} if part["part_number"] == 2 else part for part in parts]}


BODY_CASES = [
    pytest.param(create(renditions=["4k"]), id="rendition unknown"),
    pytest.param(create(renditions=["720p", "720p"]), id="rendition repeated"),
    pytest.param(create(renditions=[]), id="renditions empty"),
    pytest.param(create(renditions="720p"), id="renditions not a list"),
    pytest.param(create(outputs=["dash"]), id="output unknown"),
    pytest.param(create(part_size=5 * MIB - 1), id="part size too small"),
    pytest.param(create(part_size=5 * 2**30 + 1), id="part size too large"),
    pytest.param(create(size=0), id="size zero"),
    pytest.param(create(size=-5), id="size negative"),
    pytest.param(create(size="100"), id="size a string"),
    pytest.param(create(size=True), id="size a boolean"),
    pytest.param(create(size=MAX_UPLOAD + 1), id="size over the limit"),
    pytest.param(create(priority=0), id="priority zero"),
    pytest.param(create(priority=11), id="priority eleven"),
    pytest.param(create(priority=5.5), id="priority a float"),
    pytest.param(create(file_name="setup.exe"), id="file not a video"),
    pytest.param(create(file_name="noextension"), id="file without extension"),
    pytest.param(create(file_name="dir/clip.mp4"), id="file name a path"),
    pytest.param(create(file_name=""), id="file name empty"),
    pytest.param(create(content_type="video mp4"), id="content type malformed"),
    pytest.param(create(colour="blue"), id="unknown field"),
    pytest.param(create(size=0, priority=0, renditions=["4k"]), id="three problems"),
    pytest.param(Case("unknown", "POST", "/uploads", {"size": 10}), id="file name missing"),
    pytest.param(Case("unknown", "POST", "/uploads"), id="no body"),
    pytest.param(Case("unknown", "POST", "/uploads", raw="null"), id="null body"),
    pytest.param(Case("unknown", "POST", "/uploads", ["clip.mp4"]), id="body a list"),
    pytest.param(Case("unknown", "POST", "/uploads", raw='{"file_name": '), id="malformed JSON"),
    pytest.param(Case("unknown", "POST", "/uploads", raw="   "), id="blank body"),
    pytest.param(Case("unknown", "POST", "/uploads", raw=b"0+\xff9\xff{"), id="body not UTF-8"),
    pytest.param(Case("unknown", "POST", "/uploads", raw="[" * 100_000), id="body nested too deeply"),
    pytest.param(Case("unknown", "POST", "/uploads", raw="[" * 50 + "]" * 50), id="body nested within reason"),
    pytest.param(
        Case("unknown", "POST", "/uploads", raw='{"file_name": "a.mp4", "size": 1}', content_type="text/plain"),
        id="body not JSON by its type",
    ),
]

PART_CASES = [
    pytest.param(presign({"part_numbers": [1, 4]}), id="part beyond the upload"),
    pytest.param(presign({"part_numbers": [0]}), id="part zero"),
    pytest.param(presign({"part_numbers": [10_001]}), id="part beyond S3's limit"),
    pytest.param(presign({"part_numbers": []}), id="no part numbers"),
    pytest.param(presign({"part_numbers": list(range(1, 102))}), id="101 part numbers"),
    pytest.param(presign({"part_numbers": ["1"]}), id="part number a string"),
    pytest.param(presign({"part_numbers": [1], "more": True}), id="presign unknown field"),
    pytest.param(presign(), id="presign without body"),
    pytest.param(presign(raw="{bad"), id="presign malformed JSON"),
    pytest.param(presign({"part_numbers": [1]}, job="not-a-job-id"), id="presign malformed job id"),
    pytest.param(presign({"part_numbers": [0]}, job="not-a-job-id"), id="malformed job id and body"),
    pytest.param(presign(raw="{bad", job="not-a-job-id"), id="malformed job id and JSON"),
    pytest.param(presign({"part_numbers": [1]}, job=UNKNOWN), id="presign unknown job"),
    pytest.param(Case("cancelled", "POST", "/uploads/{job}/parts", {"part_numbers": [1]}), id="presign cancelled"),
    pytest.param(Case("completed", "POST", "/uploads/{job}/parts", {"part_numbers": [1]}), id="presign completed"),
    pytest.param(Case("unknown", "GET", "/uploads/{job}/parts"), id="list parts unknown job"),
    pytest.param(Case("open", "GET", "/uploads/not-a-job-id/parts"), id="list parts malformed job id"),
    pytest.param(Case("cancelled", "GET", "/uploads/{job}/parts"), id="list parts cancelled"),
    pytest.param(Case("completed", "GET", "/uploads/{job}/parts"), id="list parts completed"),
]

COMPLETE_CASES = [
    pytest.param(complete("two parts", {}), id="missing part"),
    pytest.param(complete("open", None), id="no part arrived"),
    pytest.param(complete("all parts", _wrong_second_etag), id="wrong etag"),
    pytest.param(complete("all parts", lambda parts: {"parts": parts[::-1]}), id="parts out of order"),
    pytest.param(complete("all parts", lambda parts: {"parts": parts[:2]}), id="parts left out"),
    pytest.param(complete("all parts", lambda parts: {"parts": [*parts, parts[0]]}), id="part repeated"),
    pytest.param(complete("short", {}), id="fewer bytes than declared"),
    pytest.param(complete("all parts", {"parts": []}), id="empty parts"),
    pytest.param(complete("all parts", {"parts": [{"part_number": 0, "etag": ""}]}), id="part malformed"),
    pytest.param(complete("all parts", {"parts": [{"part_number": 1}]}), id="etag missing"),
    pytest.param(complete("all parts", {"parts": None, "force": True}), id="complete unknown field"),
    pytest.param(complete("all parts", []), id="complete body a list"),
    pytest.param(Case("all parts", "POST", "/uploads/{job}/complete", raw="{"), id="complete malformed JSON"),
    pytest.param(complete("unknown", {}), id="complete unknown job"),
    pytest.param(complete("cancelled", {}), id="complete cancelled"),
    pytest.param(complete("completed", {}), id="complete again"),
    pytest.param(Case("all parts", "DELETE", "/uploads/not-a-job-id"), id="abort malformed job id"),
    pytest.param(Case("unknown", "DELETE", "/uploads/{job}"), id="abort unknown job"),
    pytest.param(Case("cancelled", "DELETE", "/uploads/{job}"), id="abort again"),
    pytest.param(Case("completed", "DELETE", "/uploads/{job}"), id="abort completed"),
]

JOB_CASES = [
    pytest.param(Case("unknown", "GET", "/jobs/{job}"), id="unknown job"),
    pytest.param(Case("unknown", "GET", "/jobs/not-a-job-id"), id="malformed job id"),
    pytest.param(Case("unknown", "GET", "/jobs/{job}/events"), id="events of an unknown job"),
    pytest.param(Case("unknown", "DELETE", "/jobs/{job}"), id="cancel unknown job"),
    pytest.param(Case("cancelled", "DELETE", "/jobs/{job}"), id="cancel again"),
    pytest.param(Case("unknown", "POST", "/jobs/{job}/retry"), id="retry unknown job"),
    pytest.param(Case("open", "POST", "/jobs/{job}/retry"), id="retry an upload"),
    pytest.param(Case("cancelled", "POST", "/jobs/{job}/retry"), id="retry a job never queued"),
    pytest.param(Case("completed", "POST", "/jobs/{job}/retry"), id="retry a queued job"),
    pytest.param(Case("unknown", "GET", "/jobs", query={"limit": "0"}), id="limit zero"),
    pytest.param(Case("unknown", "GET", "/jobs", query={"limit": "101"}), id="limit 101"),
    pytest.param(Case("unknown", "GET", "/jobs", query={"limit": "ten"}), id="limit a word"),
    pytest.param(Case("unknown", "GET", "/jobs", query={"status": "DONE"}), id="status unknown"),
    pytest.param(Case("unknown", "GET", "/jobs", query={"status": "failed"}), id="status in lower case"),
    pytest.param(Case("unknown", "GET", "/jobs", query={"cursor": "bm90LWEtY3Vyc29y"}), id="cursor not handed out"),
    pytest.param(Case("unknown", "GET", "/jobs", query={"cursor": "not/base64url="}), id="cursor malformed"),
    pytest.param(Case("unknown", "GET", "/jobs", query={"cursor": "A" * 1025}), id="cursor too long"),
    pytest.param(Case("unknown", "GET", "/jobs", query={"limit": "0", "status": "DONE"}), id="two listing parameters"),
    pytest.param(Case("unknown", "GET", "/nothing/here"), id="unknown route"),
    pytest.param(Case("unknown", "PATCH", "/jobs"), id="unknown method"),
    pytest.param(Case("unknown", "POST", "/jobs"), id="method of another route"),
]


def ask(side: Side, case: Case) -> tuple[int, Any]:
    """The side's answer to `case`, with the arranged job's id in messages replaced by "{job}"."""
    job_id = arrange(side, case.state)
    body = case.body
    if callable(body):
        status, listing = side.call("GET", f"/uploads/{job_id}/parts")
        assert status == 200, listing
        make: Callable[[Etags], Any] = body
        body = make([{"part_number": p["part_number"], "etag": p["etag"]} for p in listing["parts"]])
    status, document = side.call(
        case.method,
        case.path.format(job=job_id),
        body,
        raw=case.raw,
        query=case.query,
        content_type=case.content_type,
    )
    if isinstance(document, dict) and isinstance(document.get("message"), str):
        document = document | {"message": document["message"].replace(job_id, "{job}")}
    return status, document


@pytest.mark.parametrize("case", [*BODY_CASES, *PART_CASES, *COMPLETE_CASES, *JOB_CASES])
def test_the_fake_answers_as_the_real_api_does(
    api: Api,  # noqa: F811
    like_real: FakeVodpipe,
    case: Case,
) -> None:
    real_status, real = ask(Real(api), case)
    fake_status, fake = ask(Fake(like_real), case)

    if real_status < 400:  # a request the real API serves (completing or cancelling twice): so does the fake
        assert (fake_status, fake["status"]) == (real_status, real["status"])
        return
    assert set(real) == {"error", "message", "field"}
    assert (fake_status, fake["error"], fake["field"]) == (real_status, real["error"], real["field"]), fake
    assert fake["message"] == real["message"]


@pytest.mark.parametrize("window", ["1", "720", "24.0", "0", "721", "-3", "1.5", "six"])
def test_the_fakes_stats_answer_as_the_real_api_does(
    fake: FakeVodpipe,
    api: Api,  # noqa: F811
    window: str,
) -> None:
    real = api.call("GET", "/stats", query={"window_hours": window})

    answer = httpx.get(
        f"{fake.url}/stats", params={"window_hours": window}, headers={"Authorization": f"Bearer {fake.token}"}
    )

    assert answer.status_code == real.status
    if real.status != 200:
        assert answer.json() == real.body  # the same {error, message, field}
        return
    ours, theirs = QueueStats.model_validate(answer.json()), QueueStats.model_validate(real.body)
    assert set(answer.json()) == set(real.body)
    assert ours.until - ours.since == theirs.until - theirs.since
