"""What every step shares: its configuration, the job reference it receives, events, progress and keys."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from datetime import datetime
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from lambdas.jobs.model import EventKind, Job, JobEvent, JobStatus, JobStep, utc_now
from lambdas.jobs.ports import JobNotFound, JobNotProcessing, JobRepository
from lambdas.media.errors import MediaError
from lambdas.media.ladder import DEFAULT_LADDER, LadderConfig
from lambdas.media.policy import ValidationPolicy
from lambdas.pipeline.errors import JobCancelled
from lambdas.storage.ports import MediaStore

SOURCE_NAME = "source"  # the fixed local name of a download: never the uploader's extension
PROGRESS_INTERVAL_S = 2.0

# Overall progress: what each step brings the job to once it is done.
PROGRESS_PROBED = 5
PROGRESS_TRANSCODED = 90
PROGRESS_PACKAGED = 97

CACHE_MEDIA = "public, max-age=86400"
CACHE_PLAYLIST = "public, max-age=60"


class PipelineConfig(BaseModel):
    """Everything a step needs to know besides its adapters (built from `Settings` by the handlers)."""

    model_config = ConfigDict(frozen=True)

    uploads_bucket: str
    outputs_bucket: str
    playback_base_url: str = ""
    segment_seconds: Annotated[float, Field(gt=0)] = 4.0
    thumbnail_count: Annotated[int, Field(ge=0)] = 5
    policy: ValidationPolicy = ValidationPolicy()
    ladder: LadderConfig = DEFAULT_LADDER
    ffmpeg_timeout_s: Annotated[float, Field(gt=0)] = 840.0
    # Kept back from the invocation's remaining time when bounding an ffmpeg run, so a slow encode
    # ends as a readable TranscodeFailed rather than a Sandbox.Timedout.
    time_margin_s: Annotated[float, Field(ge=0)] = 20.0
    # How long a job's record is kept once it has ended (the table's TTL); see register.registration().
    retention_days: Annotated[int, Field(ge=1)] = 90

    def ffmpeg_timeout(self, remaining_s: float | None) -> float:
        """Seconds one ffmpeg run may take, given the invocation's remaining time (None: unknown)."""
        if remaining_s is None:
            return self.ffmpeg_timeout_s
        return max(1.0, min(self.ffmpeg_timeout_s, remaining_s - self.time_margin_s))


class JobRef(BaseModel):
    """The job as the state machine passes it on: only its id (and execution) are trusted; the rest is read."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    job_id: str
    execution_arn: str | None = None


def output_prefix(job_id: str) -> str:
    return f"outputs/{job_id}/"


Clock = Callable[[], datetime]


def running_job(repository: JobRepository, job_id: str) -> Job:
    """The stored job if it is still PROCESSING; JobCancelled, or JobNotProcessing for other statuses."""
    job = repository.get(job_id)
    if job.status is JobStatus.CANCELLED:
        raise JobCancelled(job_id)
    if job.status is not JobStatus.PROCESSING:
        raise JobNotProcessing(job_id, job.status)
    return job


@contextmanager
def withdrawn_if_stopped(
    repository: JobRepository, store: MediaStore, job_id: str, bucket: str, prefix: str
) -> Iterator[None]:
    """Uploads under `prefix` that stay only if the job is still PROCESSING once they are written.

    A cancel deletes the job's outputs right after it marks the job CANCELLED; uploads already in flight
    would land after that delete. Checking again after uploading (a consistent read) closes the gap: if
    the check still sees PROCESSING, the cancel's delete comes later and removes these files; if not,
    this step removes them itself.
    """
    running_job(repository, job_id)
    yield
    try:
        running_job(repository, job_id)
    except (JobCancelled, JobNotProcessing):
        store.delete_prefix(bucket, prefix)
        raise


def stopped(error: JobNotProcessing) -> Exception:
    """What a refused progress write means for the step: cancelled, or the job moved on otherwise."""
    return JobCancelled(error.job_id) if error.status is JobStatus.CANCELLED else error


@contextmanager
def step_events(
    repository: JobRepository, job_id: str, step: JobStep, *, clock: Clock = utc_now, detail: str = ""
) -> Iterator[None]:
    """A `started` event, then `finished`, or `failed` with the user-facing message for media errors."""
    suffix = f" ({detail})" if detail else ""
    repository.append_event(job_id, JobEvent(time=clock(), step=step, kind=EventKind.STARTED, message=detail))
    try:
        yield
    except MediaError as error:
        with suppress(JobNotFound):
            repository.append_event(
                job_id, JobEvent(time=clock(), step=step, kind=EventKind.FAILED, message=f"{error}{suffix}")
            )
        raise
    repository.append_event(job_id, JobEvent(time=clock(), step=step, kind=EventKind.FINISHED, message=detail))


class ProgressWriter:
    """Monotonic progress writes, at most one every `interval` seconds (the last one always goes through)."""

    def __init__(
        self,
        repository: JobRepository,
        job_id: str,
        step: JobStep,
        *,
        rendition: str | None = None,
        interval: float = PROGRESS_INTERVAL_S,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._repository, self._job_id, self._step, self._rendition = repository, job_id, step, rendition
        self._interval, self._monotonic = interval, monotonic
        self._last_write: float | None = None
        self.writes = 0

    def due(self) -> bool:
        return self._last_write is None or self._monotonic() - self._last_write >= self._interval

    def tick(self) -> None:
        """Start a new interval (a write happened, here or elsewhere)."""
        self._last_write = self._monotonic()
        self.writes += 1

    def write(self, percent: int, *, force: bool = False) -> bool:
        """Record `percent`; False when skipped (too soon) or not an increase. JobCancelled if cancelled."""
        if not (force or self.due()):
            return False
        self.tick()
        try:
            return self._repository.update_progress(self._job_id, self._step, percent, self._rendition)
        except JobNotProcessing as error:
            raise stopped(error) from None

    def overall(self, percent: int) -> bool:
        """The job's overall progress (never throttled: callers already are)."""
        try:
            return self._repository.update_progress(self._job_id, self._step, percent)
        except JobNotProcessing as error:
            raise stopped(error) from None


@contextmanager
def workspace(prefix: str) -> Iterator[Path]:
    """A private temp dir (on Lambda, /tmp: ephemeral storage) removed afterwards, whatever happens."""
    with tempfile.TemporaryDirectory(prefix=f"vodpipe-{prefix}-") as name:
        yield Path(name)
