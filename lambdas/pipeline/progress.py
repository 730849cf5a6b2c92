"""What a job's progress means: step events, throttled monotonic writes, and the weighted encode progress."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from datetime import datetime, timedelta

from lambdas.jobs.model import Clock, EventKind, JobEvent, JobStep, utc_now
from lambdas.jobs.ports import JobNotFound, JobNotProcessing, JobRepository
from lambdas.media.chunking import ChunkPlan
from lambdas.media.errors import MediaError
from lambdas.pipeline.job_guard import stopped

PROGRESS_INTERVAL_S = 2.0

# Overall progress: what each step brings the job to once it is done.
PROGRESS_PROBED = 5
PROGRESS_TRANSCODED = 90
PROGRESS_PACKAGED = 97


# How a failure names the step it happened in (the job's error message starts with it).
STEP_LABELS: dict[JobStep, str] = {
    JobStep.PROBE: "Reading the file",
    JobStep.VALIDATE: "Checking the file",
    JobStep.PLAN: "Planning the encode",
    JobStep.SPLIT: "Splitting the source",
    JobStep.TRANSCODE: "Encoding",
    JobStep.THUMBNAILS: "Making thumbnails",
    JobStep.PACKAGE: "Packaging",
}


def failure_location(step: JobStep, detail: str = "") -> str:
    """ "Encoding chunk 3/20 (segments 12-15): 1080p" — the step, and the chunk or rendition when known."""
    label = STEP_LABELS.get(step, str(step))
    if not detail:
        return label
    # A transcode's detail names what it encodes ("chunk 3/20 …", "audio 1/2: en"); others describe the step.
    return f"{label} {detail}" if step is JobStep.TRANSCODE else f"{label} ({detail})"


@contextmanager
def step_events(
    repository: JobRepository, job_id: str, step: JobStep, *, clock: Clock = utc_now, detail: str = ""
) -> Iterator[None]:
    """A `started` event, then `finished`, or `failed` with the user-facing message for media errors.

    A media error leaves here saying where it happened (the step, the chunk or rendition), so the job's
    error names it too.
    """
    repository.append_event(job_id, JobEvent(time=clock(), step=step, kind=EventKind.STARTED, message=detail))
    try:
        yield
    except MediaError as error:
        error.located(failure_location(step, detail))
        with suppress(JobNotFound):
            repository.append_event(
                job_id, JobEvent(time=clock(), step=step, kind=EventKind.FAILED, message=str(error))
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


def encode_progress(plan: ChunkPlan, done: frozenset[str], running: Mapping[str, float] | None = None) -> float:
    """The share of the encode done, 0..1, each work item weighted by its expected cost.

    `running` adds the finished fraction of items still in flight (this worker's own, from ffmpeg).
    """
    running = running or {}
    total = sum(item.weight for item in plan.items) or 1.0
    finished = sum(item.weight for item in plan.items if item.item_id in done)
    partial = sum(
        item.weight * min(1.0, running.get(item.item_id, 0.0)) for item in plan.items if item.item_id not in done
    )
    return min(1.0, (finished + partial) / total)


def rendition_progress(plan: ChunkPlan, done: frozenset[str]) -> dict[str, int]:
    """Percent per rendition: the segments of it encoded so far over all its segments."""
    totals: dict[str, int] = {}
    finished: dict[str, int] = {}
    for item in plan.items:
        if item.chunk is None:
            continue
        segments = plan.chunk(item.chunk).segments
        for name in item.renditions:
            totals[name] = totals.get(name, 0) + segments
            if item.item_id in done:
                finished[name] = finished.get(name, 0) + segments
    return {name: int(100 * finished.get(name, 0) / total) for name, total in totals.items()}


def overall_percent(share: float) -> int:
    return PROGRESS_PROBED + int((PROGRESS_TRANSCODED - PROGRESS_PROBED) * share)


def estimated_end(started: datetime | None, share: float, now: datetime) -> datetime | None:
    """When the encode should be done if the rest goes as fast as what is done: None until something is."""
    if started is None or share <= 0.01:
        return None
    elapsed = (now - started).total_seconds()
    return now + timedelta(seconds=elapsed * (1 - share) / share)
