"""JobRepository on the jobs table (`schema`): conditional writes, progress updates, events and listings."""

# Writes: create is conditional on the id being free; every status change is an UpdateItem conditioned
# on the stored status and version, writing only the attributes that differ between the job before and
# after, so progress written meanwhile survives; progress is `SET progress = :p` conditioned on
# `progress < :p AND status = PROCESSING` and does not bump the version. A failed condition is told
# apart by the error code and the old item returned with it, never by the message.

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from lambdas.aws_errors import SdkErrors, error_code
from lambdas.cost.model import CostBreakdown, JobCost
from lambdas.jobs import schema
from lambdas.jobs.cursor import Position, decode_cursor, encode_cursor
from lambdas.jobs.items import (
    event_attributes,
    event_from_item,
    job_attributes,
    job_from_item,
    job_key,
    to_wire,
    wire_value,
    work_attributes,
)
from lambdas.jobs.model import (
    JOB_ID_PATTERN,
    RENDITION_PATTERN,
    AudioLoudness,
    Caption,
    Job,
    JobError,
    JobEvent,
    JobStatus,
    JobStep,
    OutputFile,
    utc_iso,
    utc_now,
)
from lambdas.jobs.ports import (
    ConcurrentUpdate,
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

_PK, _SK = schema.PARTITION_KEY, schema.SORT_KEY
_CONDITION_FAILED = "ConditionalCheckFailedException"
# Only failures worth retrying are typed; every other ClientError (a failed condition above all) is read here.
_ERRORS = SdkErrors[RepositoryUnavailable](transient=RepositoryUnavailable)
# Read budget of one filtered listing call: rounds x items evaluated per round. Past it the call
# returns what it found (possibly nothing) and a cursor, as DynamoDB itself does with filters.
_MAX_QUERY_ROUNDS = 10
_FILTERED_PAGE = 100
_MAX_EVENT_SEQ = 10_000
# Added by every write of a job item (model.Job.revision), never SET from a diff.
REVISION = "revision"


class Expression:
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
        self.values[placeholder] = wire_value(value)
        return placeholder

    def arguments(self) -> dict[str, Any]:
        arguments: dict[str, Any] = {"ExpressionAttributeNames": self.names}
        if self.values:
            arguments["ExpressionAttributeValues"] = self.values
        return arguments


class TransitionUpdate(Expression):
    """The UpdateItem arguments that store a job's successor: the attributes that differ, conditioned on the
    stored status and version. `set`/`remove`/`condition` let the queue add its own attributes to the same write."""

    def __init__(self) -> None:
        super().__init__()
        self.sets: list[str] = []
        self.removes: list[str] = []
        self.adds: list[str] = []
        self.conditions: list[str] = []

    def set(self, attribute: str, value: Any) -> None:
        self.sets.append(f"{self.name(attribute)} = {self.value(value)}")

    def remove(self, attribute: str) -> None:
        self.removes.append(self.name(attribute))

    def add(self, attribute: str, amount: int) -> None:
        self.adds.append(f"{self.name(attribute)} {self.value(amount)}")

    def condition(self, text: str) -> None:
        self.conditions.append(text)

    def arguments(self) -> dict[str, Any]:
        update = "SET " + ", ".join(self.sets) + (" REMOVE " + ", ".join(self.removes) if self.removes else "")
        update += " ADD " + ", ".join(self.adds) if self.adds else ""
        return {"UpdateExpression": update, "ConditionExpression": " AND ".join(self.conditions), **super().arguments()}


def transition_update(job_before: Job, job_after: Job, retention: timedelta = schema.RETENTION) -> TransitionUpdate:
    """Only the attributes that differ are written, so progress recorded meanwhile survives."""
    before = job_attributes(job_before, retention)
    after = job_attributes(job_after, retention)
    update = TransitionUpdate()
    for name, value in after.items():
        if name not in {_PK, _SK, REVISION} and before.get(name) != value:
            update.set(name, value)
    for name in before:
        if name not in after:
            update.remove(name)
    if "error_message" not in after:
        # A retry clears the error; a Cause written by MarkFailed would otherwise come back on read.
        update.remove(schema.ERROR_CAUSE_ATTRIBUTE)
    update.add(REVISION, 1)
    update.condition(
        f"{update.name('status')} = {update.value(str(job_before.status))}"
        f" AND {update.name('version')} = {update.value(job_before.version)}"
    )
    return update


class Guarded:
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
            with _ERRORS.translated(f"DynamoDB {name}"):
                return method(*args, **kwargs)

        return call


class DynamoDBJobRepository:
    def __init__(
        self,
        client: DynamoDBClient,
        table_name: str,
        clock: Callable[[], datetime] = utc_now,
        retention: timedelta = schema.RETENTION,
    ) -> None:
        self._client: DynamoDBClient = Guarded(client)  # type: ignore[assignment]
        self._table = table_name
        self._clock = clock
        self._retention = retention

    # --- single jobs ------------------------------------------------------------------------------

    def create(self, job: Job) -> None:
        try:
            self._client.put_item(
                TableName=self._table,
                Item=to_wire(job_attributes(job, self._retention)),
                ConditionExpression=f"attribute_not_exists({_PK})",
            )
        except ClientError as error:
            if error_code(error) == _CONDITION_FAILED:
                raise JobAlreadyExists(job.job_id) from None
            raise

    def _find(self, job_id: str) -> Job | None:
        if not re.fullmatch(JOB_ID_PATTERN, job_id):
            return None  # cannot exist; and keeps arbitrary input out of key values
        response = self._client.get_item(TableName=self._table, Key=job_key(job_id), ConsistentRead=True)
        item = response.get("Item")
        return job_from_item(item) if item else None

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
        return self._stored(response.get("Item"), job_id)

    def _stored(self, item: Mapping[str, Any] | None, job_id: str) -> Job | None:
        return job_from_item(item) if item else self._find(job_id)

    def save_transition(self, job_before: Job, job_after: Job) -> Job:
        check_successor(job_before, job_after)
        update = transition_update(job_before, job_after, self._retention)
        try:
            response = self._client.update_item(
                TableName=self._table,
                Key=job_key(job_before.job_id),
                ReturnValues="ALL_NEW",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
                **update.arguments(),
            )
        except ClientError as error:
            if error_code(error) != _CONDITION_FAILED:
                raise
            raise self.moved(self._old_job(error, job_before.job_id), job_before, job_after) from None
        return job_from_item(response["Attributes"])

    def moved_from(self, item: Mapping[str, Any] | None, job_before: Job, job_after: Job) -> JobError:
        """`moved` for a failed write that returned the stored item (or not: then it is read again)."""
        return self.moved(self._stored(item, job_before.job_id), job_before, job_after)

    def moved(self, stored: Job | None, job_before: Job, job_after: Job) -> JobError:
        """Why a conditional write of `job_after` over `job_before` failed, given the job as stored now."""
        if stored is None:
            return JobNotFound(job_before.job_id)
        return moved_error(stored, job_before, job_after)

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
        expression = Expression()
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
        update += f" ADD {expression.name(REVISION)} {expression.value(1)}"
        return self._monotonic_update(job_id, update, condition, expression, rendition)

    def _monotonic_update(
        self, job_id: str, update: str, condition: str, expression: Expression, rendition: str | None
    ) -> bool:
        """A conditional write that only ever raises a value: False when it would not, the reason otherwise."""
        try:
            self._client.update_item(
                TableName=self._table,
                Key=job_key(job_id),
                UpdateExpression=update,
                ConditionExpression=condition,
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
                **expression.arguments(),
            )
        except ClientError as error:
            if error_code(error) != _CONDITION_FAILED:
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
        now = self._clock()
        # As for events, a plain existence read: a transaction would conflict with progress writes.
        self.get(job_id)
        # Its own item per work item: hundreds of chunks never grow the job item, and puts are idempotent.
        self._client.put_item(
            TableName=self._table,
            Item=to_wire(work_attributes(job_id, attempt, item_id, now, self._retention)),
        )
        return self.work_done(job_id, attempt)

    def work_done(self, job_id: str, attempt: int) -> frozenset[str]:
        if not re.fullmatch(JOB_ID_PATTERN, job_id):
            raise JobNotFound(job_id)
        prefix = schema.work_sk_prefix(attempt)
        done = {
            item[_SK]["S"][len(prefix) :]
            for item in self.query_all(
                KeyConditionExpression=f"{_PK} = :pk AND begins_with({_SK}, :prefix)",
                ExpressionAttributeValues={":pk": {"S": schema.job_pk(job_id)}, ":prefix": {"S": prefix}},
                ProjectionExpression=_SK,
                ConsistentRead=True,
            )
        }
        if not done:
            self.get(job_id)  # nothing done yet, or no such job
        return frozenset(done)

    def record_source_duration(self, job_id: str, duration_s: float) -> bool:
        if not re.fullmatch(JOB_ID_PATTERN, job_id):
            raise JobNotFound(job_id)
        expression = Expression()
        target, d = expression.name("source_duration_s"), expression.value(Decimal(f"{duration_s:.6f}"))
        update = (
            f"SET {target} = {d}, {expression.name('updated_at')} = {expression.value(utc_iso(self._clock()))}"
            f" ADD {expression.name(REVISION)} {expression.value(1)}"
        )
        condition = (
            f"{expression.name('status')} = {expression.value(str(JobStatus.PROCESSING))}"
            f" AND (attribute_not_exists({target}) OR {target} <> {d})"
        )
        return self._monotonic_update(job_id, update, condition, expression, None)

    def record_cost_estimate(self, job_id: str, estimate: CostBreakdown) -> None:
        if not re.fullmatch(JOB_ID_PATTERN, job_id):
            raise JobNotFound(job_id)
        expression = Expression()
        cost = JobCost(estimate=estimate)
        update = (
            f"SET {expression.name('cost')} = {expression.value(_plain_models((cost,))[0])},"
            f" {expression.name('updated_at')} = {expression.value(utc_iso(self._clock()))}"
            f" ADD {expression.name(REVISION)} {expression.value(1)}"
        )
        condition = f"{expression.name('status')} = {expression.value(str(JobStatus.PROCESSING))}"
        self._monotonic_update(job_id, update, condition, expression, None)

    def mark_playable(self, job_id: str, segments: int, url: str) -> bool:
        if not re.fullmatch(JOB_ID_PATTERN, job_id):
            raise JobNotFound(job_id)
        expression = Expression()
        status, count = expression.name("status"), expression.name("playable_segments")
        at, now = expression.name("playable_at"), expression.value(utc_iso(self._clock()))
        n = expression.value(segments)
        update = (
            f"SET {count} = {n}, {expression.name('playable_url')} = {expression.value(url)},"
            f" {at} = if_not_exists({at}, {now}), {expression.name('updated_at')} = {now}"
            f" ADD {expression.name(REVISION)} {expression.value(1)}"
        )
        condition = (
            f"{status} = {expression.value(str(JobStatus.PROCESSING))}"
            f" AND (attribute_not_exists({count}) OR {count} < {n})"
        )
        return self._monotonic_update(job_id, update, condition, expression, None)

    def mark_audio_ready(
        self, job_id: str, files: tuple[OutputFile, ...], loudness: tuple[AudioLoudness, ...] = ()
    ) -> bool:
        if not re.fullmatch(JOB_ID_PATTERN, job_id):
            raise JobNotFound(job_id)
        expression = Expression()
        at, now = expression.name("audio_ready_at"), expression.value(utc_iso(self._clock()))
        update = (
            f"SET {expression.name('audio_files')} = {expression.value(_plain_models(files))},"
            f" {expression.name('audio_loudness')} = {expression.value(_plain_models(loudness))},"
            f" {at} = if_not_exists({at}, {now}), {expression.name('updated_at')} = {now}"
            f" ADD {expression.name(REVISION)} {expression.value(1)}"
        )
        condition = f"{expression.name('status')} = {expression.value(str(JobStatus.PROCESSING))}"
        try:
            response = self._client.update_item(
                TableName=self._table,
                Key=job_key(job_id),
                UpdateExpression=update,
                ConditionExpression=condition,
                ReturnValues="UPDATED_OLD",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
                **expression.arguments(),
            )
        except ClientError as error:
            if error_code(error) != _CONDITION_FAILED:
                raise
            self._raise_progress_refused(self._old_job(error, job_id), job_id, None)
            raise  # the condition is the status alone: refused means not PROCESSING (raised above)
        # UPDATED_OLD holds audio_ready_at only if it was there before this write.
        return "audio_ready_at" not in response.get("Attributes", {})

    def save_captions(self, job: Job, captions: tuple[Caption, ...], files: tuple[OutputFile, ...]) -> Job:
        expression = Expression()
        outputs, revision = expression.name("outputs"), expression.name(REVISION)
        update = (
            f"SET {expression.name('captions')} = {expression.value(_plain_models(captions))},"
            f" {outputs}.{expression.name('files')} = {expression.value(_plain_models(files))},"
            f" {expression.name('updated_at')} = {expression.value(utc_iso(self._clock()))}"
            f" ADD {revision} {expression.value(1)}"
        )
        condition = (
            f"{expression.name('status')} = {expression.value(str(JobStatus.COMPLETED))}"
            f" AND {revision} = {expression.value(job.revision)} AND attribute_exists({outputs})"
        )
        try:
            response = self._client.update_item(
                TableName=self._table,
                Key=job_key(job.job_id),
                UpdateExpression=update,
                ConditionExpression=condition,
                ReturnValues="ALL_NEW",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
                **expression.arguments(),
            )
        except ClientError as error:
            if error_code(error) != _CONDITION_FAILED:
                raise
            stored = self._old_job(error, job.job_id)
            if stored is None:
                raise JobNotFound(job.job_id) from None
            raise ConcurrentUpdate(job.job_id, job.revision, stored.revision) from None
        return job_from_item(response["Attributes"])

    # --- events -----------------------------------------------------------------------------------

    def append_event(self, job_id: str, event: JobEvent) -> None:
        # A plain existence read, not a transaction: jobs are only ever removed by TTL long after
        # their last event, and a transaction would conflict with progress writes on the job item.
        self.get(job_id)
        values = event_attributes(job_id, event, self._retention)
        for seq in range(_MAX_EVENT_SEQ):
            values[_SK] = schema.event_sk(utc_iso(event.time), seq)
            try:
                self._client.put_item(
                    TableName=self._table,
                    Item=to_wire(values),
                    ConditionExpression=f"attribute_not_exists({_SK})",
                )
            except ClientError as error:
                if error_code(error) != _CONDITION_FAILED:
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
        for item in self.query_all(
            KeyConditionExpression=f"{_PK} = :pk",
            ExpressionAttributeValues={":pk": {"S": schema.job_pk(job_id)}},
            ConsistentRead=True,
        ):
            if item[_SK]["S"] == schema.JOB_SK:
                found = True
                continue
            if item[_SK]["S"].startswith(schema.WORK_SK_PREFIX):
                continue
            events.append(event_from_item(item))
        if not found:
            raise JobNotFound(job_id)
        return events

    def query_all(self, **arguments: Any) -> Iterator[dict[str, Any]]:
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
        expression = Expression()
        arguments: dict[str, Any] = {
            "IndexName": schema.BY_OWNER.name,
            "KeyConditionExpression": (
                f"{expression.name(schema.BY_OWNER.partition_key)} = {expression.value(schema.owner_pk(owner))}"
            ),
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
            arguments["ExclusiveStartKey"] = _wire_key(decode_cursor(cursor, owner).key(owner))
        items: list[dict[str, Any]] = []
        last_key: dict[str, Any] = {}
        for _ in range(_MAX_QUERY_ROUNDS):
            response = self._client.query(TableName=self._table, **arguments)
            items.extend(response.get("Items", []))
            if len(items) > limit:
                page = [job_from_item(i) for i in items[:limit]]
                return page, encode_cursor(owner, _position(items[limit - 1]))
            last_key = dict(response.get("LastEvaluatedKey") or {})
            if not last_key:
                return [job_from_item(i) for i in items], None
            arguments["ExclusiveStartKey"] = last_key
        return [job_from_item(i) for i in items], encode_cursor(owner, _position(last_key))

    def list_by_status(self, status: JobStatus, limit: int = 20) -> list[Job]:
        check_page_size(limit, maximum=None)
        jobs: list[Job] = []
        for item in self.query_all(
            IndexName=schema.BY_STATUS.name,
            KeyConditionExpression=f"{schema.BY_STATUS.partition_key} = :pk",
            ExpressionAttributeValues={":pk": {"S": schema.status_pk(JobStatus(status))}},
            Limit=limit,
        ):
            jobs.append(job_from_item(item))
            if len(jobs) == limit:
                break
        return jobs


def _plain_models(
    models: tuple[Caption, ...] | tuple[OutputFile, ...] | tuple[AudioLoudness, ...] | tuple[JobCost, ...],
) -> list[Any]:
    """Models as the job item holds them (what `job_attributes` writes): JSON values, Decimal numbers."""
    return [json.loads(model.model_dump_json(exclude_none=True), parse_float=Decimal) for model in models]


def _wire_key(key: Mapping[str, str]) -> dict[str, Any]:
    return {name: {"S": value} for name, value in key.items()}


def _position(key: Mapping[str, Any]) -> Position:
    """Where a page ended, from the last item read or DynamoDB's LastEvaluatedKey (both carry the index key)."""
    return Position.of_key({name: key[name]["S"] for name in (_PK, schema.BY_OWNER.sort_key)})


if TYPE_CHECKING:

    def _implements_port(repository: DynamoDBJobRepository) -> JobRepository:
        return repository
