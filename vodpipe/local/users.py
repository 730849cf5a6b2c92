"""API credentials for a deployment: a random bearer token per user, stored as its SHA-256 in the jobs table.

The item layout is the one the authorizer reads (lambdas/auth/tokens.py); only the hash is stored, so the
token is shown once, here, and cannot be read back.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from datetime import UTC, datetime
from typing import Any

OWNER_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"  # the same rule as lambdas.auth.tokens.OWNER_PATTERN


def create_token(dynamodb_client: Any, table: str, owner: str) -> str:
    """A new token for `owner` (a user id: letters, digits, `.`, `_`, `-`; it names their upload prefix)."""
    if not re.fullmatch(OWNER_PATTERN, owner):
        raise ValueError(f"owner {owner!r} must match {OWNER_PATTERN}")
    token = secrets.token_urlsafe(32)
    digest = hashlib.sha256(token.encode()).hexdigest()
    created = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    dynamodb_client.put_item(
        TableName=table,
        Item={
            "pk": {"S": f"TOKEN#{digest}"},
            "sk": {"S": "TOKEN"},
            "owner": {"S": owner},
            "created_at": {"S": created},
        },
        ConditionExpression="attribute_not_exists(pk)",
    )
    return token


def revoke_token(dynamodb_client: Any, table: str, token: str) -> None:
    digest = hashlib.sha256(token.encode()).hexdigest()
    dynamodb_client.delete_item(TableName=table, Key={"pk": {"S": f"TOKEN#{digest}"}, "sk": {"S": "TOKEN"}})
