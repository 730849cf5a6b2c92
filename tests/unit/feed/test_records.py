"""Stream records of the jobs table as Changes: item kinds, images read as DynamoDB stores them, REMOVE and INSERT."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from boto3.dynamodb.types import TypeSerializer

from lambdas.feed.records import (
    Change,
    ItemKind,
    MalformedRecord,
    Operation,
    deserialize,
    endpoint_view,
    item_kind,
    parse_record,
)
from lambdas.jobs import schema
from lambdas.jobs.items import event_attributes, job_attributes
from lambdas.jobs.model import EventKind, Job, JobEvent, JobStep, Source, new_job_id, utc_iso

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
STREAM_ARN = "arn:aws:dynamodb:us-east-1:000000000000:table/jobs/stream/2026-03-01T00:00:00.000"

_serializer = TypeSerializer()


def wire(item: Mapping[str, Any]) -> dict[str, Any]:
    return {name: _serializer.serialize(value) for name, value in item.items()}


def stream_record(
    old: Mapping[str, Any] | None,
    new: Mapping[str, Any] | None,
    *,
    sequence_number: str = "100000000000000000001",
    operation: str | None = None,
    created: float = T0.timestamp(),
) -> dict[str, Any]:
    """The record Lambda's event source mapping hands over for one write (NEW_AND_OLD_IMAGES)."""
    image = new if new is not None else old
    assert image is not None
    keys = {schema.PARTITION_KEY: image[schema.PARTITION_KEY], schema.SORT_KEY: image[schema.SORT_KEY]}
    dynamodb: dict[str, Any] = {
        "ApproximateCreationDateTime": created,
        "Keys": wire(keys),
        "SequenceNumber": sequence_number,
        "SizeBytes": 512,
        "StreamViewType": "NEW_AND_OLD_IMAGES",
    }
    if new is not None:
        dynamodb["NewImage"] = wire(new)
    if old is not None:
        dynamodb["OldImage"] = wire(old)
    return {
        "eventID": f"e{sequence_number}",
        "eventName": operation or ("INSERT" if old is None else "REMOVE" if new is None else "MODIFY"),
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": "us-east-1",
        "dynamodb": dynamodb,
        "eventSourceARN": STREAM_ARN,
    }


def job_item(job: Job, *, slot: bool = False) -> dict[str, Any]:
    """The job item exactly as the table holds it, with the queue's slot marker if `slot`."""
    item = job_attributes(job)
    if slot:
        item |= {
            schema.SLOT_ATTRIBUTE: job.retry_count,
            schema.BY_SLOT.partition_key: schema.SLOT_HOLDER,
            schema.BY_SLOT.sort_key: f"{utc_iso(job.started_at or job.updated_at)}#{job.job_id}",
        }
    return item


def job_record(old: Job | None, new: Job | None, **options: Any) -> dict[str, Any]:
    slots = options.pop("slots", (False, False))
    return stream_record(
        job_item(old, slot=slots[0]) if old else None, job_item(new, slot=slots[1]) if new else None, **options
    )


def log_item(job_id: str, event: JobEvent, seq: int = 0) -> dict[str, Any]:
    return event_attributes(job_id, event) | {schema.SORT_KEY: schema.event_sk(utc_iso(event.time), seq)}


def endpoint_item(owner: str, endpoint_id: str, **attributes: Any) -> dict[str, Any]:
    return {
        schema.PARTITION_KEY: schema.owner_pk(owner),
        schema.SORT_KEY: f"WEBHOOK#{endpoint_id}",
        "status": "enabled",
        "url": "https://hooks.example.com/vodpipe",
        "events": {"job.completed", "job.failed"},
        "description": "CI",
        "created_at": utc_iso(T0),
        "secrets": [{"secret": "whsec_c2VjcmV0", "created_at": utc_iso(T0)}],
        "failures": Decimal(3),
    } | attributes


def a_job(**changes: Any) -> Job:
    job = Job.new(
        owner="alice",
        source=Source(bucket="vodpipe-uploads", key="uploads/alice/x/source"),
        requested_renditions=("360p", "720p"),
        now=T0,
        job_id=new_job_id(T0),
    )
    return job.model_copy(update=changes)


