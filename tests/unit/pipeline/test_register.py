"""RegisterJob: an upload's event, or the API's retry, moves (or creates) the job to PROCESSING exactly once."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from lambdas.events import RetryRequested
from lambdas.jobs.model import Job, JobStatus, OutputKind, Source, new_job_id
from lambdas.jobs.ports import JobNotFound
from lambdas.jobs.transitions import retry, transition
from lambdas.pipeline.config import PipelineConfig
from lambdas.pipeline.errors import DuplicateEvent, TransientError, UnrecognisedUpload
from lambdas.pipeline.register import RegisterRequest, register
from lambdas.storage.ports import StoreUnavailable
from tests.fakes.jobs import InMemoryJobRepository
from tests.fakes.storage import DirectoryMediaStore
from tests.unit.pipeline.conftest import EXECUTION, UPLOADS, s3_event, upload_key

NOW = datetime(2025, 3, 1, 12, tzinfo=UTC)
OTHER_EXECUTION = EXECUTION.replace(":first", ":second")


def request(key: str, execution: str = EXECUTION, bucket: str = UPLOADS) -> RegisterRequest:
    return RegisterRequest.model_validate({"event": s3_event(key, 4321, bucket), "execution_arn": execution})


def api_job(repo: InMemoryJobRepository, status: JobStatus = JobStatus.UPLOADING) -> Job:
    """A job as the API creates it before the upload."""
    job_id = new_job_id()
    job = Job.new(
        job_id=job_id,
        owner="alice",
        source=Source(bucket=UPLOADS, key=upload_key(job_id)),
        requested_renditions=("180p",),
        priority=8,
        now=NOW,
    )
    repo.create(job)
    if status is JobStatus.QUEUED:
        job = repo.save_transition(job, transition(job, JobStatus.QUEUED, NOW))
    return job


def test_unknown_job_is_created_from_key_and_metadata(
    repo: InMemoryJobRepository, store: DirectoryMediaStore, config: PipelineConfig
) -> None:
    job_id = new_job_id()
    store.put_bytes(UPLOADS, upload_key(job_id, "bob"), b"x", metadata={"priority": "9", "renditions": "120p,nope"})
    job = register(request(upload_key(job_id, "bob")), repo, store, config)
    assert (job.job_id, job.owner, job.status) == (job_id, "bob", JobStatus.PROCESSING)
    assert (job.priority, job.requested_renditions) == (9, ("120p",))
    assert OutputKind.MP4 in job.requested_outputs
    assert job.execution_arn == EXECUTION
    assert (job.source.size, job.source.etag) == (4321, "d41d8cd98f00b204e9800998ecf8427e")
    assert job.queued_at is not None
    assert job.started_at is not None
    assert repo.get(job_id) == job


def test_unknown_job_without_metadata_gets_the_defaults(
    repo: InMemoryJobRepository, store: DirectoryMediaStore, config: PipelineConfig
) -> None:
    job_id = new_job_id()
    store.put_bytes(UPLOADS, upload_key(job_id), b"x", metadata={"priority": "eleven"})
    job = register(request(upload_key(job_id)), repo, store, config)
    assert job.priority == 5
    assert job.requested_renditions == ("240p", "180p", "120p")


@pytest.mark.parametrize("status", [JobStatus.UPLOADING, JobStatus.QUEUED])
def test_job_created_by_the_api_moves_to_processing(
    repo: InMemoryJobRepository, store: DirectoryMediaStore, config: PipelineConfig, status: JobStatus
) -> None:
    created = api_job(repo, status)
    job = register(request(created.source.key), repo, store, config)
    assert job.status is JobStatus.PROCESSING
    assert (job.priority, job.requested_renditions) == (8, ("180p",))  # the API's choices stand
    assert job.source.size == 4321
    assert job.execution_arn == EXECUTION
    assert not store.calls  # no metadata lookup for a known job


def test_lambda_retry_of_the_same_execution_is_idempotent(
    repo: InMemoryJobRepository, store: DirectoryMediaStore, config: PipelineConfig
) -> None:
    created = api_job(repo)
    first = register(request(created.source.key), repo, store, config)
    again = register(request(created.source.key), repo, store, config)
    assert again == first
    assert repo.get(created.job_id).version == first.version


@pytest.mark.parametrize("later", [JobStatus.PROCESSING, JobStatus.COMPLETED, JobStatus.CANCELLED])
def test_a_second_execution_is_a_duplicate(
    repo: InMemoryJobRepository, store: DirectoryMediaStore, config: PipelineConfig, later: JobStatus
) -> None:
    created = api_job(repo)
    job = register(request(created.source.key), repo, store, config)
    if later is not JobStatus.PROCESSING:
        job = repo.save_transition(job, transition(job, later, NOW))
    with pytest.raises(DuplicateEvent) as caught:
        register(request(created.source.key, OTHER_EXECUTION), repo, store, config)
    assert caught.value.status is later
    assert repo.get(created.job_id) == job


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
def test_keys_outside_the_layout_are_unrecognised(
    repo: InMemoryJobRepository, store: DirectoryMediaStore, config: PipelineConfig, key: str
) -> None:
    with pytest.raises(UnrecognisedUpload):
        register(request(key), repo, store, config)


def test_other_buckets_are_unrecognised(
    repo: InMemoryJobRepository, store: DirectoryMediaStore, config: PipelineConfig
) -> None:
    with pytest.raises(UnrecognisedUpload):
        register(request(upload_key(new_job_id()), bucket="someone-elses"), repo, store, config)


def test_store_throttling_is_a_transient_error(
    repo: InMemoryJobRepository, store: DirectoryMediaStore, config: PipelineConfig
) -> None:
    job_id = new_job_id()
    store.put_bytes(UPLOADS, upload_key(job_id), b"x")
    store.fail_next.append(StoreUnavailable("SlowDown"))
    with pytest.raises(TransientError):
        register(request(upload_key(job_id)), repo, store, config)
    assert register(request(upload_key(job_id)), repo, store, config).status is JobStatus.PROCESSING


# --- a retry: the API's event names the job and the attempt it queued -----------------------------------


def retried(repo: InMemoryJobRepository, store: DirectoryMediaStore, config: PipelineConfig) -> Job:
    """A job that ran once, failed, and was queued again by the API's retry."""
    job = register(request(api_job(repo).source.key), repo, store, config)
    failed = repo.save_transition(job, transition(job, JobStatus.FAILED, NOW, error_type="SourceUnreadable"))
    return repo.save_transition(failed, retry(failed, NOW))


