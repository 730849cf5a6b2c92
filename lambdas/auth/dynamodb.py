"""TokenStore on the jobs table: one `pk=TOKEN#<sha256 hex>, sk=TOKEN` item per token, naming its owner."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from lambdas.auth.tokens import token_hash

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

    from lambdas.auth.ports import TokenStore

# Items: pk = TOKEN#<sha256 hex of the token>, sk = TOKEN, owner = <user id>, created_at = <utc iso>.
# Written by vodpipe/local/users.py (or any admin tool); only the hash is stored, so a token cannot be read back.
TOKEN_SK = "TOKEN"  # noqa: S105 - the sort key of token items, not a secret


def token_key(token: str) -> dict[str, Any]:
    """The DynamoDB key of a token's item."""
    return {"pk": {"S": f"TOKEN#{token_hash(token)}"}, "sk": {"S": TOKEN_SK}}


class DynamoDBTokenStore:
    def __init__(self, client: DynamoDBClient, table_name: str) -> None:
        self._client, self._table = client, table_name

    def owner_of(self, token: str) -> str | None:
        try:
            response = self._client.get_item(
                TableName=self._table,
                Key=token_key(token),
                ProjectionExpression="#o",
                ExpressionAttributeNames={"#o": "owner"},
            )
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
                return None
            raise
        owner = response.get("Item", {}).get("owner", {}).get("S")
        return owner or None


if TYPE_CHECKING:

    def _implements_port(store: DynamoDBTokenStore) -> TokenStore:
        return store
