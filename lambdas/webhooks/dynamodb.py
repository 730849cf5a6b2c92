"""WebhookStore on the jobs table: endpoints in their owner's partition, deliveries in their endpoint's."""

# Items (beside the jobs' own, lambdas/jobs/schema.py):
#
#     pk                    sk                        attributes
#     OWNER#<owner>         WEBHOOK#<endpoint id>     one attribute per Endpoint field (secrets included); no TTL
#     WEBHOOK#<endpoint>    DELIVERY#<delivery id>    one attribute per Delivery field; expires_at = created + 30 days
#
# Neither carries index attributes, so both stay out of the jobs' indexes. Endpoints are few per owner and read
# together (a Query of the owner's partition, consistent); the feed reads their stream records for
# webhook.disabled. Delivery ids sort by the event's time, so a descending Query lists the newest first.
# Changes are whole-item puts conditioned on the stored `version` (and the endpoint's `status`); a failed
# condition is told apart by its code and the old item returned with it, never by the message.

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Iterator, Mapping
from datetime import timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from lambdas.aws_errors import SdkErrors, error_code
from lambdas.jobs import schema
from lambdas.jobs.dynamodb import Expression
from lambdas.jobs.items import epoch, from_wire, to_wire
from lambdas.jobs.ports import InvalidCursor, check_page_size
from lambdas.webhooks.model import DELIVERY_ID_PATTERN, ENDPOINT_ID_PATTERN, Delivery, Endpoint
from lambdas.webhooks.ports import (
    ConcurrentChange,
    DeliveryNotFound,
    EndpointNotFound,
    TooManyEndpoints,
    WebhooksUnavailable,
)

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

    from lambdas.webhooks.ports import WebhookStore

ENDPOINT_SK_PREFIX = schema.WEBHOOK_PREFIX
DELIVERY_PK_PREFIX = schema.WEBHOOK_PREFIX
DELIVERY_SK_PREFIX = schema.DELIVERY_SK_PREFIX
DELIVERY_RETENTION = timedelta(days=30)
_PK, _SK = schema.PARTITION_KEY, schema.SORT_KEY
_CONDITION_FAILED = "ConditionalCheckFailedException"
_ERRORS = SdkErrors[WebhooksUnavailable](transient=WebhooksUnavailable)
_INVALID = "cursor is not one this listing handed out"


def endpoint_key(owner: str, endpoint_id: str) -> dict[str, Any]:
    return {_PK: {"S": schema.owner_pk(owner)}, _SK: {"S": f"{ENDPOINT_SK_PREFIX}{endpoint_id}"}}


def delivery_pk(endpoint_id: str) -> str:
    return f"{DELIVERY_PK_PREFIX}{endpoint_id}"


def delivery_key(endpoint_id: str, delivery_id: str) -> dict[str, Any]:
    return {_PK: {"S": delivery_pk(endpoint_id)}, _SK: {"S": f"{DELIVERY_SK_PREFIX}{delivery_id}"}}


def _values(model: Endpoint | Delivery) -> dict[str, Any]:
    values: dict[str, Any] = json.loads(model.model_dump_json(exclude_none=True), parse_float=Decimal)
    return values


def endpoint_item(endpoint: Endpoint) -> dict[str, Any]:
    """The endpoint's item in wire format."""
    return endpoint_key(endpoint.owner, endpoint.endpoint_id) | to_wire(_values(endpoint))


def delivery_item(delivery: Delivery, retention: timedelta = DELIVERY_RETENTION) -> dict[str, Any]:
    values = _values(delivery) | {schema.TTL_ATTRIBUTE: epoch(delivery.created_at + retention)}
    return delivery_key(delivery.endpoint_id, delivery.delivery_id) | to_wire(values)


def _model_values(item: Mapping[str, Any]) -> dict[str, Any]:
    values = from_wire(item)
    for name in (_PK, _SK, schema.TTL_ATTRIBUTE):
        values.pop(name, None)
    return values


def endpoint_from_item(item: Mapping[str, Any]) -> Endpoint:
    """An endpoint item (wire format, as GetItem or a stream record's image has it) as the Endpoint it stores."""
    return Endpoint.model_validate(_model_values(item))


def delivery_from_item(item: Mapping[str, Any]) -> Delivery:
    return Delivery.model_validate(_model_values(item))


