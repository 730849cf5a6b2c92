"""QuotaStore on the jobs table: per-owner hourly upload counters, the waiting-jobs index, refusal counters."""

# Items (beside the jobs' own, lambdas/jobs/schema.py):
#
#     pk               sk                     attributes
#     QUOTA#<owner>    UPLOADS#<utc hour>     count: uploads created in that hour; expires_at
#     QUOTA#*          REFUSED#<utc hour>     count, m00…m59 (per minute), by_<quota kind>: requests the API
#                                             refused with 429 in that hour, whoever made them; expires_at
#
# `*` can never be an owner (owners start with a letter or digit, lambdas/auth/identity.OWNER_PATTERN), so the
# refusal counters cannot clash with a user's. Counters are UpdateItem ADDs: atomic, no read first. The upload
# count is conditioned on `count < limit`, so concurrent requests never take more than the limit. Waiting jobs
# are counted with a Query on the sparse WAITING_BY_OWNER index (Select=COUNT: no item is read back).

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from lambdas.aws_errors import SdkErrors, error_code
from lambdas.jobs import schema
from lambdas.quotas.ports import QuotaKind, QuotaStoreUnavailable
from lambdas.quotas.windows import HOUR, hour_start, hours_between, minute_start, minutes_in, utc_hour

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

    from lambdas.quotas.ports import QuotaStore

GLOBAL_QUOTA_PK = f"{schema.QUOTA_PK_PREFIX}*"
REFUSED_SK_PREFIX = "REFUSED#"
COUNT = "count"
# Kept past their hour: an hourly upload counter only until the hour is well over, the refusal counters for
# the operators' windows (a day or two back).
UPLOADS_KEPT = timedelta(hours=2)
REFUSALS_KEPT = timedelta(days=2)
_CONDITION_FAILED = "ConditionalCheckFailedException"
_ERRORS = SdkErrors[QuotaStoreUnavailable](transient=QuotaStoreUnavailable)


def refused_sk(hour: str) -> str:
    return f"{REFUSED_SK_PREFIX}{hour}"


def minute_attribute(minute: int) -> str:
    return f"m{minute:02d}"


def kind_attribute(kind: QuotaKind) -> str:
    return f"by_{kind.value}"


def _expiry(hour: datetime, kept: timedelta) -> dict[str, str]:
    return {"N": str(int((hour + HOUR + kept).timestamp()))}


class DynamoDBQuotaStore:
    def __init__(self, client: DynamoDBClient, table_name: str) -> None:
        self._client, self._table = client, table_name

    def take_upload(self, owner: str, now: datetime, limit: int) -> bool:
        hour = utc_hour(now)
        where = f"{self._table}/{schema.quota_pk(owner)}/{schema.uploads_sk(hour)}"
        try:
            with _ERRORS.translated(where):
                self._client.update_item(
                    TableName=self._table,
                    Key={
                        schema.PARTITION_KEY: {"S": schema.quota_pk(owner)},
                        schema.SORT_KEY: {"S": schema.uploads_sk(hour)},
                    },
                    UpdateExpression="ADD #c :one SET #t = if_not_exists(#t, :t)",
                    ConditionExpression="attribute_not_exists(#c) OR #c < :limit",
                    ExpressionAttributeNames={"#c": COUNT, "#t": schema.TTL_ATTRIBUTE},
                    ExpressionAttributeValues={
                        ":one": {"N": "1"},
                        ":limit": {"N": str(limit)},
                        ":t": _expiry(hour_start(now), UPLOADS_KEPT),
                    },
                )
        except ClientError as error:
            if error_code(error) == _CONDITION_FAILED:
                return False
            raise
        return True

    def waiting_jobs(self, owner: str) -> int:
        index = schema.WAITING_BY_OWNER
        arguments: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": index.name,
            "KeyConditionExpression": "#pk = :pk",
            "ExpressionAttributeNames": {"#pk": index.partition_key},
            "ExpressionAttributeValues": {":pk": {"S": schema.waiting_pk(owner)}},
            "Select": "COUNT",
        }
        total = 0
        with _ERRORS.translated(f"{self._table}/{index.name}/{schema.waiting_pk(owner)}"):
            while True:
                page = self._client.query(**arguments)
                total += int(page.get("Count", 0))
                if not page.get("LastEvaluatedKey"):
                    return total
                arguments["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def refused(self, now: datetime, kind: QuotaKind) -> None:
        hour = utc_hour(now)
        with _ERRORS.translated(f"{self._table}/{GLOBAL_QUOTA_PK}/{refused_sk(hour)}"):
            self._client.update_item(
                TableName=self._table,
                Key={schema.PARTITION_KEY: {"S": GLOBAL_QUOTA_PK}, schema.SORT_KEY: {"S": refused_sk(hour)}},
                UpdateExpression="ADD #c :one, #m :one, #k :one SET #t = if_not_exists(#t, :t)",
                ExpressionAttributeNames={
                    "#c": COUNT,
                    "#m": minute_attribute(minute_start(now).minute),
                    "#k": kind_attribute(kind),
                    "#t": schema.TTL_ATTRIBUTE,
                },
                ExpressionAttributeValues={":one": {"N": "1"}, ":t": _expiry(hour_start(now), REFUSALS_KEPT)},
            )

    def refusals_since(self, since: datetime, now: datetime) -> int:
        hours = list(hours_between(since, now))
        if not hours:
            return 0
        arguments: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "#pk = :pk AND #sk BETWEEN :first AND :last",
            "ExpressionAttributeNames": {"#pk": schema.PARTITION_KEY, "#sk": schema.SORT_KEY},
            "ExpressionAttributeValues": {
                ":pk": {"S": GLOBAL_QUOTA_PK},
                ":first": {"S": refused_sk(utc_hour(hours[0]))},
                ":last": {"S": refused_sk(utc_hour(hours[-1]))},
            },
        }
        starts = {refused_sk(utc_hour(hour)): hour for hour in hours}
        total = 0
        with _ERRORS.translated(f"{self._table}/{GLOBAL_QUOTA_PK}"):
            while True:
                page = self._client.query(**arguments)
                for item in page.get("Items", []):
                    hour = starts.get(item[schema.SORT_KEY]["S"])
                    if hour is None:
                        continue
                    for minute in minutes_in(hour, since, now):
                        total += int(item.get(minute_attribute(minute), {}).get("N", "0"))
                if not page.get("LastEvaluatedKey"):
                    return total
                arguments["ExclusiveStartKey"] = page["LastEvaluatedKey"]


if TYPE_CHECKING:

    def _implements_port(store: DynamoDBQuotaStore) -> QuotaStore:
        return store
