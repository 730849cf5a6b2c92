"""The committed OpenAPI document, the token authorizer, tokens as `vodpipe/local/users.py` stores them."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest

from lambdas.api.openapi import OPENAPI_FILE, generate_openapi
from lambdas.auth.dynamodb import DynamoDBTokenStore
from lambdas.auth.policy import allow, api_wildcard_arn
from lambdas.auth.tokens import authenticate, bearer_token
from lambdas.handlers import _wiring as wiring
from lambdas.handlers import authorize
from tests.fakes.auth import InMemoryTokenStore
from tests.unit.api.conftest import Api
from vodpipe.local.users import create_token

METHOD_ARN = "arn:aws:execute-api:eu-west-1:123456789012:abc123/v1/GET/jobs/01ABC"


def test_the_committed_openapi_document_is_the_generated_one() -> None:
    assert OPENAPI_FILE.read_text() == generate_openapi(), "run: .venv/bin/python -m lambdas.api.openapi"


def test_the_document_is_served_without_a_token_and_lists_every_route(api: Api) -> None:
    answer = api.call("GET", "/openapi.json", user=None)
    assert answer.status == 200
    assert answer.body == json.loads(OPENAPI_FILE.read_text())
    operations = {(path, method) for path, item in answer.body["paths"].items() for method in item}
    assert operations == {
        ("/uploads", "post"),
        ("/uploads/{job_id}/parts", "get"),
        ("/uploads/{job_id}/parts", "post"),
        ("/uploads/{job_id}/complete", "post"),
        ("/uploads/{job_id}", "delete"),
        ("/jobs", "get"),
        ("/jobs/{job_id}", "get"),
        ("/jobs/{job_id}", "delete"),
        ("/jobs/{job_id}/retry", "post"),
        ("/jobs/{job_id}/events", "get"),
        ("/stats", "get"),
    }
    for item in answer.body["paths"].values():
        for operation in item.values():
            for code in ("401", "422"):
                schema = operation["responses"][code]["content"]["application/json"]["schema"]
                assert schema == {"$ref": "#/components/schemas/ErrorBody"}
    assert answer.body["security"] == [{"bearerAuth": []}]
    assert "execution_arn" not in answer.body["components"]["schemas"]["PublicJob"]["properties"]


# --- tokens and the authorizer -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "token"),
    [
        ("Bearer abcdefghijklmnop", "abcdefghijklmnop"),
        ("bearer   abcdefghijklmnop ", "abcdefghijklmnop"),
        ("Bearer short", None),
        ("Token abcdefghijklmnop", None),
        ("Bearer abc def ghi jkl mno", None),
        ("", None),
        (None, None),
    ],
)
def test_bearer_tokens_are_read_strictly(header: str | None, token: str | None) -> None:
    assert bearer_token(header) == token


def test_owners_that_are_not_path_safe_are_never_authenticated() -> None:
    tokens = InMemoryTokenStore()
    tokens.add("good-token-000000000", "alice")
    tokens.add("bad-token-0000000000", "../bob")
    assert authenticate(tokens, "Bearer good-token-000000000") == "alice"
    assert authenticate(tokens, "Bearer bad-token-0000000000") is None


def test_the_policy_covers_the_whole_stage_so_a_cached_answer_fits_every_route() -> None:
    assert api_wildcard_arn(METHOD_ARN) == "arn:aws:execute-api:eu-west-1:123456789012:abc123/v1/*"
    policy = allow(METHOD_ARN, "alice")
    assert policy["principalId"] == "alice"
    assert policy["context"] == {"owner": "alice"}
    assert policy["policyDocument"]["Statement"] == [
        {"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": api_wildcard_arn(METHOD_ARN)}
    ]
    with pytest.raises(ValueError, match="method ARN"):
        api_wildcard_arn("not-an-arn")


@dataclass
class FakeContext:
    function_name: str = "authorizer"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:000000000000:function:authorizer"
    aws_request_id: str = "req-1"


def test_the_authorizer_allows_known_tokens_and_refuses_others(monkeypatch: pytest.MonkeyPatch) -> None:
    tokens = InMemoryTokenStore()
    tokens.add("alice-token-0123456789", "alice")
    monkeypatch.setattr(wiring, "token_store", lambda: tokens)

    def event(header: str) -> dict[str, Any]:
        return {"type": "TOKEN", "authorizationToken": header, "methodArn": METHOD_ARN}

    answer = authorize.handler(event("Bearer alice-token-0123456789"), FakeContext())  # type: ignore[arg-type]
    assert answer == allow(METHOD_ARN, "alice")
    for header in ("Bearer someone-elses-token-000", "Basic abc", ""):
        with pytest.raises(authorize.Unauthorized, match=r"^Unauthorized$"):
            authorize.handler(event(header), FakeContext())  # type: ignore[arg-type]


class FakeDynamoDB:
    """put_item / get_item / delete_item over a dict, as much of DynamoDB as tokens need."""

    def __init__(self) -> None:
        self.items: dict[tuple[str, str], dict[str, Any]] = {}

    def put_item(self, TableName: str, Item: dict[str, Any], **_: Any) -> None:
        self.items[(Item["pk"]["S"], Item["sk"]["S"])] = Item

    def get_item(self, TableName: str, Key: dict[str, Any], **_: Any) -> dict[str, Any]:
        item = self.items.get((Key["pk"]["S"], Key["sk"]["S"]))
        return {"Item": item} if item else {}


def test_a_token_made_by_users_py_is_found_by_the_authorizers_store() -> None:
    client = FakeDynamoDB()
    token = create_token(client, "jobs", "alice")
    assert len(token) >= 40
    ((pk, sk),) = client.items
    assert pk.startswith("TOKEN#")
    assert token not in pk
    assert sk == "TOKEN"
    store = DynamoDBTokenStore(client, "jobs")  # type: ignore[arg-type]
    assert authenticate(store, f"Bearer {token}") == "alice"
    assert authenticate(store, f"Bearer {token}x") is None
    with pytest.raises(ValueError, match="owner"):
        create_token(client, "jobs", "alice/../bob")


def test_the_handler_serves_the_document_without_building_any_adapter(monkeypatch: pytest.MonkeyPatch) -> None:
    from lambdas.handlers import jobs_api

    def no_services() -> Any:
        raise AssertionError("a public route must not need the services")

    monkeypatch.setattr(jobs_api, "services", no_services)
    jobs_api.api.cache_clear()
    event: dict[str, Any] = {
        "resource": "/openapi.json",
        "path": "/openapi.json",
        "httpMethod": "GET",
        "headers": {},
        "body": None,
    }
    try:
        response = jobs_api.handler(event, FakeContext())
    finally:
        jobs_api.api.cache_clear()
    assert response["statusCode"] == 200
    assert json.loads(response["body"])["openapi"] == "3.1.0"
