"""API credentials for a deployment: a token per user, shown once here; the jobs table keeps only its hash."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from lambdas.auth.dynamodb import token_key
from lambdas.auth.tokens import OWNER_PATTERN, new_token


def create_token(dynamodb_client: Any, table: str, owner: str) -> str:
    """A new token for `owner` (a user id: letters, digits, `.`, `_`, `-`; it names their upload prefix)."""
    if not re.fullmatch(OWNER_PATTERN, owner):
        raise ValueError(f"owner {owner!r} must match {OWNER_PATTERN}")
    token = new_token()
    created = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    dynamodb_client.put_item(
        TableName=table,
        Item=token_key(token) | {"owner": {"S": owner}, "created_at": {"S": created}},
        ConditionExpression="attribute_not_exists(pk)",
    )
    return token


def revoke_token(dynamodb_client: Any, table: str, token: str) -> None:
    dynamodb_client.delete_item(TableName=table, Key=token_key(token))
