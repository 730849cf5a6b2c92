"""One DynamoDB Streams record of the jobs table as a typed `Change`: the kind of item, its images before and after."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from boto3.dynamodb.types import TypeDeserializer

from lambdas.jobs import schema

# Webhook endpoints share the jobs table (pk OWNER#<owner>, sk WEBHOOK#<endpoint id>; lambdas/webhooks).
WEBHOOK_SK_PREFIX = schema.WEBHOOK_PREFIX
# What an endpoint shows of itself; never its `secrets`.
ENDPOINT_PUBLIC_ATTRIBUTES = ("status", "url", "events", "description", "disabled_reason", "created_at")

# An item as boto3's TypeDeserializer reads it: numbers are Decimal, sets are sets.
type Item = dict[str, Any]

_deserializer = TypeDeserializer()


class MalformedRecord(ValueError):
    """Not a DynamoDB Streams record of the jobs table (no keys, an unknown eventName)."""


class Operation(StrEnum):
    INSERT = "INSERT"
    MODIFY = "MODIFY"
    REMOVE = "REMOVE"


class ItemKind(StrEnum):
    JOB = "job"  # JOB#<id> / JOB
    LOG_ENTRY = "log_entry"  # JOB#<id> / EVENT#<time>#<seq>: one JobEvent
    WEBHOOK_ENDPOINT = "webhook_endpoint"  # OWNER#<owner> / WEBHOOK#<endpoint id>
    OTHER = "other"  # work items, counters, quotas, tokens, deliveries…


@dataclass(frozen=True)
class Change:
    """One write of one item, as the stream saw it."""

    operation: Operation
    kind: ItemKind
    pk: str
    sk: str
    old: Item | None  # None on INSERT
    new: Item | None  # None on REMOVE
    sequence_number: str  # the record's id in the stream (and a batch item failure's itemIdentifier)
    approximate_time: datetime | None

    @property
    def job_id(self) -> str | None:
        if self.kind in (ItemKind.JOB, ItemKind.LOG_ENTRY):
            return self.pk.removeprefix(schema.JOB_PK_PREFIX)
        return None

    @property
    def endpoint_id(self) -> str | None:
        return self.sk.removeprefix(WEBHOOK_SK_PREFIX) if self.kind is ItemKind.WEBHOOK_ENDPOINT else None

    @property
    def owner(self) -> str | None:
        """The endpoint's owner (a job's owner is in its image)."""
        return self.pk.removeprefix(schema.OWNER_PREFIX) if self.kind is ItemKind.WEBHOOK_ENDPOINT else None


def item_kind(pk: str, sk: str) -> ItemKind:
    if pk.startswith(schema.JOB_PK_PREFIX):
        if sk == schema.JOB_SK:
            return ItemKind.JOB
        if sk.startswith(schema.EVENT_SK_PREFIX):
            return ItemKind.LOG_ENTRY
    elif pk.startswith(schema.OWNER_PREFIX) and sk.startswith(WEBHOOK_SK_PREFIX):
        return ItemKind.WEBHOOK_ENDPOINT
    return ItemKind.OTHER


def wire_value(value: Any) -> Any:
    """A stream image's attribute value as DynamoDB's wire format has it. A bare `{}` is read as an empty map:
    no valid attribute value is an empty object, and LocalStack's v2 stream images write an empty map so (the
    item itself, read with GetItem, holds `{"M": {}}`); every other value is passed through."""
    if isinstance(value, Mapping):
        if not value:
            return {"M": {}}
        if "M" in value and isinstance(value["M"], Mapping):
            return {"M": {name: wire_value(v) for name, v in value["M"].items()}}
        if "L" in value and isinstance(value["L"], list):
            return {"L": [wire_value(v) for v in value["L"]]}
    return value


def deserialize(image: Mapping[str, Any]) -> Item:
    return {name: _deserializer.deserialize(wire_value(value)) for name, value in image.items()}


def parse_record(record: Mapping[str, Any]) -> Change:
    """A Lambda event source mapping's DynamoDB Streams record (one of `event["Records"]`) as a Change."""
    try:
        operation = Operation(record["eventName"])
        stream = record["dynamodb"]
        keys = deserialize(stream["Keys"])
        pk, sk = str(keys[schema.PARTITION_KEY]), str(keys[schema.SORT_KEY])
        sequence_number = str(stream["SequenceNumber"])
    except (KeyError, TypeError, ValueError) as error:
        raise MalformedRecord(f"not a jobs-table stream record: {error!r}") from error
    old, new = stream.get("OldImage"), stream.get("NewImage")
    return Change(
        operation=operation,
        kind=item_kind(pk, sk),
        pk=pk,
        sk=sk,
        old=deserialize(old) if old is not None and operation is not Operation.INSERT else None,
        new=deserialize(new) if new is not None and operation is not Operation.REMOVE else None,
        sequence_number=sequence_number,
        approximate_time=_approximate_time(stream.get("ApproximateCreationDateTime")),
    )


def _approximate_time(value: Any) -> datetime | None:
    # Epoch seconds in Lambda's records; the DynamoDB Streams API itself (boto3) gives a datetime.
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.astimezone(UTC)
    return datetime.fromtimestamp(float(value), UTC)


def plain(value: Any) -> Any:
    """A deserialized value as JSON has it: Decimal as int or float, sets as sorted lists."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, Mapping):
        return {str(key): plain(inner) for key, inner in value.items()}
    if isinstance(value, set | frozenset):
        return sorted(plain(inner) for inner in value)
    if isinstance(value, list | tuple):
        return [plain(inner) for inner in value]
    return value


def endpoint_view(endpoint_id: str, item: Mapping[str, Any]) -> dict[str, Any]:
    """A webhook endpoint as its owner sees it: its id and public attributes, never its secrets."""
    return {"id": endpoint_id} | {name: plain(item.get(name)) for name in ENDPOINT_PUBLIC_ATTRIBUTES}
