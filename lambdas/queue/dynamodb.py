"""QueueStore on the jobs table: slot counters and a job's slot marker changed together in one transaction."""

# Items (lambdas/jobs/schema.py): `QUEUE / RUNNING` holds `running`, the slots held in total; `QUEUE /
# USER#<owner>` holds the owner's. A job holding a slot carries `slot` (its attempt) and the BY_SLOT index
# keys. Admission is one TransactWriteItems: the job QUEUED -> PROCESSING at the version read (and without a
# slot), the global counter below max_running_jobs, the owner's below max_running_jobs_per_user, each `ADD
# running 1`. Release is one too: the marker removed (only from a job that no longer runs), both counters
# `ADD running -1`. Which condition failed is read from the cancellation reasons, in the order of the items.

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from lambdas.aws_errors import error_code
from lambdas.jobs import schema
from lambdas.jobs.dynamodb import DynamoDBJobRepository, Guarded, transition_update
from lambdas.jobs.items import from_wire, job_from_item, job_key, wire_value
from lambdas.jobs.model import Job, JobStatus, utc_iso
from lambdas.jobs.ports import ConcurrentUpdate
from lambdas.jobs.transitions import check_successor
from lambdas.queue.ports import QueueStore, RunningCounts, SlotsTaken

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

_CANCELLED = "TransactionCanceledException"
_FAILED = "ConditionalCheckFailed"
_RUNNING = "running"
# Transactions that meet another on the same item are cancelled with TransactionConflict: redo.
_ATTEMPTS = 8


def _counter_key(sk: str) -> dict[str, Any]:
    return {schema.PARTITION_KEY: {"S": schema.QUEUE_PK}, schema.SORT_KEY: {"S": sk}}


def _reasons(error: ClientError) -> list[Mapping[str, Any]]:
    response: Mapping[str, Any] = error.response
    return list(response.get("CancellationReasons") or [])