def encode_cursor(endpoint_id: str, delivery_id: str) -> str:
    """Where a page of an endpoint's deliveries ended: the last item's key, URL-safe base64 of its JSON."""
    key = {_PK: delivery_pk(endpoint_id), _SK: f"{DELIVERY_SK_PREFIX}{delivery_id}"}
    raw = json.dumps(key, separators=(",", ":"), sort_keys=True).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, endpoint_id: str) -> str:
    """The delivery id a page ended at, if `cursor` is a position in this endpoint's listing; else InvalidCursor."""
    try:
        value = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError) as error:
        raise InvalidCursor(_INVALID) from error
    if not (
        isinstance(value, dict)
        and value.keys() == {_PK, _SK}
        and value[_PK] == delivery_pk(endpoint_id)
        and isinstance(value[_SK], str)
        and value[_SK].startswith(DELIVERY_SK_PREFIX)
        and re.fullmatch(DELIVERY_ID_PATTERN, value[_SK].removeprefix(DELIVERY_SK_PREFIX))
    ):
        raise InvalidCursor(_INVALID)
    return str(value[_SK]).removeprefix(DELIVERY_SK_PREFIX)


def _condition_failed(error: ClientError) -> bool:
    return error_code(error) == _CONDITION_FAILED


def _old_item(error: ClientError) -> Mapping[str, Any] | None:
    response: Mapping[str, Any] = error.response  # the stubs do not declare the returned "Item"
    item = response.get("Item")
    return item or None


