"""TokenRegistry on the jobs table: per token, an item the authorizer reads by hash and one the admin tools list."""

# Items (beside the jobs' own, lambdas/jobs/schema.py):
#
#     pk                    sk                 attributes
#     TOKEN#<sha256 hex>    TOKEN              owner, role, max_priority, created_at, token_id
#     TOKENS                TOKEN#<token id>   owner, role, max_priority, created_at, token_hash
#
# The first is what the authorizer reads (GetItem by the hash of the bearer token); the second puts every token
# in one small partition that a Query lists without scanning the table, which holds every job. Neither carries
# index attributes, so tokens never appear in the jobs' indexes. Both are written in one transaction, each
# conditioned on being new, and revoking deletes both in one transaction. Only hashes are stored: a token
# cannot be read back. `token_id` is the first 16 hex digits of the hash (lambdas/auth/tokens.py).
#
# Items written before roles existed have no `role`, `max_priority` or listing item: they read as role "user"
# with no priority restriction, and are not listed (revoke them with the token itself: `revoke_token`).

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from lambdas.auth.identity import Identity
from lambdas.auth.ports import TokenExists, TokenNotFound, TokenRecord, TokenStoreUnavailable
from lambdas.auth.tokens import token_hash, token_id, token_id_of_hash
from lambdas.aws_errors import error_code
from lambdas.jobs.model import utc_iso

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

    from lambdas.auth.ports import TokenRegistry

TOKEN_PK_PREFIX = "TOKEN#"  # noqa: S105 - key prefixes, not secrets
TOKEN_SK = "TOKEN"  # noqa: S105
TOKENS_PK = "TOKENS"
LISTING_SK_PREFIX = "TOKEN#"
_CANCELLED = "TransactionCanceledException"


def hash_key(digest: str) -> dict[str, Any]:
    return {"pk": {"S": f"{TOKEN_PK_PREFIX}{digest}"}, "sk": {"S": TOKEN_SK}}


def token_key(token: str) -> dict[str, Any]:
    """The DynamoDB key of the item the authorizer reads for `token`."""
    return hash_key(token_hash(token))


def listing_key(token_id: str) -> dict[str, Any]:
    return {"pk": {"S": TOKENS_PK}, "sk": {"S": f"{LISTING_SK_PREFIX}{token_id}"}}


def _identity_attributes(identity: Identity, created_at: datetime) -> dict[str, Any]:
    attributes = {
        "owner": {"S": identity.owner},
        "role": {"S": identity.role.value},
        "max_priority": {"N": str(identity.max_priority)},
        "created_at": {"S": utc_iso(created_at)},
    }
    if identity.email:
        attributes["email"] = {"S": identity.email}
    return attributes


def _identity(item: dict[str, Any]) -> Identity | None:
    return Identity.from_values(
        _value(item, "owner"), _value(item, "role"), _value(item, "max_priority"), _value(item, "email")
    )


def _value(item: dict[str, Any], name: str) -> str | None:
    attribute = item.get(name) or {}
    value = attribute.get("S", attribute.get("N"))
    return value if isinstance(value, str) else None


def _record(item: dict[str, Any]) -> TokenRecord | None:
    identity = _identity(item)
    digest, created = _value(item, "token_hash"), _value(item, "created_at")
    if identity is None or digest is None or created is None:
        return None  # not one this module wrote: left out of the listing rather than failing it
    return TokenRecord.model_validate(
        {"token_id": token_id_of_hash(digest), "identity": identity, "created_at": created}
    )


def _cancelled_by_condition(error: ClientError) -> bool:
    reasons = error.response.get("CancellationReasons") or []
    return error_code(error) == _CANCELLED and any(r.get("Code") == "ConditionalCheckFailed" for r in reasons)


class DynamoDBTokenStore:
    def __init__(self, client: DynamoDBClient, table_name: str) -> None:
        self._client, self._table = client, table_name

    def identity_of(self, token: str) -> Identity | None:
        try:
            response = self._client.get_item(
                TableName=self._table,
                Key=token_key(token),
                ProjectionExpression="#o, #r, #p, #e",
                ExpressionAttributeNames={"#o": "owner", "#r": "role", "#p": "max_priority", "#e": "email"},
            )
        except ClientError as error:
            # Every failure, a missing table (ResourceNotFoundException) included, is the store's, not the token's:
            # the authorizer fails (API Gateway: 500) instead of refusing everyone (401) while it lasts.
            raise TokenStoreUnavailable(f"the token store did not answer: {error_code(error) or 'error'}") from error
        except BotoCoreError as error:
            raise TokenStoreUnavailable(f"the token store did not answer: {type(error).__name__}") from error
        item = response.get("Item")
        if not item:
            return None
        return _identity(item)

    # --- administration (the admin tools; the authorizer only reads) ----------------------------------

    def register(self, token: str, identity: Identity, created_at: datetime) -> TokenRecord:
        digest = token_hash(token)
        token_id = token_id_of_hash(digest)
        attributes = _identity_attributes(identity, created_at)
        new = "attribute_not_exists(pk)"
        try:
            self._client.transact_write_items(
                TransactItems=[
                    {
                        "Put": {
                            "TableName": self._table,
                            "Item": hash_key(digest) | attributes | {"token_id": {"S": token_id}},
                            "ConditionExpression": new,
                        }
                    },
                    {
                        "Put": {
                            "TableName": self._table,
                            "Item": listing_key(token_id) | attributes | {"token_hash": {"S": digest}},
                            "ConditionExpression": new,
                        }
                    },
                ]
            )
        except ClientError as error:
            if _cancelled_by_condition(error):
                raise TokenExists(f"token id {token_id} is taken") from None
            raise
        return TokenRecord(token_id=token_id, identity=identity, created_at=created_at)

    def tokens(self) -> list[TokenRecord]:
        records: list[TokenRecord] = []
        arguments: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": {":pk": {"S": TOKENS_PK}},
        }
        while True:
            page = self._client.query(**arguments)
            records += [r for r in map(_record, page.get("Items", [])) if r is not None]
            if not page.get("LastEvaluatedKey"):
                break
            arguments["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        return sorted(records, key=lambda r: (r.created_at, r.token_id))

    def revoke(self, token_id: str) -> TokenRecord:
        item = self._client.get_item(TableName=self._table, Key=listing_key(token_id), ConsistentRead=True).get("Item")
        record = _record(item) if item else None
        if item is None or record is None:
            raise TokenNotFound(token_id)
        digest = _value(item, "token_hash")
        assert digest is not None  # _record read it
        try:
            self._client.transact_write_items(
                TransactItems=[
                    {
                        "Delete": {
                            "TableName": self._table,
                            "Key": listing_key(token_id),
                            "ConditionExpression": "attribute_exists(pk)",
                        }
                    },
                    {"Delete": {"TableName": self._table, "Key": hash_key(digest)}},
                ]
            )
        except ClientError as error:
            if _cancelled_by_condition(error):
                raise TokenNotFound(token_id) from None  # revoked meanwhile
            raise
        return record

    def forget(self, token: str) -> None:
        """Remove a token by the token itself, listed or not (tokens made before listing existed)."""
        self._client.delete_item(TableName=self._table, Key=listing_key(token_id(token)))
        self._client.delete_item(TableName=self._table, Key=token_key(token))


if TYPE_CHECKING:

    def _implements_port(store: DynamoDBTokenStore) -> TokenRegistry:
        return store