class DynamoDBQueueStore:
    def __init__(self, client: DynamoDBClient, table_name: str, retention: timedelta = schema.RETENTION) -> None:
        self._client: DynamoDBClient = Guarded(client)  # type: ignore[assignment]
        self._table = table_name
        self._retention = retention
        self._jobs = DynamoDBJobRepository(client, table_name, retention=retention)

    # --- slots -----------------------------------------------------------------------------------

    def running(self) -> RunningCounts:
        total, by_owner = 0, {}
        for item in self._jobs.query_all(
            KeyConditionExpression="#pk = :pk",
            ExpressionAttributeNames={"#pk": schema.PARTITION_KEY},
            ExpressionAttributeValues={":pk": {"S": schema.QUEUE_PK}},
            ConsistentRead=True,  # one partition of counters (one per owner): the table, not an index
        ):
            values = from_wire(item)
            count = int(values.get(_RUNNING, 0))
            if values[schema.SORT_KEY] == schema.RUNNING_SK:
                total = count
            elif count > 0:
                by_owner[values[schema.SORT_KEY].removeprefix(schema.USER_SK_PREFIX)] = count
        return RunningCounts(total=total, by_owner=by_owner)

    def admit(self, job: Job, admitted: Job, *, max_running: int, max_per_user: int) -> Job:
        check_successor(job, admitted)
        if job.status is not JobStatus.QUEUED or admitted.status is not JobStatus.PROCESSING:
            raise ValueError(f"admission is QUEUED -> PROCESSING, not {job.status} -> {admitted.status}")
        started = utc_iso(admitted.started_at or admitted.updated_at)
        update = transition_update(job, admitted, self._retention)
        update.set(schema.SLOT_ATTRIBUTE, admitted.retry_count)
        update.set(schema.BY_SLOT.partition_key, schema.SLOT_HOLDER)
        update.set(schema.BY_SLOT.sort_key, f"{started}#{job.job_id}")
        update.condition(f"attribute_not_exists({update.name(schema.SLOT_ATTRIBUTE)})")
        items = [
            {
                "Update": {
                    "TableName": self._table,
                    "Key": job_key(job.job_id),
                    **update.arguments(),
                    "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                }
            },
            self._take(schema.RUNNING_SK, max_running),
            self._take(schema.user_counter_sk(job.owner), max_per_user, owner=job.owner),
        ]
        for _ in range(_ATTEMPTS):
            try:
                self._client.transact_write_items(TransactItems=items)  # type: ignore[arg-type]
                return admitted
            except ClientError as error:
                if error_code(error) != _CANCELLED:
                    raise
                reasons = [reason.get("Code") for reason in _reasons(error)]
                if reasons and reasons[0] == _FAILED:
                    raise self._jobs.moved_from(_reasons(error)[0].get("Item"), job, admitted) from None
                if len(reasons) > 1 and reasons[1] == _FAILED:
                    raise SlotsTaken(job.job_id, "global") from None
                if len(reasons) > 2 and reasons[2] == _FAILED:
                    raise SlotsTaken(job.job_id, "user") from None
                # TransactionConflict: another admission or release touched a counter at the same moment.
        raise ConcurrentUpdate(job.job_id, job.version, job.version)

    def _take(self, sk: str, limit: int, *, owner: str | None = None) -> dict[str, Any]:
        names = {"#r": _RUNNING}
        values = {":one": {"N": "1"}, ":max": {"N": str(limit)}}
        expression = "ADD #r :one"
        if owner is not None:
            names["#o"] = "owner"
            values[":owner"] = {"S": owner}
            expression = "SET #o = :owner ADD #r :one"
        return {
            "Update": {
                "TableName": self._table,
                "Key": _counter_key(sk),
                "UpdateExpression": expression,
                "ConditionExpression": "attribute_not_exists(#r) OR #r < :max",
                "ExpressionAttributeNames": names,
                "ExpressionAttributeValues": values,
            }
        }

    def _give_back(self, sk: str) -> dict[str, Any]:
        return {
            "Update": {
                "TableName": self._table,
                "Key": _counter_key(sk),
                "UpdateExpression": "ADD #r :minus",
                "ExpressionAttributeNames": {"#r": _RUNNING},
                "ExpressionAttributeValues": {":minus": {"N": "-1"}},
            }
        }

    def release(self, job_id: str) -> bool:
        for _ in range(_ATTEMPTS):
            response = self._client.get_item(TableName=self._table, Key=job_key(job_id), ConsistentRead=True)
            item = response.get("Item")
            if not item or schema.SLOT_ATTRIBUTE not in item:
                return False
            values = from_wire(item)
            if values.get("status") == JobStatus.PROCESSING:
                return False
            marker = {
                "Update": {
                    "TableName": self._table,
                    "Key": job_key(job_id),
                    "UpdateExpression": "REMOVE #slot, #spk, #ssk",
                    "ConditionExpression": "#slot = :slot AND #status <> :processing",
                    "ExpressionAttributeNames": {
                        "#slot": schema.SLOT_ATTRIBUTE,
                        "#spk": schema.BY_SLOT.partition_key,
                        "#ssk": schema.BY_SLOT.sort_key,
                        "#status": "status",
                    },
                    "ExpressionAttributeValues": {
                        ":slot": item[schema.SLOT_ATTRIBUTE],
                        ":processing": {"S": str(JobStatus.PROCESSING)},
                    },
                }
            }
            items = [
                marker,
                self._give_back(schema.RUNNING_SK),
                self._give_back(schema.user_counter_sk(values["owner"])),
            ]
            try:
                self._client.transact_write_items(TransactItems=items)  # type: ignore[arg-type]
                return True
            except ClientError as error:
                if error_code(error) != _CANCELLED:
                    raise
                # Released meanwhile, or a conflict on a counter: look again.
        return False

    def slot_holders(self) -> list[Job]:
        return [
            job_from_item(item)
            for item in self._jobs.query_all(
                IndexName=schema.BY_SLOT.name,
                KeyConditionExpression="#pk = :pk",
                ExpressionAttributeNames={"#pk": schema.BY_SLOT.partition_key},
                ExpressionAttributeValues={":pk": {"S": schema.SLOT_HOLDER}},
            )
        ]

    # --- the waiting line ----------------------------------------------------------------------------

    def waiting(self, priority: int, limit: int) -> list[Job]:
        return self._status_range(JobStatus.QUEUED, priority, limit=limit)

    def stale_uploads(self, created_before: datetime, limit: int) -> list[Job]:
        found: list[Job] = []
        for priority in range(1, 11):
            found += self._status_range(JobStatus.UPLOADING, priority, until=created_before, limit=limit - len(found))
            if len(found) >= limit:
                break
        return found

    def _status_range(
        self, status: JobStatus, priority: int, *, limit: int, until: datetime | None = None
    ) -> list[Job]:
        prefix = schema.priority_prefix(priority)
        upper = prefix + (utc_iso(until) if until is not None else "~")
        jobs: list[Job] = []
        for item in self._jobs.query_all(
            IndexName=schema.BY_STATUS.name,
            KeyConditionExpression="#pk = :pk AND #sk BETWEEN :lo AND :hi",
            ExpressionAttributeNames={"#pk": schema.BY_STATUS.partition_key, "#sk": schema.BY_STATUS.sort_key},
            ExpressionAttributeValues={
                ":pk": {"S": schema.status_pk(status)},
                ":lo": {"S": prefix},
                ":hi": {"S": upper},
            },
            Limit=max(1, limit),
        ):
            job = job_from_item(item)
            if job.status is status:  # the index lags the table: a job admitted a moment ago may still be listed
                jobs.append(job)
            if len(jobs) >= limit:
                break
        return jobs

    def waiting_before(self, priority: int, since: datetime, job_id: str) -> int:
        prefix = schema.priority_prefix(priority)
        arguments: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": schema.BY_STATUS.name,
            "KeyConditionExpression": "#pk = :pk AND #sk BETWEEN :lo AND :hi",
            "FilterExpression": "#id <> :id",
            "ExpressionAttributeNames": {
                "#pk": schema.BY_STATUS.partition_key,
                "#sk": schema.BY_STATUS.sort_key,
                "#id": "job_id",
            },
            "ExpressionAttributeValues": {
                ":pk": {"S": schema.status_pk(JobStatus.QUEUED)},
                ":lo": {"S": prefix},
                ":hi": {"S": schema.status_sk(priority, utc_iso(since), job_id)},
                ":id": wire_value(job_id),
            },
            "Select": "COUNT",
        }
        count = 0
        while True:
            response = self._client.query(**arguments)
            count += int(response.get("Count", 0))
            last = response.get("LastEvaluatedKey")
            if not last:
                return count
            arguments["ExclusiveStartKey"] = last

    def started_between(self, since: datetime, until: datetime) -> list[Job]:
        return self._by_day(schema.BY_STARTED, since, until, lambda job: job.started_at)

    def ended_between(self, since: datetime, until: datetime) -> list[Job]:
        return self._by_day(schema.BY_COMPLETED, since, until, lambda job: job.completed_at)

    def _by_day(self, index: schema.Index, since: datetime, until: datetime, moment: Any) -> list[Job]:
        jobs: list[Job] = []
        day = since.date()
        while day <= until.date():
            for item in self._jobs.query_all(
                IndexName=index.name,
                KeyConditionExpression="#pk = :pk AND #sk BETWEEN :lo AND :hi",
                ExpressionAttributeNames={"#pk": index.partition_key, "#sk": index.sort_key},
                ExpressionAttributeValues={
                    ":pk": {"S": schema.day_pk(day.isoformat())},
                    ":lo": {"S": utc_iso(since)},
                    ":hi": {"S": utc_iso(until) + "~"},
                },
            ):
                job = job_from_item(item)
                at = moment(job)
                if at is not None and since <= at <= until:
                    jobs.append(job)
            day += timedelta(days=1)
        return jobs


if TYPE_CHECKING:

    def _implements_port(store: DynamoDBQueueStore) -> QueueStore:
        return store
