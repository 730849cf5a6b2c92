"""An upload's S3 event queues its job: created from the key and metadata, or moved on from UPLOADING."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from lambdas.events import ObjectCreated
from lambdas.jobs.model import Job, JobStatus, OutputKind, Source, new_job_id
from lambdas.jobs.transitions import transition
from lambdas.pipeline.errors import UnrecognisedUpload
from lambdas.queue.intake import queue_upload, upload_of
from lambdas.storage.ports import StoreUnavailable
from tests.fakes.jobs import InMemoryJobRepository
from tests.fakes.storage import DirectoryMediaStore
from tests.unit.pipeline.conftest import UPLOADS, s3_event, upload_key

NOW = datetime(2025, 3, 1, 12, tzinfo=UTC)
NAMES = ("240p", "180p", "120p")


def upload(key: str, bucket: str = UPLOADS):  # type: ignore[no-untyped-def]
    return upload_of(ObjectCreated.model_validate(s3_event(key, 4321, bucket)), UPLOADS)


def api_job(repo: InMemoryJobRepository, status: JobStatus = JobStatus.UPLOADING) -> Job:
    job_id = new_job_id()
    job = Job.new(
        job_id=job_id, owner="alice", source=Source(bucket=UPLOADS, key=upload_key(job_id)),
        requested_renditions=("180p",), priority=8, now=NOW,
    )  # fmt: skip
    repo.create(job)
    if status is JobStatus.QUEUED:
        job = repo.save_transition(job, transition(job, JobStatus.QUEUED, NOW))
    return job


def test_an_unknown_job_is_created_queued_from_key_and_metadata(
    repo: InMemoryJobRepository, store: DirectoryMediaStore
) -> None:
    job_id = new_job_id()
    store.put_bytes(UPLOADS, upload_key(job_id, "bob"), b"x", metadata={"priority": "9", "renditions": "120p,nope"})
    job = queue_upload(upload(upload_key(job_id, "bob")), repo, store, NAMES)
    assert (job.job_id, job.owner, job.status) == (job_id, "bob", JobStatus.QUEUED)
    assert (job.priority, job.requested_renditions) == (9, ("120p",))
    assert OutputKind.MP4 in job.requested_outputs
    assert (job.source.size, job.source.etag) == (4321, "d41d8cd98f00b204e9800998ecf8427e")
    assert job.queued_at is not None
    assert job.started_at is None
    assert repo.get(job_id) == job


def test_an_unknown_job_without_metadata_gets_the_defaults(
    repo: InMemoryJobRepository, store: DirectoryMediaStore
) -> None:
    job_id = new_job_id()
    store.put_bytes(UPLOADS, upload_key(job_id), b"x", metadata={"priority": "eleven"})
    job = queue_upload(upload(upload_key(job_id)), repo, store, NAMES)
    assert (job.priority, job.requested_renditions) == (5, NAMES)


def test_an_api_job_left_uploading_is_queued_with_the_apis_choices(
    repo: InMemoryJobRepository, store: DirectoryMediaStore
) -> None:
    created = api_job(repo)
    job = queue_upload(upload(created.source.key), repo, store, NAMES)
    assert job.status is JobStatus.QUEUED
    assert (job.priority, job.requested_renditions, job.source.size) == (8, ("180p",), 4321)
    assert not store.calls  # no metadata lookup for a known job


def test_a_job_already_queued_or_later_is_left_as_it_is(
    repo: InMemoryJobRepository, store: DirectoryMediaStore
) -> None:
    created = api_job(repo, JobStatus.QUEUED)
    assert queue_upload(upload(created.source.key), repo, store, NAMES) == created
    assert queue_upload(upload(created.source.key), repo, store, NAMES) == created, "a redelivered event"


@pytest.mark.parametrize(
    "key",
    [
        "uploads/alice/source",
        "uploads/alice/not-a-ulid/source",
        "uploads/alice/01JNBF2MHT0000000000000000/source.mp4",
        "uploads/a/b/01JNBF2MHT0000000000000000/source",
        "outputs/alice/01JNBF2MHT0000000000000000/source",
    ],
)
def test_keys_outside_the_layout_are_unrecognised(key: str) -> None:
    with pytest.raises(UnrecognisedUpload):
        upload(key)


def test_other_buckets_are_unrecognised() -> None:
    with pytest.raises(UnrecognisedUpload):
        upload(upload_key(new_job_id()), bucket="someone-elses")


def test_a_store_outage_leaves_nothing_half_done(repo: InMemoryJobRepository, store: DirectoryMediaStore) -> None:
    job_id = new_job_id()
    store.put_bytes(UPLOADS, upload_key(job_id), b"x")
    store.fail_next.append(StoreUnavailable("SlowDown"))
    with pytest.raises(StoreUnavailable):
        queue_upload(upload(upload_key(job_id)), repo, store, NAMES)
    assert queue_upload(upload(upload_key(job_id)), repo, store, NAMES).status is JobStatus.QUEUED
