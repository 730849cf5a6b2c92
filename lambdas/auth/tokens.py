"""Bearer tokens: only their SHA-256 is stored, as `pk=TOKEN#<hex>, sk=TOKEN` items in the jobs table.

Item layout (written by `vodpipe/local/users.py` or any admin tool, read by the authorizer and, where
no authorizer ran, the API itself):

    pk = TOKEN#<sha256 hex of the token>    sk = TOKEN    owner = <user id>    created_at = <utc iso>

A token is an opaque random string (`secrets.token_urlsafe(32)`); the user is whatever `owner` says.
Owners are path segments of upload keys (`uploads/{owner}/…`), so they are restricted to OWNER_PATTERN.
"""

from __future__ import annotations

import hashlib
import re
from typing import TYPE_CHECKING, Protocol

from botocore.exceptions import ClientError

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

OWNER_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
TOKEN_SK = "TOKEN"  # noqa: S105 - the sort key of token items, not a secret
_BEARER = re.compile(r"^Bearer\s+(?P<token>[A-Za-z0-9._~+/=-]{16,512})\s*$", re.IGNORECASE)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def token_pk(token: str) -> str:
    return f"TOKEN#{token_hash(token)}"


def bearer_token(header: str | None) -> str | None:
    """The token in an `Authorization: Bearer <token>` header; None for anything else."""
    if not header:
        return None
    match = _BEARER.fullmatch(header.strip())
    return match["token"] if match else None


class TokenStore(Protocol):
    def owner_of(self, token: str) -> str | None:
        """The user a token belongs to; None if it is unknown."""
        ...


def authenticate(store: TokenStore, header: str | None) -> str | None:
    """The owner named by a bearer `Authorization` header, or None (missing, malformed or unknown)."""
    token = bearer_token(header)
    if token is None:
        return None
    owner = store.owner_of(token)
    return owner if owner is not None and re.fullmatch(OWNER_PATTERN, owner) else None


class DynamoDBTokenStore:
    def __init__(self, client: DynamoDBClient, table_name: str) -> None:
        self._client, self._table = client, table_name

    def owner_of(self, token: str) -> str | None:
        try:
            response = self._client.get_item(
                TableName=self._table,
                Key={"pk": {"S": token_pk(token)}, "sk": {"S": TOKEN_SK}},
                ProjectionExpression="#o",
                ExpressionAttributeNames={"#o": "owner"},
            )
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
                return None
            raise
        owner = response.get("Item", {}).get("owner", {}).get("S")
        return owner or None


class InMemoryTokenStore:
    """Tokens for unit tests: same lookups as the DynamoDB store."""

    def __init__(self) -> None:
        self._owners: dict[str, str] = {}

    def add(self, token: str, owner: str) -> None:
        self._owners[token_hash(token)] = owner

    def owner_of(self, token: str) -> str | None:
        return self._owners.get(token_hash(token))


if TYPE_CHECKING:

    def _implements_port(dynamodb: DynamoDBTokenStore, memory: InMemoryTokenStore) -> list[TokenStore]:
        return [dynamodb, memory]
