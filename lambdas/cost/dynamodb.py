"""UsageLedger on the jobs table: one string-set attribute of the job item, `usage`, one element per invocation.

One atomic `ADD` per invocation (a set: a repeated write of the same request adds nothing). It does not add to the
job's `revision`: nothing a user sees changes (the job view leaves it out, lambdas/jobs/items.py drops it on read),
so long-polls are not woken and the feed derives no event from it (tests/unit/cost/test_feed.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from lambdas.aws_errors import error_code
from lambdas.cost.usage import Invocation
from lambdas.jobs import schema
from lambdas.jobs.items import job_key

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient


class DynamoDBUsageLedger:
    def __init__(self, client: DynamoDBClient, table_name: str) -> None:
        self._client = client
        self._table = table_name

    def add(self, job_id: str, invocation: Invocation) -> None:
        try:
            self._client.update_item(
                TableName=self._table,
                Key=job_key(job_id),
                UpdateExpression="ADD #usage :record",
                ConditionExpression="attribute_exists(#pk)",
                ExpressionAttributeNames={"#usage": schema.USAGE_ATTRIBUTE, "#pk": schema.PARTITION_KEY},
                ExpressionAttributeValues={":record": {"SS": [invocation.encode()]}},
            )
        except ClientError as error:
            if error_code(error) != "ConditionalCheckFailedException":
                raise

    def invocations(self, job_id: str) -> tuple[Invocation, ...]:
        response: Any = self._client.get_item(
            TableName=self._table,
            Key=job_key(job_id),
            ProjectionExpression="#usage",
            ExpressionAttributeNames={"#usage": schema.USAGE_ATTRIBUTE},
            ConsistentRead=True,
        )
        records = response.get("Item", {}).get(schema.USAGE_ATTRIBUTE, {}).get("SS", [])
        return tuple(sorted((Invocation.decode(text) for text in records), key=lambda i: i.request_id))
