"""Uploads: a job and its S3 multipart upload are created together; parts go straight to S3; completing queues it."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import suppress
from datetime import timedelta
from urllib.parse import quote

from lambdas.api.access import check_priority, owned_job
from lambdas.api.clips import clip_spec, outputs_for_mode
from lambdas.api.config import ApiConfig
from lambdas.api.errors import Conflict, InvalidInput, TooManyRequests, Unavailable, unavailable
from lambdas.api.models import (
    DEFAULT_PART_SIZE,
    MAX_PRESIGNED_PARTS,
    CompleteUpload,
    CreateUpload,
    PartUrl,
    PresignedParts,
    UploadCreated,
    UploadPart,
    UploadParts,
    public_job,
)
from lambdas.api.outputs import resolve_outputs
from lambdas.api.owner import Caller
from lambdas.jobs.model import (
    Clock,
    EventKind,
    Job,
    JobEvent,
    JobKind,
    JobStatus,
    JobStep,
    Source,
    Upload,
    new_job_id,
    utc_now,
)
from lambdas.jobs.ports import ConcurrentUpdate, IllegalTransition, JobRepository
from lambdas.jobs.transitions import transition
from lambdas.keys import source_key
from lambdas.quotas.ports import QuotaStore
from lambdas.quotas.service import QuotaExceeded, Quotas
from lambdas.storage.ports import MAX_PARTS, PartsRejected, UploadedPart, UploadNotFound, UploadStore

DEFAULT_CONTENT_TYPE = "application/octet-stream"
_MIB = 2**20
_ATTEMPTS = 5


def plan_parts(size: int, requested: int | None) -> tuple[int, int]:
    """(part size, part count) for `size` bytes: the requested size (8 MiB by default), raised to a
    whole MiB where needed so the file fits in S3's 10,000 parts."""
    part_size = requested or DEFAULT_PART_SIZE
    needed = -(-size // MAX_PARTS)
    if part_size < needed:
        part_size = -(-needed // _MIB) * _MIB
    return part_size, -(-size // part_size)


class UploadService:
    def __init__(
        self,
        repository: JobRepository,
        uploads: UploadStore,
        config: ApiConfig,
        *,
        quotas: QuotaStore,
        clock: Clock = utc_now,
    ) -> None:
        self._repository, self._uploads, self._config, self._clock = repository, uploads, config, clock
        self._quotas = Quotas(quotas, config.queue)

    # --- create ----------------------------------------------------------------------------------

    def create(self, caller: Caller | str, request: CreateUpload) -> UploadCreated:
        """A new job, UPLOADING, and its multipart upload. Refused, in this order: a priority above the caller's
        tier (403), a file over the size limit (422, before any quota counts it), max_queued_jobs_per_user
        jobs already waiting (429, Retry-After 30 s), max_uploads_per_hour reached (429, Retry-After: the next
        UTC hour). The waiting jobs are compared with the stored count, not reserved: concurrent requests of
        one user may pass together and leave them a few jobs over the limit. A bare owner is a user's caller
        with no tier restriction.
        """
        caller = Caller(owner=caller) if isinstance(caller, str) else caller
        owner = caller.owner
        check_priority(caller, request.priority)
        if request.size > self._config.max_upload_bytes:
            raise InvalidInput(
                f"size: the file is {request.size} bytes; the limit is {self._config.max_upload_bytes}",
                field="size",
            )
        clip = None
        if request.clip is not None:
            # The source's length is known once it is probed: ProbeSource fails a clip past it.
            clip = clip_spec(request.clip, max_seconds=self._config.max_clip_seconds, duration_s=None)
            request = outputs_for_mode(request, clip.mode)
        spec = resolve_outputs(
            request,
            self._config.catalog(),
            audio_file=request.audio_file,
            private_supported=self._config.private_playback,
        )
        now = self._clock()
        try:
            with unavailable():
                self._quotas.admit_upload(owner, now)
        except QuotaExceeded as refused:
            raise TooManyRequests(refused.message, refused.retry_after_s) from None
        part_size, part_count = plan_parts(request.size, request.part_size)
        job_id = new_job_id(now)
        bucket, key = self._config.uploads_bucket, source_key(owner, job_id)
        renditions = spec.requested_renditions
        metadata = {
            # S3 metadata travels as HTTP headers: ASCII only, so the name is percent-encoded.
            "file-name": quote(request.file_name, safe=""),
            "owner": owner,
            "job-id": job_id,
            "priority": str(request.priority),
            "renditions": ",".join(renditions),
        }
        with unavailable():
            upload_id = self._uploads.start(
                bucket, key, content_type=request.content_type or DEFAULT_CONTENT_TYPE, metadata=metadata
            )
        job = spec.new_job(
            job_id=job_id,
            owner=owner,
            source=Source(bucket=bucket, key=key),
            priority=request.priority,
            now=now,
            notify_email=caller.email,
            kind=JobKind.TRANSCODE if clip is None else JobKind.CLIP,
            clip=clip,
            upload=Upload(
                upload_id=upload_id,
                file_name=request.file_name,
                size=request.size,
                content_type=request.content_type,
                part_size=part_size,
                part_count=part_count,
            ),
        )
        try:
            with unavailable():
                self._repository.create(job)
                self._event(job_id, f"upload started: {request.file_name} ({request.size} bytes, {part_count} parts)")
        except Exception:
            with suppress(Exception):
                self._uploads.abort(bucket, key, upload_id)  # no job, no upload
            raise
        first = range(1, min(part_count, MAX_PRESIGNED_PARTS) + 1)
        presigned = self._presign(job, first)
        return UploadCreated(
            job=public_job(job),
            upload_id=upload_id,
            key=key,
            part_size=part_size,
            part_count=part_count,
            parts=presigned.parts,
            expires_at=presigned.expires_at,
        )

    # --- parts -----------------------------------------------------------------------------------

    def list_parts(self, owner: str, job_id: str) -> UploadParts:
        job, upload = self._uploading(owner, job_id)
        parts = self._received(job)
        return UploadParts(
            job_id=job_id,
            upload_id=upload.upload_id,
            part_size=upload.part_size,
            part_count=upload.part_count,
            parts=[UploadPart(part_number=p.part_number, etag=p.etag, size=p.size) for p in parts],
        )

    def presign_parts(self, owner: str, job_id: str, part_numbers: Sequence[int]) -> PresignedParts:
        job, upload = self._uploading(owner, job_id)
        for index, number in enumerate(part_numbers):
            if number > upload.part_count:
                raise InvalidInput(
                    f"part {number} does not exist: the upload has {upload.part_count} parts",
                    field=f"part_numbers[{index}]",
                )
        return self._presign(job, sorted(set(part_numbers)))

    def _presign(self, job: Job, numbers: Sequence[int] | range) -> PresignedParts:
        assert job.upload is not None
        expiry = self._config.presign_expiry_seconds
        expires_at = self._clock() + timedelta(seconds=expiry)
        with unavailable():
            urls = [
                PartUrl(
                    part_number=number,
                    url=self._uploads.presign_part(
                        job.source.bucket, job.source.key, job.upload.upload_id, number, expiry
                    ),
                )
                for number in numbers
            ]
        return PresignedParts(parts=urls, expires_at=expires_at)

    # --- complete and cancel ---------------------------------------------------------------------

    def complete(self, owner: str, job_id: str, request: CompleteUpload) -> Job:
        """The job QUEUED once S3 has assembled the object (or already later, if the workflow was quicker).

        Completing again after success answers the job as it is: a client whose response was lost retries.
        """
        job = self._get(owner, job_id)
        if job.status is not JobStatus.UPLOADING:
            if job.status in {JobStatus.QUEUED, JobStatus.PROCESSING, JobStatus.COMPLETED} or job.queued_at:
                return job
            raise Conflict(f"job {job_id} is {job.status}: the upload can no longer be completed")
        upload = _upload_of(job)
        received = {part.part_number: part for part in self._received(job)}
        if request.parts is None:
            chosen = sorted(received)
        else:
            chosen = [part.part_number for part in request.parts]
            if chosen != list(range(1, len(chosen) + 1)):
                raise InvalidInput("parts must be numbered 1, 2, 3… in order, each once", field="parts")
        missing = [n for n in range(1, upload.part_count + 1) if n not in received]
        if missing or len(chosen) != upload.part_count:
            shown = ", ".join(map(str, missing[:20])) + ("…" if len(missing) > 20 else "")
            raise Conflict(f"the upload is incomplete: parts {shown or '(unlisted)'} have not arrived", field="parts")
        total = sum(part.size for part in received.values())
        if total != upload.size:
            raise Conflict(f"{total} bytes arrived but the upload declared {upload.size}", field="size")
        etags = (
            [(n, received[n].etag) for n in chosen]
            if request.parts is None
            else [(p.part_number, p.etag) for p in request.parts]
        )
        try:
            with unavailable():
                completed = self._uploads.complete(job.source.bucket, job.source.key, upload.upload_id, etags)
        except PartsRejected as error:
            raise Conflict(f"S3 refused the parts: {error}", field="parts") from None
        except UploadNotFound:
            return self._get(owner, job_id)  # completed meanwhile by a concurrent call
        source = job.source.model_copy(update={"size": total, "etag": completed.etag})
        queued = self._move(job, JobStatus.QUEUED, source=source)
        self._event(job_id, f"upload completed ({total} bytes)", kind=EventKind.FINISHED)
        return queued

    def cancel(self, owner: str, job_id: str) -> Job:
        """The job CANCELLED and its multipart upload discarded; cancelling twice is fine."""
        job = self._get(owner, job_id)
        if job.status is not JobStatus.CANCELLED:
            if job.status is not JobStatus.UPLOADING:
                raise Conflict(
                    f"job {job_id} is {job.status}: its upload is finished (DELETE /jobs/{job_id} cancels the job)"
                )
            job = self._move(job, JobStatus.CANCELLED)
            self._event(job_id, "upload cancelled by the user")
        if job.upload is not None and job.queued_at is None:
            with unavailable():
                self._uploads.abort(job.source.bucket, job.source.key, job.upload.upload_id)
        return job

    # --- helpers ---------------------------------------------------------------------------------

    def _get(self, owner: str, job_id: str) -> Job:
        return owned_job(self._repository, owner, job_id)

    def _uploading(self, owner: str, job_id: str) -> tuple[Job, Upload]:
        job = self._get(owner, job_id)
        upload = _upload_of(job)
        if job.status is not JobStatus.UPLOADING:
            raise Conflict(f"job {job_id} is {job.status}: its upload is no longer open")
        return job, upload

    def _received(self, job: Job) -> list[UploadedPart]:
        upload = _upload_of(job)
        try:
            with unavailable():
                return self._uploads.list_parts(job.source.bucket, job.source.key, upload.upload_id)
        except UploadNotFound:
            raise Conflict(f"job {job.job_id}: the upload is no longer open") from None

    def _move(self, job: Job, status: JobStatus, **changes: object) -> Job:
        """`job` moved to `status`, read again and redone if the workflow touched it meanwhile."""
        for _ in range(_ATTEMPTS):
            with unavailable():  # every read and write here: a table outage is a 503, not a 500
                try:
                    return self._repository.save_transition(job, transition(job, status, self._clock(), **changes))
                except ConcurrentUpdate:
                    job = self._repository.get(job.job_id)
                except IllegalTransition:
                    stored = self._repository.get(job.job_id)
                    if status is JobStatus.QUEUED and stored.queued_at is not None:
                        return stored  # RegisterJob took it from UPLOADING already: the upload did complete
                    raise Conflict(f"job {job.job_id} is {stored.status}: it cannot become {status}") from None
        raise Unavailable(f"job {job.job_id} kept changing; try again")

    def _event(self, job_id: str, message: str, *, kind: EventKind = EventKind.INFO) -> None:
        with unavailable():
            self._repository.append_event(
                job_id, JobEvent(time=self._clock(), step=JobStep.REGISTERED, kind=kind, message=message)
            )


def _upload_of(job: Job) -> Upload:
    if job.upload is None:
        # Created by a direct S3 upload (RegisterJob), not through the API: there is no upload to manage.
        raise Conflict(f"job {job.job_id} was not uploaded through the API")
    return job.upload
