"""DynamoDB features the pipeline relies on, on the local runtime (DynamoDB Local or the moto provider)."""

import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

GSI = "by-status"


@pytest.fixture(scope="module")
def ddb(aws_client: Callable[[str], Any]) -> Any:
    return aws_client("dynamodb")


@pytest.fixture(scope="module")
def table(ddb: Any) -> Iterator[str]:
    """A jobs-like table: pk/sk, a GSI on status + updated_at, TTL on expires_at."""
    name = f"vodpipe-test-{uuid.uuid4().hex[:12]}"
    ddb.create_table(
        TableName=name,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
            {"AttributeName": "status", "AttributeType": "S"},
            {"AttributeName": "updated_at", "AttributeType": "N"},
        ],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        GlobalSecondaryIndexes=[
            {
                "IndexName": GSI,
                "KeySchema": [
                    {"AttributeName": "status", "KeyType": "HASH"},
                    {"AttributeName": "updated_at", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
    )
    ddb.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 0.2, "MaxAttempts": 100})
    try:
        yield name
    finally:
        ddb.delete_table(TableName=name)
        ddb.get_waiter("table_not_exists").wait(TableName=name, WaiterConfig={"Delay": 0.2, "MaxAttempts": 100})


def new_key() -> dict[str, Any]:
    return {"pk": {"S": f"job#{uuid.uuid4().hex}"}, "sk": {"S": "meta"}}


def wait_for(check: Callable[[], Any], timeout: float = 10.0, interval: float = 0.1) -> Any:
    """Poll until check() returns something truthy (GSIs are eventually consistent on AWS)."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result or time.monotonic() >= deadline:
            return result
        time.sleep(interval)


def error_code(exc: ClientError) -> str:
    return exc.response["Error"]["Code"]


def test_table_has_gsi_and_ttl(ddb: Any, table: str) -> None:
    described = ddb.describe_table(TableName=table)["Table"]
    assert [index["IndexName"] for index in described["GlobalSecondaryIndexes"]] == [GSI]

    updated = ddb.update_time_to_live(
        TableName=table, TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires_at"}
    )
    assert updated["TimeToLiveSpecification"] == {"Enabled": True, "AttributeName": "expires_at"}

    ttl = ddb.describe_time_to_live(TableName=table)["TimeToLiveDescription"]
    assert ttl["TimeToLiveStatus"] in {"ENABLED", "ENABLING"}
    assert ttl["AttributeName"] == "expires_at"


def test_conditional_put_is_rejected_when_item_exists(ddb: Any, table: str) -> None:
    key = new_key()
    item = {**key, "status": {"S": "SUBMITTED"}, "updated_at": {"N": "1"}}
    ddb.put_item(TableName=table, Item=item, ConditionExpression="attribute_not_exists(pk)")

    with pytest.raises(ClientError) as excinfo:
        ddb.put_item(
            TableName=table,
            Item={**item, "status": {"S": "OVERWRITTEN"}},
            ConditionExpression="attribute_not_exists(pk)",
        )

    assert error_code(excinfo.value) == "ConditionalCheckFailedException"
    stored = ddb.get_item(TableName=table, Key=key, ConsistentRead=True)["Item"]
    assert stored["status"] == {"S": "SUBMITTED"}


def test_set_add_remove_update_expressions(ddb: Any, table: str) -> None:
    key = new_key()
    ddb.put_item(
        TableName=table,
        Item={
            **key,
            "status": {"S": "SUBMITTED"},
            "updated_at": {"N": "1"},
            "attempts": {"N": "1"},
            "renditions": {"SS": ["1080p"]},
            "lease_owner": {"S": "worker-1"},
        },
    )

    ddb.update_item(
        TableName=table,
        Key=key,
        UpdateExpression=(
            "SET #status = :status, updated_at = :now, outputs = :outputs "
            "ADD attempts :one, renditions :more "
            "REMOVE lease_owner"
        ),
        ConditionExpression="#status = :expected",
        ExpressionAttributeNames={"#status": "status"},
        ExpressionAttributeValues={
            ":status": {"S": "TRANSCODING"},
            ":expected": {"S": "SUBMITTED"},
            ":now": {"N": "2"},
            ":outputs": {"M": {"hls": {"S": "outputs/x/master.m3u8"}}},
            ":one": {"N": "1"},
            ":more": {"SS": ["720p", "480p"]},
        },
    )

    item = ddb.get_item(TableName=table, Key=key, ConsistentRead=True)["Item"]
    assert item["status"] == {"S": "TRANSCODING"}
    assert item["updated_at"] == {"N": "2"}
    assert item["attempts"] == {"N": "2"}
    assert sorted(item["renditions"]["SS"]) == ["1080p", "480p", "720p"]
    assert item["outputs"] == {"M": {"hls": {"S": "outputs/x/master.m3u8"}}}
    assert "lease_owner" not in item


def test_query_gsi_with_key_condition(ddb: Any, table: str) -> None:
    status = f"QUEUED-{uuid.uuid4().hex[:8]}"  # a partition of our own on the shared table
    keys = []
    for updated_at in (30, 10, 20, 40):
        key = new_key()
        keys.append(key)
        ddb.put_item(TableName=table, Item={**key, "status": {"S": status}, "updated_at": {"N": str(updated_at)}})

    def query() -> list[dict[str, Any]]:
        items = ddb.query(
            TableName=table,
            IndexName=GSI,
            KeyConditionExpression="#status = :status AND updated_at BETWEEN :low AND :high",
            ExpressionAttributeNames={"#status": "status"},
            ExpressionAttributeValues={":status": {"S": status}, ":low": {"N": "15"}, ":high": {"N": "40"}},
            ScanIndexForward=False,
        )["Items"]
        return items if len(items) == 3 else []

    items = wait_for(query)
    assert [item["updated_at"]["N"] for item in items] == ["40", "30", "20"]
    assert {item["pk"]["S"] for item in items} <= {key["pk"]["S"] for key in keys}


def test_transact_write_items_is_all_or_nothing(ddb: Any, table: str) -> None:
    job, rendition, missing = new_key(), new_key(), new_key()
    ddb.put_item(TableName=table, Item={**job, "status": {"S": "TRANSCODING"}, "updated_at": {"N": "1"}})

    ddb.transact_write_items(
        TransactItems=[
            {
                "Update": {
                    "TableName": table,
                    "Key": job,
                    "UpdateExpression": "SET #status = :done ADD done_renditions :one",
                    "ConditionExpression": "#status = :transcoding",
                    "ExpressionAttributeNames": {"#status": "status"},
                    "ExpressionAttributeValues": {
                        ":done": {"S": "PACKAGING"},
                        ":transcoding": {"S": "TRANSCODING"},
                        ":one": {"N": "1"},
                    },
                }
            },
            {
                "Put": {
                    "TableName": table,
                    "Item": {**rendition, "status": {"S": "DONE"}, "updated_at": {"N": "2"}},
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            },
        ]
    )
    assert ddb.get_item(TableName=table, Key=job, ConsistentRead=True)["Item"]["status"] == {"S": "PACKAGING"}
    assert "Item" in ddb.get_item(TableName=table, Key=rendition, ConsistentRead=True)

    with pytest.raises(ClientError) as excinfo:
        ddb.transact_write_items(
            TransactItems=[
                {
                    "Put": {
                        "TableName": table,
                        "Item": {**missing, "status": {"S": "DONE"}, "updated_at": {"N": "3"}},
                    }
                },
                {
                    "ConditionCheck": {
                        "TableName": table,
                        "Key": job,
                        "ConditionExpression": "#status = :transcoding",
                        "ExpressionAttributeNames": {"#status": "status"},
                        "ExpressionAttributeValues": {":transcoding": {"S": "TRANSCODING"}},
                    }
                },
            ]
        )

    assert error_code(excinfo.value) == "TransactionCanceledException"
    reasons = [reason["Code"] for reason in excinfo.value.response["CancellationReasons"]]
    assert reasons == ["None", "ConditionalCheckFailed"]
    assert "Item" not in ddb.get_item(TableName=table, Key=missing, ConsistentRead=True)
