"""Request bodies that break the JSON parser itself are bad input (4xx), never a 500."""

from __future__ import annotations

import pytest

from tests.unit.api.conftest import Api


@pytest.mark.parametrize("opening", ["[", '{"a":'])
@pytest.mark.parametrize("path", ["/uploads", "/uploads/01JBZQ4J9Q8X6Y2M3N4P5R6S7T/parts"])
def test_a_body_nested_past_the_parser_is_400(api: Api, opening: str, path: str) -> None:
    answer = api.call("POST", path, raw=opening * 100_000)
    assert (answer.status, answer.body["error"]) == (400, "validation_error"), answer.body
    assert "nested too deeply" in answer.body["message"]


def test_a_body_nested_within_reason_is_judged_on_its_fields(api: Api) -> None:
    answer = api.call("POST", "/uploads", raw="[" * 50 + "]" * 50)
    assert (answer.status, answer.body["error"]) == (422, "validation_error"), answer.body


def test_a_multipart_body_is_415_not_a_server_error(api: Api) -> None:
    """Found by schemathesis: Powertools parses multipart bodies itself, and a missing boundary raised a 500."""
    for method, path, body in (
        ("POST", "/uploads", {"file_name": "a.mp4", "size": 10}),
        ("PATCH", f"/jobs/{'0' * 26}", {"priority": 5}),
    ):
        answer = api.call(method, path, body, headers={"Content-Type": "multipart/form-data"})
        assert (answer.status, answer.body["error"]) == (415, "unsupported_media_type"), (method, answer.body)
