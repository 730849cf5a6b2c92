"""The workflow's input: S3's event or the API's retry, told apart by detail-type; what each carries."""

from __future__ import annotations

import json

import pytest
from pydantic import TypeAdapter, ValidationError

from lambdas.events import ObjectCreated, RetryRequested, WorkflowEvent
from lambdas.jobs.model import Job, Source, new_job_id, utc_now
from tests.unit.pipeline.conftest import UPLOADS, s3_event, upload_key

JOB_ID = new_job_id()
EVENTS: TypeAdapter[ObjectCreated | RetryRequested] = TypeAdapter(WorkflowEvent)


def test_s3s_event_is_an_upload() -> None:
    key = upload_key(new_job_id())
    event = EVENTS.validate_python(s3_event(key, 4321))
    assert isinstance(event, ObjectCreated)
    assert (event.detail.bucket.name, event.detail.object.key, event.detail.object.size) == (UPLOADS, key, 4321)
    assert event.detail.object.sequencer == "0062"


def test_the_apis_retry_is_a_retry_and_survives_json() -> None:
    job_id = new_job_id()
    job = Job.new(
        job_id=job_id,
        owner="alice",
        source=Source(bucket=UPLOADS, key=upload_key(job_id)),
        requested_renditions=("240p",),
        now=utc_now(),
    ).model_copy(update={"retry_count": 2})
    payload = json.loads(json.dumps(RetryRequested.of(job).payload()))
    assert payload == {
        "detail-type": "Job Retry Requested",
        "source": "vodpipe.api",
        "detail": {"job_id": job_id, "attempt": 2, "object": {"key": upload_key(job_id)}},
    }
    event = EVENTS.validate_python(payload)
    assert isinstance(event, RetryRequested)
    assert (event.detail.job_id, event.detail.attempt) == (job_id, 2)


@pytest.mark.parametrize(
    "payload",
    [
        {**s3_event("k"), "detail-type": "Object Deleted"},
        {"detail-type": "Job Retry Requested", "detail": {"job_id": "nope", "attempt": 1, "object": {"key": "k"}}},
        {
            "detail-type": "Job Retry Requested",
            "detail": {"job_id": new_job_id(), "attempt": 0, "object": {"key": "k"}},
        },
        {"detail": {"bucket": {"name": "b"}, "object": {"key": "k"}}},
    ],
)
def test_anything_else_is_refused(payload: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        EVENTS.validate_python(payload)
