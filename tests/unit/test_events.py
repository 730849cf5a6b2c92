"""The events: what wakes the scheduler (S3's upload, a queued or ended job, the tick) and the workflow's input."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import TypeAdapter, ValidationError

from lambdas.events import (
    JobAdmitted,
    JobFinished,
    JobQueued,
    ObjectCreated,
    ScheduledTick,
    SchedulerEvent,
    bus_entry,
    execution_name,
)
from lambdas.jobs.model import Job, Source, new_job_id, utc_now
from tests.unit.pipeline.conftest import UPLOADS, s3_event, upload_key

EVENTS: TypeAdapter[Any] = TypeAdapter(SchedulerEvent)


def envelope(detail_type: str, source: str, detail: dict[str, Any]) -> dict[str, Any]:
    return {
        "version": "0", "id": "e1", "detail-type": detail_type, "source": source, "account": "000000000000",
        "time": "2026-01-01T00:00:00Z", "region": "us-east-1", "resources": [], "detail": detail,
    }  # fmt: skip


def test_s3s_event_is_an_upload() -> None:
    key = upload_key(new_job_id())
    event = EVENTS.validate_python(s3_event(key, 4321))
    assert isinstance(event, ObjectCreated)
    assert (event.detail.bucket.name, event.detail.object.key, event.detail.object.size) == (UPLOADS, key, 4321)


def test_the_buss_own_events_name_a_job() -> None:
    job_id = new_job_id()
    entry = bus_entry("Job Finished", "vodpipe.workflow", job_id, "default")
    event = EVENTS.validate_python(envelope(entry["DetailType"], entry["Source"], json.loads(entry["Detail"])))
    assert isinstance(event, JobFinished)
    assert event.detail.job_id == job_id
    assert isinstance(EVENTS.validate_python(envelope("Job Queued", "vodpipe.api", {"job_id": job_id})), JobQueued)
    assert isinstance(EVENTS.validate_python(envelope("Scheduled Event", "aws.events", {})), ScheduledTick)


def test_an_admission_survives_json_and_names_its_attempt() -> None:
    job_id = new_job_id()
    job = Job.new(
        job_id=job_id, owner="alice", source=Source(bucket=UPLOADS, key=upload_key(job_id)),
        requested_renditions=("240p",), now=utc_now(),
    ).model_copy(update={"retry_count": 2})  # fmt: skip
    payload = json.loads(json.dumps(JobAdmitted.of(job).payload()))
    assert payload == {
        "detail-type": "Job Admitted",
        "source": "vodpipe.queue",
        "detail": {"job_id": job_id, "owner": "alice", "attempt": 2, "object": {"key": upload_key(job_id)}},
    }
    assert JobAdmitted.model_validate(payload) == JobAdmitted.of(job)
    assert execution_name(job) == f"{job_id}-a2"


@pytest.mark.parametrize(
    "payload",
    [
        {**s3_event("k"), "detail-type": "Object Deleted"},
        envelope("Job Finished", "vodpipe.workflow", {"job_id": "nope"}),
        envelope("Job Retry Requested", "vodpipe.api", {"job_id": new_job_id()}),
        {"detail": {"bucket": {"name": "b"}, "object": {"key": "k"}}},
    ],
)
def test_anything_else_is_refused(payload: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        EVENTS.validate_python(payload)
