"""The committed OpenAPI document, the token authorizer, tokens as `vodpipe/local/users.py` stores them."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest
from botocore.exceptions import ClientError

from lambdas.api.openapi import OPENAPI_FILE, generate_openapi
from lambdas.auth.dynamodb import DynamoDBTokenStore, token_key
from lambdas.auth.identity import Identity, Role
from lambdas.auth.policy import allow, api_wildcard_arn
from lambdas.auth.tokens import authenticate, bearer_token, token_hash, token_id
from lambdas.handlers import _wiring as wiring
from lambdas.handlers import authorize
from lambdas.settings import get_settings
from tests.fakes.auth import InMemoryTokenStore
from tests.unit.api.conftest import Api
from vodpipe.local.users import create_token, revoke_token

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
        ("/jobs/{job_id}/clips", "post"),
        ("/jobs/{job_id}/events", "get"),
        ("/jobs/{job_id}/downloads", "get"),
        ("/jobs/{job_id}/downloads/{name}", "get"),
        ("/presets", "get"),
        ("/jobs/{job_id}/captions", "post"),
        ("/jobs/{job_id}/captions", "get"),
        ("/jobs/{job_id}/captions/{caption_id}/complete", "post"),
        ("/jobs/{job_id}/captions/{caption_id}", "delete"),
        ("/stats", "get"),
        ("/jobs/{job_id}", "patch"),
        ("/admin/queue", "get"),
        ("/health", "get"),
        ("/webhooks", "post"),
        ("/webhooks", "get"),
        ("/webhooks/{endpoint_id}", "get"),
        ("/webhooks/{endpoint_id}", "delete"),
        ("/webhooks/{endpoint_id}/rotate-secret", "post"),
        ("/webhooks/{endpoint_id}/enable", "post"),
        ("/webhooks/{endpoint_id}/test", "post"),
        ("/webhooks/{endpoint_id}/deliveries", "get"),
        ("/webhooks/{endpoint_id}/deliveries/{delivery_id}/replay", "post"),
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
    assert authenticate(tokens, "Bearer good-token-000000000") == Identity(owner="alice")
    assert authenticate(tokens, "Bearer bad-token-0000000000") is None


def test_the_policy_covers_the_whole_stage_so_a_cached_answer_fits_every_route() -> None:
    assert api_wildcard_arn(METHOD_ARN) == "arn:aws:execute-api:eu-west-1:123456789012:abc123/v1/*"
    policy = allow(METHOD_ARN, Identity(owner="alice", role=Role.ADMIN, max_priority=3))
    assert policy["principalId"] == "alice"
    # API Gateway allows strings, numbers and booleans in the context (and passes them on as strings).
    assert policy["context"] == {"owner": "alice", "role": "admin", "max_priority": 3}
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
    tokens.add("carol-token-0123456789", "carol", max_priority=4)
    monkeypatch.setattr(wiring, "token_store", lambda: tokens)

    def event(header: str) -> dict[str, Any]:
        return {"type": "TOKEN", "authorizationToken": header, "methodArn": METHOD_ARN}

    answer = authorize.handler(event("Bearer alice-token-0123456789"), FakeContext())  # type: ignore[arg-type]
    assert answer == allow(METHOD_ARN, Identity(owner="alice"))
    assert answer["context"] == {"owner": "alice", "role": "user", "max_priority": 1}
    tiered = authorize.handler(event("Bearer carol-token-0123456789"), FakeContext())  # type: ignore[arg-type]
    assert tiered["context"] == {"owner": "carol", "role": "user", "max_priority": 4}
    for header in ("Bearer someone-elses-token-000", "Basic abc", ""):
        with pytest.raises(authorize.Unauthorized, match=r"^Unauthorized$"):
            authorize.handler(event(header), FakeContext())  # type: ignore[arg-type]


class FakeDynamoDB:
    """Items in a dict, as much of DynamoDB as tokens need: put, get, delete, a transaction of puts (each new) and
    deletes, a query of one partition."""

    def __init__(self) -> None:
        self.items: dict[tuple[str, str], dict[str, Any]] = {}

    @staticmethod
    def _key(key: dict[str, Any]) -> tuple[str, str]:
        return key["pk"]["S"], key["sk"]["S"]

    def put_item(self, TableName: str, Item: dict[str, Any], **_: Any) -> None:
        self.items[self._key(Item)] = Item

    def get_item(self, TableName: str, Key: dict[str, Any], **_: Any) -> dict[str, Any]:
        item = self.items.get(self._key(Key))
        return {"Item": item} if item else {}

    def delete_item(self, TableName: str, Key: dict[str, Any], **_: Any) -> None:
        self.items.pop(self._key(Key), None)

    def transact_write_items(self, TransactItems: list[dict[str, Any]]) -> None:
        # The conditions token items carry: a Put only of a new item, a conditioned Delete only of one that exists.
        failed = [
            ("Put" in action and self._key(action["Put"]["Item"]) in self.items)
            or (
                "ConditionExpression" in action.get("Delete", {})
                and self._key(action["Delete"]["Key"]) not in self.items
            )
            for action in TransactItems
        ]
        if any(failed):
            raise ClientError(
                {
                    "Error": {"Code": "TransactionCanceledException", "Message": "Transaction cancelled"},
                    "CancellationReasons": [{"Code": "ConditionalCheckFailed" if f else "None"} for f in failed],
                },
                "TransactWriteItems",
            )
        for action in TransactItems:
            if "Put" in action:
                self.put_item(**action["Put"])
            else:
                self.delete_item(TableName=action["Delete"]["TableName"], Key=action["Delete"]["Key"])

    def query(self, ExpressionAttributeValues: dict[str, Any], **_: Any) -> dict[str, Any]:
        partition = ExpressionAttributeValues[":pk"]["S"]
        return {"Items": [item for (pk, _), item in sorted(self.items.items()) if pk == partition]}


def test_a_token_made_by_users_py_is_found_by_the_authorizers_store() -> None:
    client = FakeDynamoDB()
    token = create_token(client, "jobs", "alice")
    admin = create_token(client, "jobs", "ops", role="admin", max_priority=2)
    assert len(token) >= 40
    keys = {pk for pk, _ in client.items}
    assert keys == {f"TOKEN#{token_hash(token)}", f"TOKEN#{token_hash(admin)}", "TOKENS"}
    assert not any(token in repr(item) for item in client.items.values())
    store = DynamoDBTokenStore(client, "jobs")  # type: ignore[arg-type]
    assert authenticate(store, f"Bearer {token}") == Identity(owner="alice")
    assert authenticate(store, f"Bearer {admin}") == Identity(owner="ops", role=Role.ADMIN, max_priority=2)
    assert authenticate(store, f"Bearer {token}x") is None
    assert [(r.token_id, r.identity.owner) for r in store.tokens()] == sorted(
        [(token_id(token), "alice"), (token_id(admin), "ops")], key=lambda pair: pair[1]
    )
    with pytest.raises(ValueError, match="owner"):
        create_token(client, "jobs", "alice/../bob")

    revoke_token(client, "jobs", token)
    assert authenticate(store, f"Bearer {token}") is None
    assert [r.identity.owner for r in store.tokens()] == ["ops"]
    store.revoke(token_id(admin))
    assert client.items == {}


def test_a_token_item_from_before_roles_is_a_user_without_a_tier() -> None:
    client = FakeDynamoDB()
    old = "old-token-0123456789abcdef"
    client.put_item(
        TableName="jobs", Item=token_key(old) | {"owner": {"S": "alice"}, "created_at": {"S": "2025-01-01T00:00:00Z"}}
    )
    store = DynamoDBTokenStore(client, "jobs")  # type: ignore[arg-type]
    assert store.identity_of(old) == Identity(owner="alice", role=Role.USER, max_priority=1)
    assert store.tokens() == []  # not listed: it has no listing item
    revoke_token(client, "jobs", old)
    assert store.identity_of(old) is None


def test_the_handler_serves_the_document_without_building_any_adapter(monkeypatch: pytest.MonkeyPatch) -> None:
    from lambdas.handlers import jobs_api

    def no_services() -> Any:
        raise AssertionError("a public route must not need the services")

    monkeypatch.setattr(jobs_api, "services", no_services)
    # The settings every deployment sets (the CORS origins are read from them when the routes are built).
    for name, value in {"JOBS_TABLE": "jobs", "UPLOADS_BUCKET": "uploads", "OUTPUTS_BUCKET": "outputs"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("PLAYBACK_BASE_URL", "https://cdn.example")
    monkeypatch.setenv("CORS_ALLOWED_ORIGINS", "https://app.example")
    get_settings.cache_clear()
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
        get_settings.cache_clear()
    assert response["statusCode"] == 200
    assert json.loads(response["body"])["openapi"] == "3.1.0"
