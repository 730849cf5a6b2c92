"""An upload's S3 event -> its job QUEUED: created for an upload the API did not see, moved on if the API's
complete call was lost after S3 assembled the object."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from lambdas.events import ObjectCreated
from lambdas.jobs.model import Clock, EventKind, Job, JobEvent, JobStatus, JobStep, OutputKind, Source, utc_now
from lambdas.jobs.ports import ConcurrentUpdate, IllegalTransition, JobAlreadyExists, JobNotFound, JobRepository
from lambdas.jobs.transitions import transition
from lambdas.keys import SOURCE_KEY
from lambdas.pipeline.errors import UnrecognisedUpload
from lambdas.storage.ports import MediaStore

DEFAULT_PRIORITY = 5
# Jobs created here (the upload did not go through the API) get every output.
DEFAULT_OUTPUTS = (OutputKind.HLS, OutputKind.MP4, OutputKind.THUMBNAILS)
_ATTEMPTS = 5


@dataclass(frozen=True)
class Upload:
    owner: str
    job_id: str
    source: Source


def parse_key(key: str) -> tuple[str, str]:
    """(owner, job_id) from an upload key; UnrecognisedUpload if it does not follow the layout."""
    match = SOURCE_KEY.fullmatch(key)
    if match is None:
        raise UnrecognisedUpload(f"object key {key!r} is not uploads/<owner>/<job id>/source")
    return match["owner"], match["job_id"]


def upload_of(event: ObjectCreated, uploads_bucket: str) -> Upload:
    detail = event.detail
    if detail.bucket.name != uploads_bucket:
        raise UnrecognisedUpload(f"bucket {detail.bucket.name!r} is not the uploads bucket")
    owner, job_id = parse_key(detail.object.key)
    size = None if detail.object.size is None else int(detail.object.size)  # Powertools reads it as a float
    source = Source(bucket=detail.bucket.name, key=detail.object.key, size=size, etag=detail.object.etag or None)
    return Upload(owner=owner, job_id=job_id, source=source)


def queue_upload(
    upload: Upload,
    repository: JobRepository,
    store: MediaStore,
    renditions: tuple[str, ...],
    *,
    clock: Clock = utc_now,
) -> Job:
    """The upload's job, QUEUED (or as it is, if it moved on already)."""
    for _ in range(_ATTEMPTS):
        try:
            job = repository.get(upload.job_id)
        except JobNotFound:
            job = _new_job(upload, store=store, renditions=renditions, now=clock())
            try:
                repository.create(job)
            except JobAlreadyExists:
                continue
            repository.append_event(
                job.job_id,
                JobEvent(time=clock(), step=JobStep.REGISTERED, kind=EventKind.FINISHED, message=_received(job.source)),
            )
            return job
        if job.status is not JobStatus.UPLOADING:
            return job
        try:
            queued = repository.save_transition(
                job, transition(job, JobStatus.QUEUED, clock(), source=_merged(job.source, upload.source))
            )
        except (ConcurrentUpdate, IllegalTransition):
            continue  # the API completed or cancelled it meanwhile: look again
        repository.append_event(
            job.job_id,
            JobEvent(time=clock(), step=JobStep.REGISTERED, kind=EventKind.FINISHED, message=_received(queued.source)),
        )
        return queued
    return repository.get(upload.job_id)


def _received(source: Source) -> str:
    size = f"{source.size} bytes" if source.size is not None else "size unknown"
    return f"upload received ({size})"


def _merged(stored: Source, event: Source) -> Source:
    """The stored source, completed with what the event knows (size and etag once the upload is done)."""
    if stored.key != event.key or stored.bucket != event.bucket:
        return stored
    return stored.model_copy(update={"size": event.size or stored.size, "etag": event.etag or stored.etag})


def _new_job(upload: Upload, *, store: MediaStore, renditions: tuple[str, ...], now: datetime) -> Job:
    metadata = store.head(upload.source.bucket, upload.source.key).metadata
    job = Job.new(
        job_id=upload.job_id,
        owner=upload.owner,
        source=upload.source,
        requested_renditions=requested_renditions(metadata, renditions),
        requested_outputs=DEFAULT_OUTPUTS,
        priority=requested_priority(metadata),
        now=now,
    )
    # Created by the upload itself, so it is queued at once (one write fewer than UPLOADING -> QUEUED).
    return Job.model_validate({**dict(job), "status": JobStatus.QUEUED, "queued_at": now})


def requested_renditions(metadata: Mapping[str, str], names: tuple[str, ...]) -> tuple[str, ...]:
    """`x-amz-meta-renditions: 720p,360p` narrows the ladder; unknown or missing names mean all of it."""
    asked = [part.strip() for part in metadata.get("renditions", "").split(",")]
    chosen = tuple(dict.fromkeys(name for name in asked if name in names))
    return chosen or names


def requested_priority(metadata: Mapping[str, str]) -> int:
    """`x-amz-meta-priority: 1..10`; anything else is the default."""
    text = metadata.get("priority", "").strip()
    return int(text) if text.isdigit() and 1 <= int(text) <= 10 else DEFAULT_PRIORITY
