"""JobRepository on one DynamoDB table; the table design below is what the CDK JobsTable construct builds.

Table (on-demand billing), every key attribute a string:

    pk              sk                          what
    JOB#<job_id>    JOB                         the job: one attribute per Job field, plus the keys below
    JOB#<job_id>    EVENT#<utc time>#<seq>      one JobEvent (seq: 4 digits, orders same-time events)
    JOB#<job_id>    WORK#<attempt>#<item id>    one finished work item of an attempt (segment-parallel encode)

    GSI by_owner    gsi1pk = OWNER#<owner>      gsi1sk = <created_at>#<job_id>
                    query ScanIndexForward=False: the owner's jobs, newest first
    GSI by_status   gsi2pk = STATUS#<status>    gsi2sk = <99 - priority, 2 digits>#<created_at>#<job_id>
                    query ascending: highest priority first, then oldest
    Both GSIs project ALL. Only job items carry gsi* attributes, so events stay out of the indexes.

    TTL attribute   expires_at (epoch seconds): on jobs in a terminal state, completed_at + 90 days
                    (the workflow's MarkFailed writes start of processing + 90 days, computed by RegisterJob;
                    removed again by a retry); on events, their time + 90 days.

Times in keys are fixed-width UTC ISO (`model.utc_iso`), so they sort as instants. `table_definition()`
is this design as `create_table` arguments (tests use it; the CDK construct must match it).

Writes: create is conditional on the id being free; every status change is an UpdateItem conditioned
on the stored status and version, writing only the attributes that differ between the job before and
after, so progress written meanwhile survives; progress is `SET progress = :p` conditioned on
`progress < :p AND status = PROCESSING` and does not bump the version. A failed condition is told
apart by the error code and the old item returned with it, never by the message.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError, HTTPClientError
from botocore.exceptions import ConnectionError as SdkConnectionError

from lambdas.jobs.model import (
    JOB_ID_PATTERN,
    RENDITION_PATTERN,
    Job,
    JobEvent,
    JobStatus,
    JobStep,
    utc_iso,
    utc_now,
)
from lambdas.jobs.ports import (
    InvalidCursor,
    JobAlreadyExists,
    JobNotFound,
    JobNotProcessing,
    JobRepository,
    RepositoryUnavailable,
    UnknownRendition,
    check_page_size,
    check_percent,
    moved_error,
)
from lambdas.jobs.transitions import check_successor

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

BY_OWNER_INDEX = "by_owner"
BY_STATUS_INDEX = "by_status"
TTL_ATTRIBUTE = "expires_at"
RETENTION = timedelta(days=90)

_JOB_SK = "JOB"
_WORK_SK = "WORK#"
_KEY_ATTRIBUTES = ("pk", "sk", "gsi1pk", "gsi1sk", "gsi2pk", "gsi2sk", TTL_ATTRIBUTE)
_CURSOR_KEYS = frozenset({"pk", "sk", "gsi1pk", "gsi1sk"})
_CONDITION_FAILED = "ConditionalCheckFailedException"
# Failures worth retrying (after botocore's own retries gave up): typed as RepositoryUnavailable.
_TRANSIENT_CODES = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "RequestLimitExceeded",
        "InternalServerError",
        "ServiceUnavailable",
    }
)
# Written by the state machine's MarkFailed (statemachines/transcode.asl.json): Step Functions' raw Cause.
ERROR_CAUSE_ATTRIBUTE = "error_cause"
# Read budget of one filtered listing call: rounds x items evaluated per round. Past it the call
# returns what it found (possibly nothing) and a cursor, as DynamoDB itself does with filters.
_MAX_QUERY_ROUNDS = 10
_FILTERED_PAGE = 100
_MAX_EVENT_SEQ = 10_000

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


def table_definition(table_name: str) -> dict[str, Any]:
    """The table as `create_table(**table_definition(name))` arguments; TTL is enabled separately."""
    attributes = ("pk", "sk", "gsi1pk", "gsi1sk", "gsi2pk", "gsi2sk")
    return {
        "TableName": table_name,
        "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": [{"AttributeName": name, "AttributeType": "S"} for name in attributes],
        "KeySchema": [
            {"AttributeName": "pk", "KeyType": "HASH"},
            {"AttributeName": "sk", "KeyType": "RANGE"},
        ],
        "GlobalSecondaryIndexes": [
            {
                "IndexName": index,
                "KeySchema": [
                    {"AttributeName": f"{prefix}pk", "KeyType": "HASH"},
                    {"AttributeName": f"{prefix}sk", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
            for index, prefix in ((BY_OWNER_INDEX, "gsi1"), (BY_STATUS_INDEX, "gsi2"))
        ],
    }


def _job_pk(job_id: str) -> str:
    return f"JOB#{job_id}"


def _job_key(job_id: str) -> dict[str, Any]:
    return {"pk": {"S": _job_pk(job_id)}, "sk": {"S": _JOB_SK}}


def _epoch(moment: datetime) -> int:
    return int(moment.timestamp())


def job_attributes(job: Job, retention: timedelta = RETENTION) -> dict[str, Any]:
    """The job item as plain values (Decimal numbers, absent Nones) with its key and TTL attributes."""
    item: dict[str, Any] = json.loads(job.model_dump_json(exclude_none=True), parse_float=Decimal)
    created = utc_iso(job.created_at)
    item |= {
        "pk": _job_pk(job.job_id),
        "sk": _JOB_SK,
        "gsi1pk": f"OWNER#{job.owner}",
        "gsi1sk": f"{created}#{job.job_id}",
        "gsi2pk": f"STATUS#{job.status}",
        "gsi2sk": f"{99 - job.priority:02d}#{created}#{job.job_id}",
    }
    if job.status.terminal and job.completed_at is not None:
        item[TTL_ATTRIBUTE] = _epoch(job.completed_at + retention)
    return item


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {key: _plain(inner) for key, inner in value.items()}
    if isinstance(value, list | set):
        return [_plain(inner) for inner in value]
    return value


def _to_wire(values: Mapping[str, Any]) -> dict[str, Any]:
    return {name: _serializer.serialize(value) for name, value in values.items()}


def _from_wire(item: Mapping[str, Any]) -> dict[str, Any]:
    return {name: _plain(_deserializer.deserialize(value)) for name, value in item.items()}


def _job_from_item(item: Mapping[str, Any]) -> Job:
    values = _from_wire(item)
    for name in _KEY_ATTRIBUTES:
        values.pop(name, None)
    cause = values.pop(ERROR_CAUSE_ATTRIBUTE, None)
    if cause is not None and not values.get("error_message"):
        values["error_message"] = error_message_from_cause(str(cause))
    return Job.model_validate(values)


def error_message_from_cause(cause: str) -> str:
    """The readable reason in a Step Functions Cause: a Lambda error's `errorMessage`, else the text itself."""
    try:
        document = json.loads(cause)
    except ValueError:
        return cause
    if isinstance(document, dict) and isinstance(document.get("errorMessage"), str):
        return str(document["errorMessage"])
    return cause