def test_a_job_item_insert_has_only_a_new_image() -> None:
    job = a_job()
    change = parse_record(job_record(None, job))
    assert (change.operation, change.kind, change.job_id) == (Operation.INSERT, ItemKind.JOB, job.job_id)
    assert change.old is None
    assert change.new is not None
    assert change.new["owner"] == "alice"
    assert change.new["requested_renditions"] == ["360p", "720p"]
    assert (change.pk, change.sk) == (schema.job_pk(job.job_id), schema.JOB_SK)
    assert change.approximate_time == T0


def test_a_modify_has_both_images_numbers_as_decimal() -> None:
    job = a_job()
    change = parse_record(job_record(job, job.model_copy(update={"priority": 2, "revision": 2})))
    assert change.operation is Operation.MODIFY
    assert change.old is not None
    assert change.new is not None
    assert (change.old["priority"], change.new["priority"]) == (Decimal(5), Decimal(2))
    assert change.sequence_number == "100000000000000000001"


def test_a_remove_has_only_the_old_image() -> None:
    job = a_job()
    change = parse_record(job_record(job, None))
    assert (change.operation, change.new) == (Operation.REMOVE, None)
    assert change.old is not None


def test_log_entries_endpoints_and_the_rest_are_told_apart() -> None:
    job_id = new_job_id(T0)
    entry = JobEvent(time=T0, step=JobStep.REGISTERED, kind=EventKind.REPAIRED, message="repair: restarted")
    log = parse_record(stream_record(None, log_item(job_id, entry)))
    assert (log.kind, log.job_id, log.new and log.new["kind"]) == (ItemKind.LOG_ENTRY, job_id, "repaired")
    endpoint = parse_record(stream_record(None, endpoint_item("alice", "wh_01")))
    assert (endpoint.kind, endpoint.owner, endpoint.endpoint_id, endpoint.job_id) == (
        ItemKind.WEBHOOK_ENDPOINT,
        "alice",
        "wh_01",
        None,
    )
    assert item_kind(schema.job_pk(job_id), schema.work_sk_prefix(0) + "seg-0001") is ItemKind.OTHER
    assert item_kind(schema.QUEUE_PK, schema.RUNNING_SK) is ItemKind.OTHER
    assert item_kind("WEBHOOK#wh_01", "DELIVERY#msg_1") is ItemKind.OTHER
    assert item_kind(schema.quota_pk("alice"), schema.uploads_sk("2026-03-01T12")) is ItemKind.OTHER


def test_an_endpoints_public_view_never_shows_its_secrets() -> None:
    change = parse_record(stream_record(None, endpoint_item("alice", "wh_01")))
    assert change.new is not None
    view = endpoint_view("wh_01", change.new)
    assert view == {
        "id": "wh_01",
        "status": "enabled",
        "url": "https://hooks.example.com/vodpipe",
        "events": ["job.completed", "job.failed"],
        "description": "CI",
        "disabled_reason": None,
        "created_at": utc_iso(T0),
    }


def test_the_stream_apis_datetime_is_read_too() -> None:
    record = stream_record(None, endpoint_item("alice", "wh_01"))
    record["dynamodb"]["ApproximateCreationDateTime"] = T0
    assert parse_record(record).approximate_time == T0


@pytest.mark.parametrize(
    "record",
    [{}, {"eventName": "INSERT"}, {"eventName": "UPSERT", "dynamodb": {}}, {"eventName": "INSERT", "dynamodb": {}}],
)
def test_what_is_no_stream_record_is_malformed(record: dict[str, Any]) -> None:
    with pytest.raises(MalformedRecord):
        parse_record(record)


def test_a_change_is_plain_data() -> None:
    change = parse_record(job_record(None, a_job()))
    assert isinstance(change, Change)
    with pytest.raises(AttributeError):
        change.pk = "other"  # type: ignore[misc]


def test_an_empty_map_written_as_a_bare_object_reads_as_an_empty_map() -> None:
    # LocalStack's v2 stream images hold `{}` where the item holds {"M": {}} (seen on 2026.3.0).
    image = {"rendition_progress": {}, "outputs": {"M": {"files": {"L": [{}]}, "warnings": {"L": []}}}}
    assert deserialize(image) == {"rendition_progress": {}, "outputs": {"files": [{}], "warnings": []}}
