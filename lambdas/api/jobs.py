"""Jobs as their owner manages them: read, list, cancel, retry, history and statistics."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import timedelta

from aws_lambda_powertools import Logger

from lambdas.api.access import owned_job
from lambdas.api.config import ApiConfig
from lambdas.api.errors import Conflict, InvalidInput, Unavailable, unavailable
from lambdas.api.models import QueuePlace
from lambdas.jobs.model import Clock, EventKind, Job, JobEvent, JobStatus, JobStep, utc_now
from lambdas.jobs.ports import (
    MAX_PAGE_SIZE,
    ConcurrentUpdate,
    IllegalTransition,
    InvalidCursor,
    JobRepository,
)
from lambdas.jobs.stats import QueueStats, compute_stats
from lambdas.jobs.transitions import RetryLimitReached, reprioritise, retry, transition
from lambdas.keys import output_prefix
from lambdas.playback.ports import PlaybackUnavailable
from lambdas.playback.service import PrivatePlayback
from lambdas.queue import views
from lambdas.queue.eventbridge import SignalsUnavailable
from lambdas.queue.ports import QueueSignals, QueueStore
from lambdas.storage.ports import MediaStore, UploadStore
from lambdas.workflow.ports import Workflow, WorkflowRefused

logger = Logger(child=True)

_ATTEMPTS = 5
# Statistics read the caller's jobs page by page; past this many the figures cover the newest only.
MAX_STATS_JOBS = 10_000
# The throughput a QUEUED job's estimated start is computed from: jobs that ended this long before now.
THROUGHPUT_WINDOW = timedelta(hours=1)


class JobService:
    def __init__(
        self,
        repository: JobRepository,
        workflow: Workflow,
        outputs: MediaStore,
        uploads: UploadStore,
        config: ApiConfig,
        *,
        queue: QueueStore,
        signals: QueueSignals,
        clock: Clock = utc_now,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
        playback: PrivatePlayback | None = None,
    ) -> None:
        self._repository, self._workflow, self._outputs, self._uploads = repository, workflow, outputs, uploads
        self._playback = playback
        self._queue, self._signals = queue, signals
        self._config, self._clock = config, clock
        self._sleep, self._monotonic = sleep, monotonic

    def place(self, job: Job) -> QueuePlace | None:
        """A QUEUED job's position and estimated start; None for any other job."""
        if job.status is not JobStatus.QUEUED:
            return None
        now = self._clock()
        limit = self._config.queue.max_running_jobs
        with unavailable():
            position = views.queue_position(job, self._queue.waiting_before, now, self._config.queue.aging)
            running = self._queue.running().total
            # The recent ends set the pace only for a job that must wait for some: not read on every GET.
            ended = [] if position < limit - running else self._queue.ended_between(now - THROUGHPUT_WINDOW, now)
        start = views.estimated_start(position, running, limit, ended, now, THROUGHPUT_WINDOW)
        return QueuePlace(position=position, estimated_start_at=start)

    def set_priority(self, owner: str, job_id: str, priority: int) -> Job:
        """A waiting job's priority changed (the caller's tier is checked by the route); its place is kept."""
        job = self.get(owner, job_id)
        for _ in range(_ATTEMPTS):
            if job.priority == priority:
                return job
            try:
                changed = reprioritise(job, priority, self._clock())
            except IllegalTransition:
                raise Conflict(f"job {job_id} is {job.status}: only a waiting job's priority can change") from None
            try:
                with unavailable():
                    job = self._repository.save_transition(job, changed)
            except (ConcurrentUpdate, IllegalTransition):
                job = self.get(owner, job_id)
                continue
            self._event(job_id, f"priority changed to {priority} by the user")
            return job
        raise Unavailable(f"job {job_id} kept changing; try again")

    def signed(self, job: Job) -> Job:
        """A private job with its URLs signed now for its owner (lambdas/playback); any other job as it is."""
        if self._playback is None or not job.private:
            return job
        try:
            return self._playback.signed_job(job)
        except PlaybackUnavailable:
            logger.exception("signing a private job's URLs failed", extra={"job_id": job.job_id})
            raise Unavailable("private playback links cannot be signed just now; try again") from None

    def get(self, owner: str, job_id: str) -> Job:
        return owned_job(self._repository, owner, job_id)

    def wait_for_change(self, owner: str, job_id: str, after_revision: int | None, wait_s: float) -> Job:
        """The job as soon as its revision passes `after_revision` (None: the revision it has now), or as it is
        after `wait_s` (at most the configured long-poll limit). One consistent read per interval: a change is
        seen within a quarter of a second, and a waiting request costs a few reads per second, not a Lambda per
        poll on the client side."""
        job = self.get(owner, job_id)
        target = job.revision if after_revision is None else after_revision
        deadline = self._monotonic() + min(wait_s, self._config.long_poll_max_seconds)
        while job.revision <= target:
            left = deadline - self._monotonic()
            if left <= 0:
                break
            self._sleep(min(self._config.long_poll_interval_seconds, left))
            job = self.get(owner, job_id)
        return job

    def list_jobs(
        self, owner: str, *, status: JobStatus | None, limit: int, cursor: str | None
    ) -> tuple[list[Job], str | None]:
        try:
            with unavailable():
                return self._repository.list_for_owner(owner, status=status, limit=limit, cursor=cursor)
        except InvalidCursor:
            raise InvalidInput("cursor is not one this listing handed out", field="cursor") from None

    def events(self, owner: str, job_id: str) -> list[JobEvent]:
        self.get(owner, job_id)
        with unavailable():
            return self._repository.list_events(job_id)

    def cancel(self, owner: str, job_id: str) -> Job:
        """CANCELLED, its execution stopped and its outputs deleted. Cancelling a cancelled job is a no-op;
        a COMPLETED or FAILED one is a conflict."""
        job = self.get(owner, job_id)
        for _ in range(_ATTEMPTS):
            if job.status is JobStatus.CANCELLED:
                break
            if job.status.terminal:
                raise Conflict(f"job {job_id} is {job.status}: only unfinished jobs can be cancelled")
            if job.execution_arn:
                # Stopped before the status changes: steps that see CANCELLED fail their branch, so an
                # execution still running then would end FAILED (through MarkFailed), not ABORTED.
                try:
                    with unavailable():
                        self._workflow.stop(job.execution_arn, cause="cancelled by the user")
                except WorkflowRefused:
                    # Not the caller's fault and not worth failing the cancel over: the job still becomes
                    # CANCELLED below, and every step checks that before it writes, so the run ends on its own.
                    logger.exception("stopping the execution was refused; cancelling the job anyway")
            try:
                with unavailable():
                    job = self._repository.save_transition(job, transition(job, JobStatus.CANCELLED, self._clock()))
            except (ConcurrentUpdate, IllegalTransition):
                job = self.get(owner, job_id)  # the workflow moved it meanwhile: decide again
                continue
            self._event(job_id, "cancelled by the user")
            break
        else:
            raise Unavailable(f"job {job_id} kept changing; try again")
        # Steps still running check the status before they write, so nothing is published after this.
        with unavailable():
            if job.upload is not None and job.queued_at is None:
                self._uploads.abort(job.source.bucket, job.source.key, job.upload.upload_id)
            self._outputs.delete_prefix(self._config.outputs_bucket, output_prefix(job_id, private=job.private))
            if self._queue.release(job_id):
                self._signal(self._signals.finished, job_id)  # a slot is free: the next job may start
        return job

    def _signal(self, send: Callable[[str], None], job_id: str) -> None:
        try:
            send(job_id)
        except SignalsUnavailable:  # the periodic tick admits anyway, within a minute
            logger.exception("the scheduler could not be told; the tick will catch up", extra={"job_id": job_id})

    def retry(self, owner: str, job_id: str) -> Job:
        """QUEUED again with one more attempt counted; the scheduler starts it when a slot is free."""
        job = self.get(owner, job_id)
        try:
            after = retry(job, self._clock())
        except RetryLimitReached:
            raise Conflict(f"job {job_id} was already retried {job.max_retries} times") from None
        except IllegalTransition as error:
            raise Conflict(str(error)) from None
        with unavailable():
            self._queue.release(job_id)  # the ended attempt's slot, if its release is still to come
        try:
            with unavailable():
                queued = self._repository.save_transition(job, after)
        except (ConcurrentUpdate, IllegalTransition):
            raise Conflict(f"job {job_id} changed meanwhile; read it and try again") from None
        self._event(job_id, f"retry {queued.retry_count} of {queued.max_retries} requested by the user")
        self._signal(self._signals.queued, job_id)
        return queued

    def stats(self, owner: str, window: timedelta) -> QueueStats:
        """`compute_stats` over the caller's own jobs (never other users': their volume is theirs to see)."""
        with unavailable():
            return compute_stats(self._owned(owner), self._clock(), window)

    def _owned(self, owner: str) -> Iterator[Job]:
        cursor: str | None = None
        seen = 0
        while seen < MAX_STATS_JOBS:
            jobs, cursor = self._repository.list_for_owner(owner, limit=MAX_PAGE_SIZE, cursor=cursor)
            yield from jobs
            seen += len(jobs)
            if cursor is None:
                return

    def _event(self, job_id: str, message: str) -> None:
        with unavailable():
            self._repository.append_event(
                job_id, JobEvent(time=self._clock(), step=JobStep.REGISTERED, kind=EventKind.INFO, message=message)
            )
