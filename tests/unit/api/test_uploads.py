"""Uploads through the resolver: the plan, presigned parts, resume, completion rules and refusals."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from lambdas.api.models import FILE_NAME_PATTERN, CreateUpload
from lambdas.api.uploads import plan_parts
from lambdas.jobs.ports import ConcurrentUpdate, RepositoryUnavailable
from lambdas.storage.ports import MAX_PARTS, UploadStoreUnavailable
from tests.contract.upload_store_contract import UploadStoreContract, UploadStoreUnderTest
from tests.fakes.api import InMemoryUploadStore
from tests.unit.api.conftest import ALICE, MAX_UPLOAD, MIB, UPLOADS, Api, Clock, build_api, payload


def test_creating_an_upload_answers_the_job_and_the_plan(api: Api) -> None:
    answer = api.call("POST", "/uploads", {"file_name": "Holiday 2025.MOV", "size": 20 * MIB, "priority": 9})
    assert answer.status == 201, answer.body
    created = answer.body
    job = created["job"]
    assert (job["status"], job["owner"], job["priority"]) == ("UPLOADING", ALICE, 9)
    assert created["key"] == f"uploads/{ALICE}/{job['job_id']}/source" == job["source"]["key"]
    assert (created["part_size"], created["part_count"]) == (8 * MIB, 3)
    assert [p["part_number"] for p in created["parts"]] == [1, 2, 3]
    assert created["expires_at"] == "2026-03-01T12:15:00.000000Z"
    assert {expiry for _, _, expiry in api.uploads.presigned} == {900}
    assert job["upload"] == {
        "upload_id": created["upload_id"],
        "file_name": "Holiday 2025.MOV",
        "size": 20 * MIB,
        "content_type": None,
        "part_size": 8 * MIB,
        "part_count": 3,
    }
    assert job["requested_renditions"] == ["1080p", "720p", "480p", "360p"]
    assert job["requested_outputs"] == ["hls", "mp4", "thumbnails"]
    assert "execution_arn" not in job
    stored = api.repo.get(job["job_id"])
    assert stored.upload is not None
    assert stored.upload.upload_id == created["upload_id"]


def test_only_the_first_100_parts_are_presigned_and_more_on_request(api: Api, tmp_path: Path, clock: Clock) -> None:
    created = api.upload(size=MAX_UPLOAD, part_size=5 * MIB)
    assert created["part_count"] == 20
    big = api.call("POST", "/uploads", {"file_name": "a.mkv", "size": 101 * 5 * MIB, "part_size": 5 * MIB})
    assert big.status == 422, "over the 100 MiB limit of this configuration"
    roomier = build_api(tmp_path / "roomier", clock, max_upload_bytes=10 * 2**30)
    many = roomier.upload(size=101 * 5 * MIB, part_size=5 * MIB)
    assert many["part_count"] == 101
    assert len(many["parts"]) == 100
    more = roomier.call("POST", f"/uploads/{many['job']['job_id']}/parts", {"part_numbers": [101, 7, 7]})
    assert more.status == 200, more.body
    assert [p["part_number"] for p in more.body["parts"]] == [7, 101]


def test_part_size_is_raised_to_fit_10000_parts() -> None:
    assert plan_parts(12 * MIB, None) == (8 * MIB, 2)
    assert plan_parts(12 * MIB, 5 * MIB) == (5 * MIB, 3)
    assert plan_parts(1, None) == (8 * MIB, 1)
    size, count = plan_parts(5 * 2**40, None)  # S3's largest object
    assert count <= MAX_PARTS
    assert size % MIB == 0
    assert size * count >= 5 * 2**40


def test_the_source_key_holds_no_part_of_the_file_name_and_metadata_keeps_it(api: Api) -> None:
    created = api.upload(file_name="évil name (1).webm")
    assert created["key"].endswith("/source")
    ((_, metadata),) = [(m.key, m.metadata) for m in api.uploads._uploads.values()]
    assert unquote(metadata["file-name"]) == "évil name (1).webm"
    assert metadata["file-name"].isascii()
    assert metadata["priority"] == "5"


def test_a_complete_upload_queues_the_job_with_a_byte_exact_object(api: Api) -> None:
    data = payload(12 * MIB)
    created = api.upload(size=len(data), part_size=5 * MIB)
    job_id = created["job"]["job_id"]
    api.put_all(created, data)
    listing = api.call("GET", f"/uploads/{job_id}/parts")
    assert [(p["part_number"], p["size"]) for p in listing.body["parts"]] == [(1, 5 * MIB), (2, 5 * MIB), (3, 2 * MIB)]
    done = api.call("POST", f"/uploads/{job_id}/complete", {})
    assert done.status == 200, done.body
    assert (done.body["status"], done.body["source"]["size"]) == ("QUEUED", len(data))
    assert done.body["source"]["etag"].endswith("-3")
    body, _ = api.uploads.objects[(UPLOADS, created["key"])]
    assert body == data
    messages = [event.message for event in api.repo.list_events(job_id)]
    assert messages[0].startswith("upload started: clip.mp4")
    assert messages[-1].startswith("upload completed")
    # The response was lost and the client completes again: the same job, not an error.
    again = api.call("POST", f"/uploads/{job_id}/complete")
    assert (again.status, again.body["status"]) == (200, "QUEUED")


def test_an_interrupted_upload_resumes_from_the_listed_parts(api: Api) -> None:
    data = payload(12 * MIB, seed=3)
    created = api.upload(size=len(data), part_size=5 * MIB)
    job_id = created["job"]["job_id"]
    first = created["parts"][0]
    api.uploads.put_part(first["url"], data[: 5 * MIB])
    listing = api.call("GET", f"/uploads/{job_id}/parts").body
    assert [p["part_number"] for p in listing["parts"]] == [1]
    missing = [n for n in range(1, listing["part_count"] + 1) if n not in {p["part_number"] for p in listing["parts"]}]
    urls = api.call("POST", f"/uploads/{job_id}/parts", {"part_numbers": missing})
    assert urls.status == 200
    api.put_all({"part_size": listing["part_size"], "parts": urls.body["parts"]}, data)
    etags = [
        {"part_number": p["part_number"], "etag": p["etag"]}
        for p in api.call("GET", f"/uploads/{job_id}/parts").body["parts"]
    ]
    done = api.call("POST", f"/uploads/{job_id}/complete", {"parts": etags})
    assert done.status == 200, done.body
    assert api.uploads.objects[(UPLOADS, created["key"])][0] == data


@pytest.mark.parametrize(
    ("arrange", "status", "field"),
    [
        ("missing part", 409, "parts"),
        ("wrong etag", 409, "parts"),
        ("parts out of order", 422, "parts"),
        ("fewer bytes than declared", 409, "size"),
    ],
)
def test_completing_refuses_an_upload_that_does_not_add_up(api: Api, arrange: str, status: int, field: str) -> None:
    data = payload(12 * MIB)
    created = api.upload(size=len(data), part_size=5 * MIB)
    job_id = created["job"]["job_id"]
    body: dict[str, Any] = {}
    if arrange == "missing part":
        api.put_all({**created, "parts": created["parts"][:2]}, data)
    elif arrange == "fewer bytes than declared":
        api.put_all(created, data[:-1])
    else:
        api.put_all(created, data)
        parts = api.call("GET", f"/uploads/{job_id}/parts").body["parts"]
        etags = [{"part_number": p["part_number"], "etag": p["etag"]} for p in parts]
        if arrange == "wrong etag":
            etags[1]["etag"] = "0" * 32
        else:
            etags.reverse()
        body = {"parts": etags}
    answer = api.call("POST", f"/uploads/{job_id}/complete", body)
    assert (answer.status, answer.body["field"]) == (status, field), answer.body
    assert api.repo.get(job_id).status == "UPLOADING"


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"file_name": "setup.exe"}, "file_name"),
        ({"file_name": "noextension"}, "file_name"),
        ({"file_name": "dir/clip.mp4"}, "file_name"),
        ({"file_name": ""}, "file_name"),
        ({"size": 0}, "size"),
        ({"size": -5}, "size"),
        ({"size": MAX_UPLOAD + 1}, "size"),
        ({"size": "100"}, "size"),
        ({"size": True}, "size"),
        ({"priority": 0}, "priority"),
        ({"priority": 11}, "priority"),
        ({"priority": 5.5}, "priority"),
        ({"renditions": ["4k"]}, "renditions"),
        ({"renditions": ["../x"]}, "renditions[0]"),
        ({"preset": "cinema"}, "preset"),
        ({"preset": "web", "fit": "crop"}, "fit"),
        ({"file_name": "song.mp3"}, "outputs"),
        ({"file_name": "song.mp3", "outputs": ["audio", "hls"]}, "outputs"),
        ({"preset": "audio", "outputs": ["mp4"]}, "outputs"),
        ({"mp4_renditions": ["720p"], "outputs": ["hls"]}, "mp4_renditions"),
        ({"mp4_renditions": ["1080p"], "renditions": ["720p"]}, "mp4_renditions"),
        ({"loudnorm": True}, "loudnorm"),
        ({"renditions": ["720p", "720p"]}, "renditions"),
        ({"renditions": []}, "renditions"),
        ({"outputs": ["dash"]}, "outputs[0]"),
        ({"part_size": 5 * MIB - 1}, "part_size"),
        ({"content_type": "video mp4"}, "content_type"),
        ({"colour": "blue"}, "colour"),
    ],
)
def test_bad_upload_requests_are_422_naming_the_field(api: Api, changes: dict[str, Any], field: str) -> None:
    answer = api.call("POST", "/uploads", {"file_name": "clip.mp4", "size": 1000, **changes})
    assert answer.status == 422, answer.body
    assert answer.error() == ("validation_error", field)
    assert field in answer.body["message"]
    assert api.repo.list_for_owner(ALICE)[0] == []


@pytest.mark.parametrize("name", ["clip.MP4", "a.m2ts", "b.3gp", "c.Mkv", "d.mpeg", "e.ogv"])
def test_every_video_container_extension_is_accepted_in_any_case(api: Api, name: str) -> None:
    assert api.call("POST", "/uploads", {"file_name": name, "size": 10}).status == 201


def test_malformed_json_is_400_and_a_missing_body_or_other_type_422(api: Api) -> None:
    malformed = api.call("POST", "/uploads", raw='{"file_name": ')
    assert (malformed.status, malformed.body["error"], malformed.body["field"]) == (400, "validation_error", None)
    binary = api.call("POST", "/uploads", raw=b"0+\xff9\xff{")
    assert (binary.status, binary.body["error"]) == (400, "validation_error"), "found by schemathesis"
    assert api.call("POST", "/uploads").status == 422
    assert api.call("POST", "/uploads", ["clip.mp4"]).status == 422
    text = api.call("POST", "/uploads", {"file_name": "a.mp4", "size": 1}, headers={"Content-Type": "text/plain"})
    assert (text.status, text.body["error"]) == (415, "unsupported_media_type")


def test_presigning_parts_outside_the_upload_is_422(api: Api) -> None:
    created = api.upload(size=12 * MIB, part_size=5 * MIB)
    path = f"/uploads/{created['job']['job_id']}/parts"
    assert api.call("POST", path, {"part_numbers": [1, 4]}).body["field"] == "part_numbers[1]"
    assert api.call("POST", path, {"part_numbers": [0]}).body["field"] == "part_numbers[0]"
    assert api.call("POST", path, {"part_numbers": []}).body["field"] == "part_numbers"
    assert api.call("POST", path, {"part_numbers": list(range(1, 102))}).body["field"] == "part_numbers"


def test_an_expired_part_url_is_refused(api: Api) -> None:
    created = api.upload(size=10)
    api.clock.advance(901)
    api.uploads.now = 901
    with pytest.raises(PermissionError):
        api.uploads.put_part(created["parts"][0]["url"], b"x" * 10)
    fresh = api.call("POST", f"/uploads/{created['job']['job_id']}/parts", {"part_numbers": [1]}).body
    assert fresh["expires_at"] == "2026-03-01T12:30:01.000000Z"
    api.uploads.put_part(fresh["parts"][0]["url"], b"x" * 10)


def test_abandoning_an_upload_cancels_the_job_and_discards_the_parts(api: Api) -> None:
    created = api.upload(size=10)
    job_id = created["job"]["job_id"]
    answer = api.call("DELETE", f"/uploads/{job_id}")
    assert (answer.status, answer.body["status"]) == (200, "CANCELLED")
    assert not api.uploads.is_open(created["upload_id"])
    assert api.call("DELETE", f"/uploads/{job_id}").status == 200, "twice is fine"
    for method, path in (("GET", "parts"), ("POST", "complete")):
        refused = api.call(method, f"/uploads/{job_id}/{path}", {} if method == "POST" else None)
        assert (refused.status, refused.body["error"]) == (409, "conflict")
    retried = api.call("POST", f"/jobs/{job_id}/retry")
    assert retried.status == 409, "never queued: there is no source to process"


def test_a_store_outage_is_503_and_leaves_no_job(api: Api) -> None:
    api.uploads.fail_next.append(UploadStoreUnavailable("SlowDown"))
    answer = api.call("POST", "/uploads", {"file_name": "a.mp4", "size": 10})
    assert (answer.status, answer.body["error"]) == (503, "unavailable")
    assert api.repo.list_for_owner(ALICE)[0] == []


class TestInMemoryUploadStore(UploadStoreContract):
    """The fake the API tests run on passes the same contract as the S3 adapter."""

    @pytest.fixture
    def upload_store(self) -> UploadStoreUnderTest:
        store = InMemoryUploadStore()

        def read(bucket: str, key: str) -> tuple[bytes, dict[str, str]]:
            return store.objects[(bucket, key)]

        return UploadStoreUnderTest(store, UPLOADS, put=store.put_part, read=read)


def _ready(api: Api) -> str:
    """An upload whose parts have all arrived: the job is UPLOADING, ready to complete."""
    data = payload(6 * MIB)
    created = api.upload(size=len(data))
    api.put_all(created, data)
    return str(created["job"]["job_id"])


@pytest.mark.parametrize(("method", "path"), [("POST", "complete"), ("DELETE", "")])
@pytest.mark.parametrize(
    "outage",
    [
        {"append_event": ["ProvisionedThroughputExceededException"]},
        {"save_transition": ["ThrottlingException"]},
        {"save_transition": ["changed meanwhile"], "get": ["ThrottlingException"]},  # and reading it again fails
    ],
    ids=["event", "write", "read-again"],
)
def test_a_table_outage_while_completing_or_cancelling_is_503(
    api: Api, method: str, path: str, outage: dict[str, list[str]]
) -> None:
    job_id = _ready(api)
    api.repo.fail_next = {
        name: [
            ConcurrentUpdate(job_id, 1, 2) if code == "changed meanwhile" else RepositoryUnavailable(code)
            for code in codes
        ]
        for name, codes in outage.items()
    }
    url = f"/uploads/{job_id}/{path}".rstrip("/")
    answer = api.call(method, url, {} if method == "POST" else None)
    assert (answer.status, answer.body["error"], answer.body["field"]) == (503, "unavailable", None), answer.body
    assert "try again" in answer.body["message"]
    assert not any(api.repo.fail_next.values()), "every failure ordered was met"


@settings(max_examples=300, deadline=None)
@given(
    name=st.one_of(
        st.from_regex(FILE_NAME_PATTERN, fullmatch=True),
        st.text(max_size=40).map(lambda stem: stem + ".mp4"),
        st.text(max_size=40),
    )
)
def test_the_documented_file_name_pattern_is_the_rule_the_validator_enforces(name: str) -> None:
    documented = re.fullmatch(FILE_NAME_PATTERN, name) is not None and len(name) <= 255
    try:
        CreateUpload(file_name=name, size=1)
        accepted = True
    except ValidationError:
        accepted = False
    assert accepted == documented, name
