"""The fake the client tests run on (fake_api.py) is the real API behind HTTP: what the function answers comes
back over HTTP unchanged, and the authorizer's refusal is API Gateway's. The webhook routes it answers itself
(fake_webhooks.py) are the ones the API documents, and answer what the document says."""

from __future__ import annotations

import json
import re
from typing import Any

import httpx
import pytest

from lambdas.api.openapi import generate_openapi
from tests.unit.api.conftest import Api, api, clock  # noqa: F401 - the real API, called with its events
from tests.unit.client.fake_api import FakeVodpipe
from tests.unit.client.fake_webhooks import ROUTES as WEBHOOK_ROUTES


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
        pytest.param("GET", "/jobs/01JBZQ4J9Q8X6Y2M3N4P5R6S7T", None, {"wait": "30", "version": "1"}, id="long wait"),
        pytest.param("GET", "/jobs/01JBZQ4J9Q8X6Y2M3N4P5R6S7T", None, {"wait": "1", "version": "x"}, id="version"),
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


# --- the routes the fake answers itself, held to the API's OpenAPI document ------------------------------------
# The document as the function's routes generate it now (lambdas/api/openapi.py), not the committed file, which
# test_openapi_and_auth.py keeps equal to it.


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return dict(json.loads(generate_openapi()))


def template(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "{}", path)


def documented_webhook_routes(document: dict[str, Any]) -> set[tuple[str, str]]:
    return {
        (method.upper(), template(path))
        for path, operations in document["paths"].items()
        if path == "/webhooks" or path.startswith("/webhooks/")
        for method in operations
    }


def test_the_fake_answers_every_documented_webhook_route_and_no_other(document: dict[str, Any]) -> None:
    documented = documented_webhook_routes(document)
    if not documented:
        pytest.skip("the API documents no /webhooks route yet: the fake's are the contract's (issue 12)")
    assert {(method, template(path)) for method, path in WEBHOOK_ROUTES} == documented


def test_get_job_documents_the_long_poll(document: dict[str, Any]) -> None:
    operation = document["paths"]["/jobs/{job_id}"]["get"]
    assert {p["name"] for p in operation["parameters"] if p["in"] == "query"} >= {"wait", "version"}
    assert "304" in operation["responses"]
    assert "revision" in document["components"]["schemas"]["PublicJob"]["properties"]


def schema_problems(value: Any, schema: dict[str, Any], document: dict[str, Any], where: str = "$") -> list[str]:
    """Where `value` is not what `schema` (OpenAPI 3.1, as pydantic writes it) says, in a few checks: $ref, anyOf,
    enum, type, required and undocumented properties, array items. Formats and bounds are the API's business."""
    if "$ref" in schema:
        schema = document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    if "anyOf" in schema or "oneOf" in schema:
        choices = schema.get("anyOf") or schema["oneOf"]
        if all(schema_problems(value, choice, document, where) for choice in choices):
            return [f"{where}: {value!r} is none of {choices}"]
        return []
    if "enum" in schema and value not in schema["enum"]:
        return [f"{where}: {value!r} is not one of {schema['enum']}"]
    kind = schema.get("type")
    if kind is not None and not _is(value, kind):
        return [f"{where}: {value!r} is not {kind}"]
    problems: list[str] = []
    if isinstance(value, dict):
        properties = schema.get("properties", {})
        problems += [f"{where}: no {name}" for name in schema.get("required", ()) if name not in value]
        for name, inner in value.items():
            if name in properties:
                problems += schema_problems(inner, properties[name], document, f"{where}.{name}")
            elif properties and not isinstance(schema.get("additionalProperties"), dict):
                problems.append(f"{where}.{name}: not in the document")
    if isinstance(value, list) and "items" in schema:
        for number, item in enumerate(value):
            problems += schema_problems(item, schema["items"], document, f"{where}[{number}]")
    return problems


def _is(value: Any, kind: str) -> bool:
    checks: dict[str, Any] = {
        "string": lambda v: isinstance(v, str),
        "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
        "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
        "boolean": lambda v: isinstance(v, bool),
        "null": lambda v: v is None,
        "object": lambda v: isinstance(v, dict),
        "array": lambda v: isinstance(v, list),
    }
    return bool(checks[kind](value))


def test_the_fakes_webhook_answers_are_the_documented_ones(fake: FakeVodpipe, document: dict[str, Any]) -> None:
    if not documented_webhook_routes(document):
        pytest.skip("the API documents no /webhooks route yet: nothing to hold the fake's answers to")
    fake.webhooks.answers.extend([500])
    answers: list[tuple[str, str, httpx.Response]] = []

    def call(method: str, path: str, route: str, body: Any = None, **kwargs: Any) -> Any:
        content = None if body is None else json.dumps(body).encode()
        answer = over_http(fake, method, path, content, **kwargs)
        answers.append((method, route, answer))
        return answer.json() if answer.content else None

    created = call("POST", "/webhooks", "/webhooks", {"url": "https://hooks.example.com/x", "events": ["job.*"]})
    wid = created["webhook"]["id"]
    call("POST", "/webhooks", "/webhooks", {"url": "http://hooks.example.com/x"})
    call("GET", "/webhooks", "/webhooks")
    call("GET", f"/webhooks/{wid}", "/webhooks/{}")
    call("GET", "/webhooks/wh_01JBZQ4J9Q8X6Y2M3N4P5R6S7T", "/webhooks/{}")
    delivery = call("POST", f"/webhooks/{wid}/test", "/webhooks/{}/test", {})["delivery"]["id"]
    call("GET", f"/webhooks/{wid}/deliveries", "/webhooks/{}/deliveries", params={"limit": "5"})
    call("POST", f"/webhooks/{wid}/deliveries/{delivery}/replay", "/webhooks/{}/deliveries/{}/replay", {})
    call("GET", f"/webhooks/{wid}/deliveries", "/webhooks/{}/deliveries")
    call("POST", f"/webhooks/{wid}/rotate-secret", "/webhooks/{}/rotate-secret", {})
    call("POST", f"/webhooks/{wid}/enable", "/webhooks/{}/enable", {})
    call("DELETE", f"/webhooks/{wid}", "/webhooks/{}")

    paths = {template(path): operations for path, operations in document["paths"].items()}
    for method, route, answer in answers:
        responses = paths[route][method.lower()]["responses"]
        where = f"{method} {route} {answer.status_code}"
        assert str(answer.status_code) in responses, f"{where}: not a documented answer"
        if answer.status_code == 204:
            assert answer.content == b"", where
            continue
        schema = responses[str(answer.status_code)]["content"]["application/json"]["schema"]
        assert schema_problems(answer.json(), schema, document) == [], where
