"""CORS on the function's own answers (successes and errors alike), for the origins the deployment allows."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.unit.api.conftest import Clock, build_api

ALLOWED = ("https://app.example", "https://console.example")


@pytest.mark.parametrize("origin", ALLOWED)
def test_an_allowed_origin_reads_answers_and_errors_and_their_etag(tmp_path: Path, clock: Clock, origin: str) -> None:
    api = build_api(tmp_path, clock, cors_origins=ALLOWED)
    created = api.upload()
    job_id = created["job"]["job_id"]
    found = api.call("GET", f"/jobs/{job_id}", headers={"Origin": origin})
    assert found.status == 200
    assert found.headers["Access-Control-Allow-Origin"] == origin
    assert "ETag" in found.headers["Access-Control-Expose-Headers"]  # the console's conditional polls read it
    missing = api.call("GET", "/jobs/01ARZ3NDEKTSV4RRFFQ69G5FAV", headers={"Origin": origin})
    assert missing.status == 404
    assert missing.headers["Access-Control-Allow-Origin"] == origin
    refused = api.call("POST", "/uploads", {"file_name": "a.exe", "size": 10}, headers={"Origin": origin})
    assert refused.status == 422
    assert refused.headers["Access-Control-Allow-Origin"] == origin


def test_another_origin_gets_no_cors_grant(tmp_path: Path, clock: Clock) -> None:
    api = build_api(tmp_path, clock, cors_origins=ALLOWED)
    answer = api.call("GET", "/jobs", headers={"Origin": "https://evil.example"})
    assert answer.status == 200  # CORS is the browser's gate, not authentication
    assert "Access-Control-Allow-Origin" not in answer.headers


def test_by_default_any_page_may_call(tmp_path: Path, clock: Clock) -> None:
    api = build_api(tmp_path, clock)
    answer = api.call("GET", "/jobs", headers={"Origin": "https://anywhere.example"})
    assert answer.headers["Access-Control-Allow-Origin"] == "*"
