"""Clips of a caller's job: a job of its own (kind clip), cut from the parent's original source, queued at once."""

from __future__ import annotations

from aws_lambda_powertools import Logger

from lambdas.api.access import check_priority, owned_job
from lambdas.api.config import ApiConfig
from lambdas.api.errors import Conflict, InvalidInput, TooManyRequests, unavailable
from lambdas.api.models import ClipRange, CreateClip, OutputRequest, file_extension
from lambdas.api.outputs import resolve_outputs
from lambdas.api.owner import Caller
from lambdas.jobs.model import (
    ClipMode,
    ClipSpec,
    Clock,
    EventKind,
    Job,
    JobEvent,
    JobKind,
    JobStatus,
    JobStep,
    OutputKind,
    new_job_id,
    utc_now,
)
from lambdas.jobs.ports import JobRepository
from lambdas.media.clip import range_problem
from lambdas.media.policy import AUDIO_FILE_EXTENSIONS
from lambdas.queue.eventbridge import SignalsUnavailable
from lambdas.queue.ports import QueueSignals
from lambdas.quotas.ports import QuotaStore
from lambdas.quotas.service import QuotaExceeded, Quotas
from lambdas.storage.ports import MediaStore, ObjectNotFound

logger = Logger(child=True)


def clip_spec(request: ClipRange, *, max_seconds: float, duration_s: float | None, offset_s: float = 0.0) -> ClipSpec:
    """The clip a range asks for, in the source's seconds (`offset_s`: where the parent's own range starts in it),
    or InvalidInput naming the field: end <= start, shorter than 0.1 s, longer than `max_seconds`, past
    `duration_s` (None: not known yet, as for an upload's own clip; the pipeline checks it then)."""
    problem = range_problem(request.start_s, request.end_s, max_seconds=max_seconds, duration_s=duration_s)
    if problem is not None:
        field = problem.split(":", 1)[0]
        raise InvalidInput(problem, field=field)
    return ClipSpec(
        start_s=round(offset_s + request.start_s, 6),
        end_s=round(offset_s + request.end_s, 6),
        mode=ClipMode(request.mode),
    )


def outputs_for_mode[R: OutputRequest](request: R, mode: ClipMode) -> R:
    """The request as a clip in `mode` makes it: a fast clip is one copied file (mp4), whatever the preset says;
    asking a fast clip for anything else is a 422 naming `outputs`."""
    if mode is not ClipMode.FAST:
        return request
    if request.outputs is not None and set(request.outputs) != {OutputKind.MP4.value}:
        asked = ", ".join(sorted(request.outputs))
        raise InvalidInput(
            f"outputs: a fast clip is one file copied from the source (mp4), it cannot make {asked}", field="outputs"
        )
    return request.model_copy(update={"outputs": [OutputKind.MP4.value]})


def parent_range(parent: Job) -> tuple[float, float | None]:
    """(where the parent's picture starts in its source, how long it is) as the clip's times are measured: a
    whole job from 0 for its source's duration; a clip job from where its clip really starts (a fast clip: its
    keyframe) for its clip's length. The duration is None when the parent has not been probed."""
    outputs = parent.outputs
    if parent.clip is not None:
        made = outputs.clip if outputs is not None else None
        start = made.start_s if made is not None else parent.clip.start_s
        length = made.duration_s if made is not None and made.duration_s is not None else parent.clip.duration_s
        if parent.source_duration_s is None and made is None:
            return start, None
        if parent.source_duration_s is not None:
            length = min(length, max(0.0, parent.source_duration_s - start))
        return start, length
    if parent.source_duration_s is not None:
        return 0.0, parent.source_duration_s
    # Completed before durations were stored: the streams' own length is the source's, to a frame.
    durations = [f.duration_seconds for f in (outputs.files if outputs else ()) if f.duration_seconds is not None]
    if parent.status is JobStatus.COMPLETED and durations:
        return 0.0, max(durations)
    return 0.0, None


class ClipService:
    def __init__(
        self,
        repository: JobRepository,
        sources: MediaStore,
        config: ApiConfig,
        *,
        quotas: QuotaStore,
        signals: QueueSignals,
        clock: Clock = utc_now,
    ) -> None:
        self._repository, self._sources, self._config, self._clock = repository, sources, config, clock
        self._signals = signals
        self._quotas = Quotas(quotas, config.queue)

    def create(self, caller: Caller, parent_id: str, request: CreateClip) -> Job:
        """A clip job, QUEUED, of one of the caller's jobs. Refused, in this order: a priority above the caller's
        tier (403), another owner's or no job (404), a parent not probed yet (409), a bad range or output
        request (422 naming the field), the parent's source no longer stored (409), the queue quotas (429)."""
        check_priority(caller, request.priority)
        parent = self._parent(caller.owner, parent_id)
        offset, duration = parent_range(parent)
        if duration is None:
            raise Conflict(
                f"job {parent_id} has not been probed yet ({parent.status}): its length is unknown; "
                "clip it once it is processing or done"
            )
        spec = clip_spec(request, max_seconds=self._config.max_clip_seconds, duration_s=duration, offset_s=offset)
        audio_file = parent.upload is not None and file_extension(parent.upload.file_name) in AUDIO_FILE_EXTENSIONS
        request = outputs_for_mode(request, spec.mode)
        outputs = resolve_outputs(
            request, self._config.catalog(), audio_file=audio_file, private_supported=self._config.private_playback
        )
        self._check_source(parent)
        now = self._clock()
        try:
            with unavailable():
                self._quotas.admit_upload(caller.owner, now)
        except QuotaExceeded as refused:
            raise TooManyRequests(refused.message, refused.retry_after_s) from None
        job = outputs.new_job(
            job_id=new_job_id(now),
            owner=caller.owner,
            source=parent.source,
            priority=request.priority,
            now=now,
            notify_email=caller.email,
            kind=JobKind.CLIP,
            clip=spec,
            parent_job_id=parent.job_id,
            status=JobStatus.QUEUED,
            queued_at=now,
        )
        with unavailable():
            self._repository.create(job)
            self._repository.append_event(
                job.job_id,
                JobEvent(
                    time=now,
                    step=JobStep.REGISTERED,
                    kind=EventKind.INFO,
                    message=f"clip {spec.mode} of job {parent.job_id}: {request.start_s:g} s to {request.end_s:g} s",
                ),
            )
        try:
            self._signals.queued(job.job_id)  # as a retry does: the scheduler admits it when a slot is free
        except SignalsUnavailable:  # the periodic tick admits anyway, within a minute
            logger.exception("the scheduler could not be told; the tick will catch up", extra={"job_id": job.job_id})
        return job

    def _parent(self, owner: str, job_id: str) -> Job:
        return owned_job(self._repository, owner, job_id)

    def _check_source(self, parent: Job) -> None:
        """The parent's original upload is still in the uploads bucket (a HEAD, never a read of its bytes).
        Gone (expired, or never completed) is a 409."""
        source = parent.source
        if parent.queued_at is None:
            raise Conflict(f"job {parent.job_id}: its upload never completed, so there is no source to clip")
        try:
            with unavailable():
                self._sources.head(source.bucket, source.key)
        except ObjectNotFound:
            raise Conflict(f"job {parent.job_id}: its source is no longer stored, so it cannot be clipped") from None
