"""RegisterJob: an upload (S3's event) or a retry (the API's) makes the job PROCESSING for exactly one execution."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from pydantic import BaseModel, ConfigDict, Field

from lambdas.events import ObjectCreated, RetryRequested, WorkflowEvent
from lambdas.jobs.model import (
    Clock,
    EventKind,
    Job,
    JobEvent,
    JobStatus,
    JobStep,
    OutputKind,
    Source,
    utc_now,
)
from lambdas.jobs.ports import ConcurrentUpdate, JobAlreadyExists, JobNotFound, JobRepository
from lambdas.jobs.transitions import transition
from lambdas.keys import SOURCE_KEY
from lambdas.pipeline.config import PipelineConfig
from lambdas.pipeline.errors import DuplicateEvent, TransientError, UnrecognisedUpload, transient_errors
from lambdas.storage.ports import MediaStore

DEFAULT_PRIORITY = 5
# Jobs created here (the upload did not go through the API) get every output.
DEFAULT_OUTPUTS = (OutputKind.HLS, OutputKind.MP4, OutputKind.THUMBNAILS)
_ATTEMPTS = 5


class Registration(BaseModel):
    """What RegisterJob hands on to the workflow.

    `expires_at` (epoch seconds) is when the job's record may be dropped if the workflow ends it as FAILED:
    MarkFailed writes the job straight to DynamoDB and JSONPath has no date arithmetic, so the TTL is
    computed here, from the start of processing (a job runs minutes, the retention is days).
    """

    model_config = ConfigDict(frozen=True)

    job: Job
    expires_at: int


def registration(job: Job, config: PipelineConfig, clock: Clock = utc_now) -> Registration:
    deadline = clock() + timedelta(days=config.retention_days)
    return Registration(job=job, expires_at=int(deadline.timestamp()))


class RegisterRequest(BaseModel):
    """RegisterJob's payload as the state machine builds it: the execution's input event, and the execution."""

    model_config = ConfigDict(frozen=True)

    event: WorkflowEvent
    execution_arn: str = Field(min_length=1)


@dataclass(frozen=True)
class _Upload:
    owner: str
    job_id: str
    source: Source


def parse_key(key: str) -> tuple[str, str]:
    """(owner, job_id) from an upload key; UnrecognisedUpload if it does not follow the layout."""
    match = SOURCE_KEY.fullmatch(key)
    if match is None:
        raise UnrecognisedUpload(f"object key {key!r} is not uploads/<owner>/<job id>/source")
    return match["owner"], match["job_id"]


def register(
    request: RegisterRequest,
    repository: JobRepository,
    store: MediaStore,
    config: PipelineConfig,
    *,
    clock: Clock = utc_now,
) -> Job:
    """Move the job to PROCESSING for this execution (creating it for an upload the API did not see) and return it.

    Idempotent for a retry of the same execution; DuplicateEvent if another execution has it.
    """
    event = request.event
    if isinstance(event, RetryRequested):
        job_id, upload, attempt = event.detail.job_id, None, event.detail.attempt
    else:
        upload, attempt = _upload(event, config), None
        job_id = upload.job_id
    with transient_errors():
        for _ in range(_ATTEMPTS):
            try:
                return _register(
                    job_id=job_id,
                    upload=upload,
                    attempt=attempt,
                    execution_arn=request.execution_arn,
                    repository=repository,
                    store=store,
                    config=config,
                    clock=clock,
                )
            except (ConcurrentUpdate, JobAlreadyExists):
                continue  # the API touched the job meanwhile: read it again
    raise TransientError(f"job {job_id} kept changing while it was registered")


def _upload(event: ObjectCreated, config: PipelineConfig) -> _Upload:
    detail = event.detail
    if detail.bucket.name != config.uploads_bucket:
        raise UnrecognisedUpload(f"bucket {detail.bucket.name!r} is not the uploads bucket")
    owner, job_id = parse_key(detail.object.key)
    size = None if detail.object.size is None else int(detail.object.size)  # Powertools reads it as a float
    source = Source(bucket=detail.bucket.name, key=detail.object.key, size=size, etag=detail.object.etag or None)
    return _Upload(owner=owner, job_id=job_id, source=source)


def _register(
    *,
    job_id: str,
    upload: _Upload | None,
    attempt: int | None,
    execution_arn: str,
    repository: JobRepository,
    store: MediaStore,
    config: PipelineConfig,
    clock: Clock,
) -> Job:
    """`upload` for an upload's event, `attempt` for a retry's."""
    try:
        job = repository.get(job_id)
    except JobNotFound:
        if upload is None:
            raise  # the API queued the retried job moments ago: if it is gone, there is nothing to run
        job = _new_job(job_id, upload.owner, upload.source, store=store, config=config, now=clock())
        repository.create(job)
        repository.append_event(
            job_id, JobEvent(time=clock(), step=JobStep.REGISTERED, kind=EventKind.INFO, message="created from upload")
        )
    if attempt is not None and job.retry_count != attempt:
        raise DuplicateEvent(job_id, job.status)  # a later retry superseded this one: its own execution runs it
    source = job.source if upload is None else upload.source
    if job.status is JobStatus.UPLOADING:
        job = repository.save_transition(job, transition(job, JobStatus.QUEUED, clock(), source=source))
    if job.status is JobStatus.QUEUED:
        job = repository.save_transition(
            job,
            transition(
                job, JobStatus.PROCESSING, clock(), source=_merged(job.source, source), execution_arn=execution_arn
            ),
        )
        size = f"{source.size} bytes" if source.size is not None else "size unknown"
        repository.append_event(
            job_id,
            JobEvent(
                time=clock(), step=JobStep.REGISTERED, kind=EventKind.FINISHED, message=f"upload received ({size})"
            ),
        )
        return job
    if job.status is JobStatus.PROCESSING and job.execution_arn == execution_arn:
        return job  # this execution registered it already: a Lambda retry
    raise DuplicateEvent(job_id, job.status)


def _merged(stored: Source, event: Source) -> Source:
    """The stored source, completed with what the event knows (size and etag once the upload is done)."""
    if stored.key != event.key or stored.bucket != event.bucket:
        return stored  # a retry of an earlier upload: the job's own source stays authoritative
    return stored.model_copy(update={"size": event.size or stored.size, "etag": event.etag or stored.etag})


def _new_job(
    job_id: str, owner: str, source: Source, *, store: MediaStore, config: PipelineConfig, now: datetime
) -> Job:
    metadata = store.head(source.bucket, source.key).metadata
    job = Job.new(
        job_id=job_id,
        owner=owner,
        source=source,
        requested_renditions=requested_renditions(metadata, config),
        requested_outputs=DEFAULT_OUTPUTS,
        priority=requested_priority(metadata),
        now=now,
    )
    # Created by the upload itself, so it is queued at once (one write fewer than UPLOADING -> QUEUED).
    return Job.model_validate({**dict(job), "status": JobStatus.QUEUED, "queued_at": now})


def requested_renditions(metadata: Mapping[str, str], config: PipelineConfig) -> tuple[str, ...]:
    """`x-amz-meta-renditions: 720p,360p` narrows the ladder; unknown or missing names mean all of it."""
    names = [rung.name for rung in config.ladder.rungs]
    asked = [part.strip() for part in metadata.get("renditions", "").split(",")]
    chosen = tuple(dict.fromkeys(name for name in asked if name in names))
    return chosen or tuple(names)


def requested_priority(metadata: Mapping[str, str]) -> int:
    """`x-amz-meta-priority: 1..10`; anything else is the default."""
    text = metadata.get("priority", "").strip()
    return int(text) if text.isdigit() and 1 <= int(text) <= 10 else DEFAULT_PRIORITY
