"""The owner check as resolver middleware: without the authorizer's owner, every request is 401, whatever else."""

from __future__ import annotations

import pytest

from tests.unit.api.conftest import Api


@pytest.mark.parametrize(
    ("method", "path", "raw", "headers"),
    [
        pytest.param("POST", "/uploads", '{"file_name": "a.mp4", "size": 0}', None, id="invalid field"),
        pytest.param("POST", "/uploads", "{nope", None, id="not JSON"),
        pytest.param("POST", "/uploads", b"0+\xff9\xff{", None, id="not UTF-8"),
        pytest.param("POST", "/uploads", "[" * 100_000, None, id="nested too deeply"),
        pytest.param("POST", "/uploads", "x", {"Content-Type": "text/plain"}, id="not application/json"),
        pytest.param("GET", "/jobs/nope", None, None, id="bad job id"),
        pytest.param("GET", "/nothing/here", None, None, id="no such route"),
        pytest.param("OPTIONS", "/jobs", None, None, id="preflight"),
    ],
)
def test_a_request_without_an_owner_is_401_before_anything_else_is_checked(
    api: Api, method: str, path: str, raw: str | bytes | None, headers: dict[str, str] | None
) -> None:
    # Powertools validates a request before any middleware runs: the error answers must refuse it first.
    answer = api.call(method, path, user=None, raw=raw, headers=headers)
    assert (answer.status, answer.body["error"], answer.body["field"]) == (401, "unauthorized", "Authorization")
    assert answer.headers["WWW-Authenticate"] == "Bearer"


def test_an_owner_that_is_not_path_safe_is_refused(api: Api) -> None:
    answer = api.call("GET", "/jobs", user=None, authorizer={"principalId": "../bob", "owner": "../bob"})
    assert answer.status == 401


def test_the_document_needs_no_owner(api: Api) -> None:
    assert api.call("GET", "/openapi.json", user=None).status == 200