def _error_code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


class _Expression:
    """Placeholders for an expression: every name aliased (no reserved-word surprises), every value bound."""

    def __init__(self) -> None:
        self.names: dict[str, str] = {}
        self.values: dict[str, Any] = {}

    def name(self, attribute: str) -> str:
        placeholder = f"#n{len(self.names)}"
        self.names[placeholder] = attribute
        return placeholder

    def value(self, value: Any) -> str:
        placeholder = f":v{len(self.values)}"
        self.values[placeholder] = _serializer.serialize(value)
        return placeholder

    def arguments(self) -> dict[str, Any]:
        arguments: dict[str, Any] = {"ExpressionAttributeNames": self.names}
        if self.values:
            arguments["ExpressionAttributeValues"] = self.values
        return arguments


class _Guarded:
    """The client with throttling, server errors and lost connections raised as RepositoryUnavailable.

    Every other ClientError (a failed condition above all) passes through untouched.
    """

    def __init__(self, client: Any) -> None:
        self._wrapped = client

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._wrapped, name)
        if not callable(method):
            return method

        def call(*args: Any, **kwargs: Any) -> Any:
            try:
                return method(*args, **kwargs)
            except (HTTPClientError, SdkConnectionError) as error:
                raise RepositoryUnavailable(f"DynamoDB {name}: connection failed ({type(error).__name__})") from error
            except ClientError as error:
                code = _error_code(error)
                if code in _TRANSIENT_CODES:
                    raise RepositoryUnavailable(f"DynamoDB {name}: {code}") from error
                raise

        return call