class DynamoDBWebhookStore:
    def __init__(
        self, client: DynamoDBClient, table_name: str, *, delivery_retention: timedelta = DELIVERY_RETENTION
    ) -> None:
        self._client, self._table = client, table_name
        self._retention = delivery_retention

    def _call(self, operation: str, **arguments: Any) -> dict[str, Any]:
        with _ERRORS.translated(f"{self._table} {operation}"):
            response: dict[str, Any] = getattr(self._client, operation)(TableName=self._table, **arguments)
        return response

    def _query(self, **arguments: Any) -> Iterator[dict[str, Any]]:
        while True:
            response = self._call("query", **arguments)
            yield from response.get("Items", [])
            last = response.get("LastEvaluatedKey")
            if not last:
                return
            arguments["ExclusiveStartKey"] = last

    def _get(self, key: dict[str, Any]) -> dict[str, Any] | None:
        item: dict[str, Any] | None = self._call("get_item", Key=key, ConsistentRead=True).get("Item")
        return item or None

    # --- endpoints --------------------------------------------------------------------------------

    def _count_endpoints(self, owner: str) -> int:
        expression = Expression()
        arguments: dict[str, Any] = {
            "KeyConditionExpression": (
                f"{expression.name(_PK)} = {expression.value(schema.owner_pk(owner))}"
                f" AND begins_with({expression.name(_SK)}, {expression.value(ENDPOINT_SK_PREFIX)})"
            ),
            "Select": "COUNT",
            "ConsistentRead": True,
            **expression.arguments(),
        }
        total = 0
        while True:
            page = self._call("query", **arguments)
            total += int(page.get("Count", 0))
            if not page.get("LastEvaluatedKey"):
                return total
            arguments["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def create_endpoint(self, endpoint: Endpoint, max_endpoints: int) -> None:
        if self._count_endpoints(endpoint.owner) >= max_endpoints:
            raise TooManyEndpoints(max_endpoints)
        try:
            self._call("put_item", Item=endpoint_item(endpoint), ConditionExpression=f"attribute_not_exists({_PK})")
        except ClientError as error:
            if _condition_failed(error):
                raise ConcurrentChange(f"webhook endpoint {endpoint.endpoint_id} exists already") from None
            raise

    def get_endpoint(self, owner: str, endpoint_id: str) -> Endpoint:
        if not re.fullmatch(ENDPOINT_ID_PATTERN, endpoint_id):
            raise EndpointNotFound(endpoint_id)  # cannot exist; and keeps arbitrary input out of key values
        item = self._get(endpoint_key(owner, endpoint_id))
        if item is None:
            raise EndpointNotFound(endpoint_id)
        return endpoint_from_item(item)

    def list_endpoints(self, owner: str) -> list[Endpoint]:
        expression = Expression()
        items = self._query(
            KeyConditionExpression=(
                f"{expression.name(_PK)} = {expression.value(schema.owner_pk(owner))}"
                f" AND begins_with({expression.name(_SK)}, {expression.value(ENDPOINT_SK_PREFIX)})"
            ),
            ConsistentRead=True,
            **expression.arguments(),
        )
        return [endpoint_from_item(item) for item in items]

    def delete_endpoint(self, owner: str, endpoint_id: str) -> None:
        if not re.fullmatch(ENDPOINT_ID_PATTERN, endpoint_id):
            raise EndpointNotFound(endpoint_id)
        try:
            self._call(
                "delete_item",
                Key=endpoint_key(owner, endpoint_id),
                ConditionExpression=f"attribute_exists({_PK})",
            )
        except ClientError as error:
            if _condition_failed(error):
                raise EndpointNotFound(endpoint_id) from None
            raise

    def save_endpoint(self, before: Endpoint, after: Endpoint) -> None:
        _check_successor(before, after)
        expression = Expression()
        condition = (
            f"{expression.name('version')} = {expression.value(before.version)}"
            f" AND {expression.name('status')} = {expression.value(str(before.status))}"
        )
        key = endpoint_key(before.owner, before.endpoint_id)
        if not self._put_if(endpoint_item(after), condition, expression, key, f"webhook endpoint {before.endpoint_id}"):
            raise EndpointNotFound(before.endpoint_id)

    def _put_if(
        self, item: dict[str, Any], condition: str, expression: Expression, key: dict[str, Any], what: str
    ) -> bool:
        """Put `item` over the stored one if `condition` holds: False if there is none, ConcurrentChange (naming
        `what`) if it moved."""
        try:
            self._call(
                "put_item",
                Item=item,
                ConditionExpression=condition,
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
                **expression.arguments(),
            )
        except ClientError as error:
            if not _condition_failed(error):
                raise
            if _old_item(error) is None and self._get(key) is None:
                return False
            raise ConcurrentChange(f"{what} changed meanwhile") from None
        return True

    # --- deliveries -------------------------------------------------------------------------------

    def put_delivery_if_absent(self, delivery: Delivery) -> bool:
        try:
            self._call(
                "put_item",
                Item=delivery_item(delivery, self._retention),
                ConditionExpression=f"attribute_not_exists({_PK})",
            )
        except ClientError as error:
            if _condition_failed(error):
                return False
            raise
        return True

    def get_delivery(self, endpoint_id: str, delivery_id: str) -> Delivery:
        if not (re.fullmatch(ENDPOINT_ID_PATTERN, endpoint_id) and re.fullmatch(DELIVERY_ID_PATTERN, delivery_id)):
            raise DeliveryNotFound(delivery_id)
        item = self._get(delivery_key(endpoint_id, delivery_id))
        if item is None:
            raise DeliveryNotFound(delivery_id)
        return delivery_from_item(item)

    def save_delivery(self, delivery: Delivery, before: Delivery | None = None) -> None:
        expression = Expression()
        if before is None:
            condition = f"attribute_exists({expression.name(_PK)})"
        else:
            _check_successor(before, delivery)
            condition = f"{expression.name('version')} = {expression.value(before.version)}"
        key = delivery_key(delivery.endpoint_id, delivery.delivery_id)
        item = delivery_item(delivery, self._retention)
        if not self._put_if(item, condition, expression, key, f"webhook delivery {delivery.delivery_id}"):
            raise DeliveryNotFound(delivery.delivery_id)

    def delete_delivery(self, delivery: Delivery) -> None:
        expression = Expression()
        try:
            self._call(
                "delete_item",
                Key=delivery_key(delivery.endpoint_id, delivery.delivery_id),
                ConditionExpression=f"{expression.name('version')} = {expression.value(delivery.version)}",
                **expression.arguments(),
            )
        except ClientError as error:
            if not _condition_failed(error):
                raise
            # Changed since (a sender got to it after all) or gone already: either way not ours to remove.

    def list_deliveries(
        self, endpoint_id: str, limit: int = 20, cursor: str | None = None
    ) -> tuple[list[Delivery], str | None]:
        check_page_size(limit)
        after = decode_cursor(cursor, endpoint_id) if cursor is not None else None
        if not re.fullmatch(ENDPOINT_ID_PATTERN, endpoint_id):
            return [], None
        expression = Expression()
        arguments: dict[str, Any] = {
            "KeyConditionExpression": (
                f"{expression.name(_PK)} = {expression.value(delivery_pk(endpoint_id))}"
                f" AND begins_with({expression.name(_SK)}, {expression.value(DELIVERY_SK_PREFIX)})"
            ),
            "ScanIndexForward": False,
            "ConsistentRead": True,
            # One more than asked: whether a next page exists is then known, not guessed.
            "Limit": limit + 1,
            **expression.arguments(),
        }
        if after is not None:
            arguments["ExclusiveStartKey"] = delivery_key(endpoint_id, after)
        items: list[dict[str, Any]] = []
        for item in self._query(**arguments):
            items.append(item)
            if len(items) > limit:
                page = [delivery_from_item(i) for i in items[:limit]]
                return page, encode_cursor(endpoint_id, page[-1].delivery_id)
        return [delivery_from_item(i) for i in items], None


def _check_successor(before: Endpoint | Delivery, after: Endpoint | Delivery) -> None:
    same = before.model_dump(include={"endpoint_id", "owner", "delivery_id"}) == after.model_dump(
        include={"endpoint_id", "owner", "delivery_id"}
    ) and type(before) is type(after)
    if not same or after.version != before.version + 1:
        raise ValueError("save the next version of the same item: after = before.revised(...)")


if TYPE_CHECKING:

    def _implements_port(store: DynamoDBWebhookStore) -> WebhookStore:
        return store
