"""Jobs-table items: jobs, events and work items to and from their attributes in DynamoDB's wire format."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

from lambdas.jobs import schema
from lambdas.jobs.model import WAITING_STATUSES, Job, JobEvent, utc_iso

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


def epoch(moment: datetime) -> int:
    return int(moment.timestamp())


def job_key(job_id: str) -> dict[str, Any]:
    """The job item's primary key, in wire format."""
    return {schema.PARTITION_KEY: {"S": schema.job_pk(job_id)}, schema.SORT_KEY: {"S": schema.JOB_SK}}


def job_attributes(job: Job, retention: timedelta = schema.RETENTION) -> dict[str, Any]:
    """The job item as plain values (Decimal numbers, absent Nones) with its key and TTL attributes."""
    item: dict[str, Any] = json.loads(job.model_dump_json(exclude_none=True), parse_float=Decimal)
    created = utc_iso(job.created_at)
    owner_sk = schema.owner_sk(created, job.job_id)
    item |= {
        schema.PARTITION_KEY: schema.job_pk(job.job_id),
        schema.SORT_KEY: schema.JOB_SK,
        schema.BY_OWNER.partition_key: schema.owner_pk(job.owner),
        schema.BY_OWNER.sort_key: owner_sk,
        schema.BY_STATUS.partition_key: schema.status_pk(job.status),
        schema.BY_STATUS.sort_key: schema.status_sk(job.priority, utc_iso(job.queued_at or job.created_at), job.job_id),
    }
    if job.status in WAITING_STATUSES:
        item |= {
            schema.WAITING_BY_OWNER.partition_key: schema.waiting_pk(job.owner),
            schema.WAITING_BY_OWNER.sort_key: owner_sk,
        }
    for index, moment in ((schema.BY_STARTED, job.started_at), (schema.BY_COMPLETED, job.completed_at)):
        if moment is not None:
            stamp = utc_iso(moment)
            item |= {index.partition_key: schema.day_pk(stamp[:10]), index.sort_key: f"{stamp}#{job.job_id}"}
    if job.status.terminal and job.completed_at is not None:
        item[schema.TTL_ATTRIBUTE] = epoch(job.completed_at + retention)
    return item


def event_attributes(job_id: str, event: JobEvent, retention: timedelta = schema.RETENTION) -> dict[str, Any]:
    """The event item as plain values, all but its sort key (which holds a sequence number the write picks)."""
    values: dict[str, Any] = json.loads(event.model_dump_json(), parse_float=Decimal)
    values |= {schema.PARTITION_KEY: schema.job_pk(job_id), schema.TTL_ATTRIBUTE: epoch(event.time + retention)}
    return values


def work_attributes(
    job_id: str, attempt: int, item_id: str, now: datetime, retention: timedelta = schema.RETENTION
) -> dict[str, Any]:
    """The item recording one finished work item of an attempt."""
    return {
        schema.PARTITION_KEY: schema.job_pk(job_id),
        schema.SORT_KEY: schema.work_sk_prefix(attempt) + item_id,
        "done_at": utc_iso(now),
        schema.TTL_ATTRIBUTE: epoch(now + retention),
    }


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {key: _plain(inner) for key, inner in value.items()}
    if isinstance(value, list | set):
        return [_plain(inner) for inner in value]
    return value


def wire_value(value: Any) -> dict[str, Any]:
    return dict(_serializer.serialize(value))


def to_wire(values: Mapping[str, Any]) -> dict[str, Any]:
    return {name: wire_value(value) for name, value in values.items()}


def from_wire(item: Mapping[str, Any]) -> dict[str, Any]:
    return {name: _plain(_deserializer.deserialize(value)) for name, value in item.items()}


def job_from_item(item: Mapping[str, Any]) -> Job:
    values = from_wire(item)
    for name in (*schema.KEY_ATTRIBUTES, *schema.QUEUE_ATTRIBUTES, schema.TTL_ATTRIBUTE, schema.USAGE_ATTRIBUTE):
        values.pop(name, None)
    cause = values.pop(schema.ERROR_CAUSE_ATTRIBUTE, None)
    if cause is not None and not values.get("error_message"):
        values["error_message"] = error_message_from_cause(str(cause))
    return Job.model_validate(values)


def event_from_item(item: Mapping[str, Any]) -> JobEvent:
    values = from_wire(item)
    return JobEvent.model_validate({k: values[k] for k in JobEvent.model_fields if k in values})


def error_message_from_cause(cause: str) -> str:
    """The readable reason in a Step Functions Cause: a Lambda error's `errorMessage`, else the text itself."""
    try:
        document = json.loads(cause)
    except ValueError:
        return cause
    if isinstance(document, dict) and isinstance(document.get("errorMessage"), str):
        return str(document["errorMessage"])
    return cause
