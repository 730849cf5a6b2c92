"""Jobs as their owner manages them: read, list, cancel, retry, history and statistics."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

from aws_lambda_powertools import Logger

from lambdas.api.config import ApiConfig
from lambdas.api.errors import Conflict, InvalidInput, NotFound, Unavailable, unavailable
from lambdas.events import RetryRequested
from lambdas.jobs.model import Clock, EventKind, Job, JobEvent, JobStatus, JobStep, utc_now
from lambdas.jobs.ports import (
    MAX_PAGE_SIZE,
    ConcurrentUpdate,
    IllegalTransition,
    InvalidCursor,
    JobNotFound,
    JobRepository,
)
from lambdas.jobs.stats import QueueStats, compute_stats
from lambdas.jobs.transitions import RetryLimitReached, retry, transition
from lambdas.keys import output_prefix
from lambdas.storage.ports import MediaStore, UploadStore
from lambdas.workflow.ports import Workflow, WorkflowError, WorkflowRefused

logger = Logger(child=True)

_ATTEMPTS = 5
# Statistics read the caller's jobs page by page; past this many the figures cover the newest only.
MAX_STATS_JOBS = 10_000


def execution_name(job: Job) -> str:
    """Deterministic per attempt: a repeated retry request cannot start the same attempt twice."""
    return f"{job.job_id}-r{job.retry_count}"


class JobService:
    def __init__(
        self,
        repository: JobRepository,
        workflow: Workflow,
        outputs: MediaStore,
        uploads: UploadStore,
        config: ApiConfig,
        *,
        clock: Clock = utc_now,
    ) -> None:
        self._repository, self._workflow, self._outputs, self._uploads = repository, workflow, outputs, uploads
        self._config, self._clock = config, clock

    def get(self, owner: str, job_id: str) -> Job:
        try:
            with unavailable():
                return self._repository.get_for_owner(owner, job_id)
        except JobNotFound:
            raise NotFound(f"job {job_id} not found") from None

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
            self._outputs.delete_prefix(self._config.outputs_bucket, output_prefix(job_id))
        return job

    def retry(self, owner: str, job_id: str) -> Job:
        """QUEUED again with one more attempt counted, and a new execution started for it."""
        job = self.get(owner, job_id)
        try:
            after = retry(job, self._clock())
        except RetryLimitReached:
            raise Conflict(f"job {job_id} was already retried {job.max_retries} times") from None
        except IllegalTransition as error:
            raise Conflict(str(error)) from None
        try:
            with unavailable():
                queued = self._repository.save_transition(job, after)
        except (ConcurrentUpdate, IllegalTransition):
            raise Conflict(f"job {job_id} changed meanwhile; read it and try again") from None
        try:
            self._workflow.start(execution_name(queued), RetryRequested.of(queued).payload())
        except WorkflowError as error:
            self._not_started(queued, error)
            if isinstance(error, WorkflowRefused):
                # Not the caller's doing and not transient: someone has to look at the deployment.
                logger.exception("the workflow refused to start a retry", extra={"job_id": job_id})
                raise Unavailable(
                    f"the workflow refused to start job {job_id} (a fault on our side); "
                    "the job is FAILED again and can be retried later"
                ) from error
            raise Unavailable(f"the workflow could not be started for job {job_id}; try again") from error
        self._event(job_id, f"retry {queued.retry_count} of {queued.max_retries} requested by the user")
        return queued

    def _not_started(self, queued: Job, error: WorkflowError) -> None:
        """Never leave a QUEUED job that nothing will pick up: FAILED, so it can be retried again.

        If something moved it meanwhile (cancelled, or taken by an execution that did start), that move stands.
        """
        failed = transition(
            queued,
            JobStatus.FAILED,
            self._clock(),
            error_type="RetryNotStarted",
            error_message=f"the workflow could not be started: {error}",
        )
        try:
            with unavailable():
                self._repository.save_transition(queued, failed)
        except (ConcurrentUpdate, IllegalTransition):
            return

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