def retry_request(job: Job, execution: str = OTHER_EXECUTION) -> RegisterRequest:
    return RegisterRequest.model_validate({"event": RetryRequested.of(job).payload(), "execution_arn": execution})


def test_a_retry_takes_the_queued_job_to_processing_with_its_own_source(
    repo: InMemoryJobRepository, store: DirectoryMediaStore, config: PipelineConfig
) -> None:
    queued = retried(repo, store, config)
    job = register(retry_request(queued), repo, store, config)
    assert (job.status, job.retry_count, job.execution_arn) == (JobStatus.PROCESSING, 1, OTHER_EXECUTION)
    assert job.source == queued.source
    assert register(retry_request(queued), repo, store, config) == job, "a Lambda retry changes nothing"
    assert not store.calls  # nothing to look up: the job knows its source


def test_a_superseded_retry_is_a_duplicate(
    repo: InMemoryJobRepository, store: DirectoryMediaStore, config: PipelineConfig
) -> None:
    first = retried(repo, store, config)
    failed = repo.save_transition(first, transition(first, JobStatus.FAILED, NOW, error_type="RetryNotStarted"))
    second = repo.save_transition(failed, retry(failed, NOW))
    with pytest.raises(DuplicateEvent):
        register(retry_request(first), repo, store, config)
    assert repo.get(second.job_id) == second
    assert register(retry_request(second), repo, store, config).status is JobStatus.PROCESSING


def test_a_retry_of_a_job_that_is_gone_creates_nothing(
    repo: InMemoryJobRepository, store: DirectoryMediaStore, config: PipelineConfig
) -> None:
    job_id = new_job_id()
    job = Job.new(
        job_id=job_id,
        owner="alice",
        source=Source(bucket=UPLOADS, key=upload_key(job_id)),
        requested_renditions=("180p",),
        now=NOW,
    ).model_copy(update={"retry_count": 1})
    with pytest.raises(JobNotFound):
        register(retry_request(job), repo, store, config)
    with pytest.raises(JobNotFound):
        repo.get(job_id)
