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