class DynamoDBJobRepository:
    def __init__(
        self,
        client: DynamoDBClient,
        table_name: str,
        clock: Callable[[], datetime] = utc_now,
        retention: timedelta = RETENTION,
    ) -> None:
        self._client: DynamoDBClient = _Guarded(client)  # type: ignore[assignment]
        self._table = table_name
        self._clock = clock
        self._retention = retention

    # --- single jobs ------------------------------------------------------------------------------

    def create(self, job: Job) -> None:
        try:
            self._client.put_item(
                TableName=self._table,
                Item=_to_wire(job_attributes(job, self._retention)),
                ConditionExpression="attribute_not_exists(pk)",
            )
        except ClientError as error:
            if _error_code(error) == _CONDITION_FAILED:
                raise JobAlreadyExists(job.job_id) from None
            raise

    def _find(self, job_id: str) -> Job | None:
        if not re.fullmatch(JOB_ID_PATTERN, job_id):
            return None  # cannot exist; and keeps arbitrary input out of key values
        response = self._client.get_item(TableName=self._table, Key=_job_key(job_id), ConsistentRead=True)
        item = response.get("Item")
        return _job_from_item(item) if item else None

    def get(self, job_id: str) -> Job:
        job = self._find(job_id)
        if job is None:
            raise JobNotFound(job_id)
        return job

    def get_for_owner(self, owner: str, job_id: str) -> Job:
        job = self.get(job_id)
        if job.owner != owner:
            raise JobNotFound(job_id)
        return job

    def _old_job(self, error: ClientError, job_id: str) -> Job | None:
        """The item as it was when a condition failed: from the error, or read again if not returned."""
        response: Mapping[str, Any] = error.response  # the stubs do not declare the returned "Item"
        item = response.get("Item")
        return _job_from_item(item) if item else self._find(job_id)

    def save_transition(self, job_before: Job, job_after: Job) -> Job:
        check_successor(job_before, job_after)
        before = job_attributes(job_before, self._retention)
        after = job_attributes(job_after, self._retention)
        expression = _Expression()
        sets = [
            f"{expression.name(name)} = {expression.value(value)}"
            for name, value in after.items()
            if name not in {"pk", "sk"} and before.get(name) != value
        ]
        removes = [expression.name(name) for name in before if name not in after]
        if "error_message" not in after:
            # A retry clears the error; a Cause written by MarkFailed would otherwise come back on read.
            removes.append(expression.name(ERROR_CAUSE_ATTRIBUTE))
        update = "SET " + ", ".join(sets) + (" REMOVE " + ", ".join(removes) if removes else "")
        condition = (
            f"{expression.name('status')} = {expression.value(str(job_before.status))}"
            f" AND {expression.name('version')} = {expression.value(job_before.version)}"
        )
        try:
            response = self._client.update_item(
                TableName=self._table,
                Key=_job_key(job_before.job_id),
                UpdateExpression=update,
                ConditionExpression=condition,
                ReturnValues="ALL_NEW",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
                **expression.arguments(),
            )
        except ClientError as error:
            if _error_code(error) != _CONDITION_FAILED:
                raise
            stored = self._old_job(error, job_before.job_id)
            if stored is None:
                raise JobNotFound(job_before.job_id) from None
            raise moved_error(stored, job_before, job_after) from None
        return _job_from_item(response["Attributes"])

    def update_progress(
        self,
        job_id: str,
        step: JobStep,
        percent: int,
        rendition: str | None = None,
        *,
        eta_at: datetime | None = None,
    ) -> bool:
        check_percent(percent)
        step = JobStep(step)
        if not re.fullmatch(JOB_ID_PATTERN, job_id):
            raise JobNotFound(job_id)
        if rendition is not None and not re.fullmatch(RENDITION_PATTERN, rendition):
            # Never requested (the model rejects such names); still report in the usual order.
            self._raise_progress_refused(self._find(job_id), job_id, rendition)
            raise UnknownRendition(job_id, rendition)
        expression = _Expression()
        status = expression.name("status")
        processing = expression.value(str(JobStatus.PROCESSING))
        p = expression.value(percent)
        if rendition is None:
            target = expression.name("progress")
            condition = f"{target} < {p} AND {status} = {processing}"
        else:
            renditions = expression.name("rendition_progress")
            target = f"{renditions}.{expression.name(rendition)}"
            condition = (
                f"{status} = {processing}"
                f" AND contains({expression.name('requested_renditions')}, {expression.value(rendition)})"
                f" AND (attribute_not_exists({target}) OR {target} < {p})"
            )
        update = (
            f"SET {target} = {p}, {expression.name('current_step')} = {expression.value(str(step))},"
            f" {expression.name('updated_at')} = {expression.value(utc_iso(self._clock()))}"
        )
        if eta_at is not None and rendition is None:
            update += f", {expression.name('eta_at')} = {expression.value(utc_iso(eta_at))}"
        try:
            self._client.update_item(
                TableName=self._table,
                Key=_job_key(job_id),
                UpdateExpression=update,
                ConditionExpression=condition,
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
                **expression.arguments(),
            )
        except ClientError as error:
            if _error_code(error) != _CONDITION_FAILED:
                raise
            self._raise_progress_refused(self._old_job(error, job_id), job_id, rendition)
            return False
        return True

    @staticmethod
    def _raise_progress_refused(stored: Job | None, job_id: str, rendition: str | None) -> None:
        """Raise why a progress update did not apply; return if only because it was not an increase."""
        if stored is None:
            raise JobNotFound(job_id)
        if stored.status is not JobStatus.PROCESSING:
            raise JobNotProcessing(job_id, stored.status)
        if rendition is not None and rendition not in stored.requested_renditions:
            raise UnknownRendition(job_id, rendition)

    # --- segment-parallel work ----------------------------------------------------------------------

    def record_work_done(self, job_id: str, attempt: int, item_id: str) -> frozenset[str]:
        if not re.fullmatch(JOB_ID_PATTERN, job_id):
            raise JobNotFound(job_id)
        prefix = f"{_WORK_SK}{attempt:04d}#"
        now = self._clock()
        # As for events, a plain existence read: a transaction would conflict with progress writes.
        self.get(job_id)
        # Its own item per work item: hundreds of chunks never grow the job item, and puts are idempotent.
        self._client.put_item(
            TableName=self._table,
            Item=_to_wire(
                {
                    "pk": _job_pk(job_id),
                    "sk": prefix + item_id,
                    "done_at": utc_iso(now),
                    TTL_ATTRIBUTE: _epoch(now + self._retention),
                }
            ),
        )
        return self.work_done(job_id, attempt)

    def work_done(self, job_id: str, attempt: int) -> frozenset[str]:
        if not re.fullmatch(JOB_ID_PATTERN, job_id):
            raise JobNotFound(job_id)
        prefix = f"{_WORK_SK}{attempt:04d}#"
        done = {
            item["sk"]["S"][len(prefix) :]
            for item in self._query_all(
                KeyConditionExpression="pk = :pk AND begins_with(sk, :prefix)",
                ExpressionAttributeValues={":pk": {"S": _job_pk(job_id)}, ":prefix": {"S": prefix}},
                ProjectionExpression="sk",
                ConsistentRead=True,
            )
        }
        if not done:
            self.get(job_id)  # nothing done yet, or no such job
        return frozenset(done)

    def mark_playable(self, job_id: str, segments: int, url: str) -> bool:
        if not re.fullmatch(JOB_ID_PATTERN, job_id):
            raise JobNotFound(job_id)
        expression = _Expression()
        status, count = expression.name("status"), expression.name("playable_segments")
        at, now = expression.name("playable_at"), expression.value(utc_iso(self._clock()))
        n = expression.value(segments)
        update = (
            f"SET {count} = {n}, {expression.name('playable_url')} = {expression.value(url)},"
            f" {at} = if_not_exists({at}, {now}), {expression.name('updated_at')} = {now}"
        )
        condition = (
            f"{status} = {expression.value(str(JobStatus.PROCESSING))}"
            f" AND (attribute_not_exists({count}) OR {count} < {n})"
        )
        try:
            self._client.update_item(
                TableName=self._table,
                Key=_job_key(job_id),
                UpdateExpression=update,
                ConditionExpression=condition,
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
                **expression.arguments(),
            )
        except ClientError as error:
            if _error_code(error) != _CONDITION_FAILED:
                raise
            self._raise_progress_refused(self._old_job(error, job_id), job_id, None)
            return False
        return True

    # --- events -----------------------------------------------------------------------------------

    def append_event(self, job_id: str, event: JobEvent) -> None:
        # A plain existence read, not a transaction: jobs are only ever removed by TTL long after
        # their last event, and a transaction would conflict with progress writes on the job item.
        self.get(job_id)
        values: dict[str, Any] = json.loads(event.model_dump_json(), parse_float=Decimal)
        values |= {"pk": _job_pk(job_id), TTL_ATTRIBUTE: _epoch(event.time + self._retention)}
        for seq in range(_MAX_EVENT_SEQ):
            values["sk"] = f"EVENT#{utc_iso(event.time)}#{seq:04d}"
            try:
                self._client.put_item(
                    TableName=self._table,
                    Item=_to_wire(values),
                    ConditionExpression="attribute_not_exists(sk)",
                )
            except ClientError as error:
                if _error_code(error) != _CONDITION_FAILED:
                    raise
                continue  # an event at the same instant holds this seq: take the next
            return
        raise RuntimeError(f"job {job_id}: more than {_MAX_EVENT_SEQ} events at {utc_iso(event.time)}")

    def list_events(self, job_id: str) -> list[JobEvent]:
        if not re.fullmatch(JOB_ID_PATTERN, job_id):
            raise JobNotFound(job_id)
        # One query over the job's partition reads the job item too ("EVENT#…" sorts before "JOB"),
        # which tells a job without events from no job at all.
        events: list[JobEvent] = []
        found = False
        for item in self._query_all(
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": _job_pk(job_id)}},
            ConsistentRead=True,
        ):
            if item["sk"]["S"] == _JOB_SK:
                found = True
                continue
            if item["sk"]["S"].startswith(_WORK_SK):
                continue
            values = _from_wire(item)
            events.append(JobEvent.model_validate({k: values[k] for k in JobEvent.model_fields if k in values}))
        if not found:
            raise JobNotFound(job_id)
        return events

    def _query_all(self, **arguments: Any) -> Iterator[dict[str, Any]]:
        while True:
            response = self._client.query(TableName=self._table, **arguments)
            yield from response.get("Items", [])
            last = response.get("LastEvaluatedKey")
            if not last:
                return
            arguments["ExclusiveStartKey"] = last

    # --- listings ---------------------------------------------------------------------------------

    def list_for_owner(
        self, owner: str, status: JobStatus | None = None, limit: int = 20, cursor: str | None = None
    ) -> tuple[list[Job], str | None]:
        check_page_size(limit)
        expression = _Expression()
        arguments: dict[str, Any] = {
            "IndexName": BY_OWNER_INDEX,
            "KeyConditionExpression": f"{expression.name('gsi1pk')} = {expression.value(f'OWNER#{owner}')}",
            "ScanIndexForward": False,
            # One more than asked: whether a next page exists is then known, not guessed.
            "Limit": limit + 1,
        }
        if status is not None:
            arguments["FilterExpression"] = f"{expression.name('status')} = {expression.value(str(JobStatus(status)))}"
            # Limit counts items read before the filter: read in larger rounds.
            arguments["Limit"] = max(limit + 1, _FILTERED_PAGE)
        arguments |= expression.arguments()
        if cursor is not None:
            arguments["ExclusiveStartKey"] = _decode_cursor(cursor, owner)
        items: list[dict[str, Any]] = []
        last_key: dict[str, Any] = {}
        for _ in range(_MAX_QUERY_ROUNDS):
            response = self._client.query(TableName=self._table, **arguments)
            items.extend(response.get("Items", []))
            if len(items) > limit:
                last_item = items[limit - 1]
                return [_job_from_item(i) for i in items[:limit]], _encode_cursor(
                    {name: last_item[name] for name in _CURSOR_KEYS}
                )
            last_key = dict(response.get("LastEvaluatedKey") or {})
            if not last_key:
                return [_job_from_item(i) for i in items], None
            arguments["ExclusiveStartKey"] = last_key
        return [_job_from_item(i) for i in items], _encode_cursor(last_key)

    def list_by_status(self, status: JobStatus, limit: int = 20) -> list[Job]:
        check_page_size(limit, maximum=None)
        jobs: list[Job] = []
        for item in self._query_all(
            IndexName=BY_STATUS_INDEX,
            KeyConditionExpression="gsi2pk = :pk",
            ExpressionAttributeValues={":pk": {"S": f"STATUS#{JobStatus(status)}"}},
            Limit=limit,
        ):
            jobs.append(_job_from_item(item))
            if len(jobs) == limit:
                break
        return jobs


def _encode_cursor(key: Mapping[str, Any]) -> str:
    plain = {name: value["S"] for name, value in key.items()}
    raw = json.dumps(plain, separators=(",", ":"), sort_keys=True).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str, owner: str) -> dict[str, Any]:
    """The ExclusiveStartKey in a cursor, if it is a position in `owner`'s listing."""
    try:
        value = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError) as error:
        raise InvalidCursor("cursor is not one this listing handed out") from error
    if not (
        isinstance(value, dict)
        and value.keys() == _CURSOR_KEYS
        and all(isinstance(part, str) for part in value.values())
        and value["gsi1pk"] == f"OWNER#{owner}"
        and value["sk"] == _JOB_SK
        and re.fullmatch(f"JOB#{JOB_ID_PATTERN[1:]}", value["pk"])
        and value["gsi1sk"].endswith("#" + value["pk"].removeprefix("JOB#"))
    ):
        raise InvalidCursor("cursor is not one this listing handed out")
    return {name: {"S": part} for name, part in value.items()}


if TYPE_CHECKING:

    def _implements_port(repository: DynamoDBJobRepository) -> JobRepository:
        return repository
