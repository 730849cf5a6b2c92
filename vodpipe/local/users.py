"""API credentials for a deployment: a token per user, shown once here; the jobs table keeps only its hash."""

from __future__ import annotations

from typing import Any

from lambdas.auth.dynamodb import DynamoDBTokenStore
from lambdas.auth.identity import Role
from lambdas.queue.order import HIGHEST
from vodpipe.admin.tokens import issue_token


def create_token(
    dynamodb_client: Any,
    table: str,
    owner: str,
    *,
    role: Role | str = Role.USER,
    max_priority: int = HIGHEST,
    email: str | None = None,
) -> str:
    """A new token for `owner` (a user id: letters, digits, `.`, `_`, `-`; it names their upload prefix), whose job
    completion and failure emails go to `email` (none without)."""
    store = DynamoDBTokenStore(dynamodb_client, table)
    return issue_token(store, owner, role=role, max_priority=max_priority, email=email).token


def revoke_token(dynamodb_client: Any, table: str, token: str) -> None:
    DynamoDBTokenStore(dynamodb_client, table).forget(token)
