"""The scheduler: admits the best waiting jobs into free slots, gives back the slots of ended jobs, and repairs
what was lost (an admitted job whose execution never started, an execution that ended without marking its job,
an upload never completed). Runs when a job is queued, when one ends, and on the periodic tick."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from aws_lambda_powertools import Logger

from lambdas.events import JobAdmitted, execution_name
from lambdas.jobs.model import Clock, EventKind, Job, JobEvent, JobStatus, JobStep, utc_now
from lambdas.jobs.ports import ConcurrentUpdate, IllegalTransition, JobNotFound, JobRepository
from lambdas.jobs.transitions import transition
from lambdas.queue.config import QueueConfig
from lambdas.queue.order import HIGHEST, LOWEST, next_job, queued_since
from lambdas.queue.ports import QueueStore, SlotsTaken
from lambdas.storage.ports import UploadStore
from lambdas.workflow.ports import Workflow, WorkflowRefused, WorkflowUnavailable

logger = Logger(child=True)

# Waiting jobs read per priority level and pass: the candidates fairness chooses among. A user with more
# jobs than this waiting at one level can hide another user's job of that level behind them for one pass
# (the max_queued_jobs_per_user quota keeps that rare).
SCAN_PER_LEVEL = 50
# Stale uploads handled per tick.
UPLOADS_PER_TICK = 100


@dataclass
class PassResult:
    admitted: list[str] = field(default_factory=list)
    released: list[str] = field(default_factory=list)
    repaired: list[str] = field(default_factory=list)
    stopped: str = ""  # why the admission pass ended


class Scheduler:
    def __init__(
        self,
        store: QueueStore,
        jobs: JobRepository,
        workflow: Workflow,
        uploads: UploadStore,
        config: QueueConfig,
        *,
        clock: Clock = utc_now,
    ) -> None:
        self._store, self._jobs, self._workflow, self._uploads = store, jobs, workflow, uploads
        self._config, self._clock = config, clock

    # --- admission -------------------------------------------------------------------------------

    def admit(self, result: PassResult | None = None) -> PassResult:
        """Admit the best waiting jobs until a limit is reached or nothing waits."""
        result = result or PassResult()
        limits = self._config
        counts = self._store.running()
        if counts.total >= limits.max_running_jobs:
            result.stopped = f"every slot is taken ({counts.total} of {limits.max_running_jobs})"
            return result
        running = dict(counts.by_owner)
        candidates = [job for level in range(HIGHEST, LOWEST + 1) for job in self._store.waiting(level, SCAN_PER_LEVEL)]
        while True:
            now = self._clock()
            job = next_job(candidates, running, now, limits.aging, per_user_limit=limits.max_running_jobs_per_user)
            if job is None:
                result.stopped = "nothing else may start" if candidates else "nothing waits"
                return result
            candidates.remove(job)
            admitted = transition(
                job,
                JobStatus.PROCESSING,
                now,
                current_step=JobStep.REGISTERED,
                execution_arn=self._workflow.execution_arn(execution_name(job)),
            )
            try:
                self._store.admit(
                    job, admitted, max_running=limits.max_running_jobs, max_per_user=limits.max_running_jobs_per_user
                )
            except SlotsTaken as taken:
                if taken.scope == "global":
                    result.stopped = "every slot is taken"
                    return result
                running[job.owner] = limits.max_running_jobs_per_user  # this owner is full: skip their jobs
                continue
            except (ConcurrentUpdate, IllegalTransition, JobNotFound):
                continue  # cancelled or admitted by another pass meanwhile
            running[job.owner] = running.get(job.owner, 0) + 1
            result.admitted.append(job.job_id)
            waited = (now - queued_since(job)).total_seconds()
            self._event(
                job.job_id, EventKind.INFO, f"admitted after {waited:.1f} s in the queue (priority {job.priority})"
            )
            self._start(admitted)

    def _start(self, job: Job) -> None:
        """Start the admitted job's execution. If Step Functions throttles or refuses (too many executions, the
        state machine being redeployed…), the job keeps its slot and the tick starts it again after start_grace;
        after start_give_up it is FAILED with the last reason, so it can be retried once the fault is fixed."""
        try:
            self._workflow.start(execution_name(job), JobAdmitted.of(job).payload())
        except (WorkflowUnavailable, WorkflowRefused) as error:
            logger.exception("the workflow did not start an admitted job", extra={"job_id": job.job_id})
            admitted_at = job.started_at or job.updated_at
            if self._clock() - admitted_at >= self._config.start_give_up:
                minutes = self._config.start_give_up.total_seconds() / 60
                self._fail(job, "StartFailed", f"the workflow could not be started within {minutes:g} min: {error}")
                return
            self._event(job.job_id, EventKind.INFO, f"the workflow did not start ({error}); the tick tries again")

    # --- release -----------------------------------------------------------------------------------

    def finished(self, job_id: str) -> PassResult:
        """A job's execution ended (or it was cancelled): its slot back, then admit."""
        result = PassResult()
        if self._store.release(job_id):
            result.released.append(job_id)
        return self.admit(result)

    # --- the tick ----------------------------------------------------------------------------------

    def tick(self) -> PassResult:
        result = PassResult()
        self.repair(result)
        return self.admit(result)

    def repair(self, result: PassResult) -> PassResult:
        now = self._clock()
        for held in self._store.slot_holders():
            try:
                job = self._jobs.get(held.job_id)  # the index lags: decide on the job as it is now
            except JobNotFound:
                continue
            if job.status is not JobStatus.PROCESSING:
                if self._store.release(job.job_id):
                    result.released.append(job.job_id)
                continue
            if self._repair_running(job, now):
                result.repaired.append(job.job_id)
        for job in self._store.stale_uploads(now - self._config.upload_expiry, UPLOADS_PER_TICK):
            if self._expire_upload(job):
                result.repaired.append(job.job_id)
        return result

    def _repair_running(self, job: Job, now: datetime) -> bool:
        """A PROCESSING job holding a slot: its execution must exist (after the grace) and still run."""
        # The attempt's execution as this deployment's state machine names it (the stored ARN may be another's).
        arn = self._workflow.execution_arn(execution_name(job))
        try:
            state = self._workflow.describe(arn)
        except (WorkflowUnavailable, WorkflowRefused):
            logger.exception("could not read an execution; repair deferred", extra={"job_id": job.job_id})
            return False
        admitted_at = job.started_at or job.updated_at
        if state is None:
            if self._clock() - admitted_at < self._config.start_grace:
                return False
            waited = (self._clock() - admitted_at).total_seconds()
            self._event(
                job.job_id,
                EventKind.REPAIRED,
                f"repair: admitted {waited:.0f} s ago but its workflow never started; starting it again",
            )
            self._start(job)
            return True
        if state.running:
            return False
        # Ended without marking the job (stopped from outside, timed out): FAILED, so it can be retried.
        how = {"ABORTED": "was stopped from outside", "TIMED_OUT": "timed out"}.get(
            state.status, f"ended {state.status}"
        )
        detail = f": {state.cause}" if state.cause else ""
        self._fail(job, "WorkflowEnded", f"the workflow execution {how} before the job was finished{detail}")
        return True

    def _fail(self, job: Job, error_type: str, message: str) -> None:
        for _ in range(3):
            try:
                failed = self._jobs.save_transition(
                    job, transition(job, JobStatus.FAILED, self._clock(), error_type=error_type, error_message=message)
                )
            except ConcurrentUpdate:
                job = self._jobs.get(job.job_id)
                continue
            except IllegalTransition:
                break  # it ended meanwhile: that end stands
            self._event(failed.job_id, EventKind.REPAIRED, f"repair: {message}")
            break
        self._store.release(job.job_id)

    def _expire_upload(self, job: Job) -> bool:
        if job.upload is not None:
            self._uploads.abort(job.source.bucket, job.source.key, job.upload.upload_id)  # gone already is fine
        hours = self._config.upload_expiry_hours
        message = f"the upload was not completed within {hours:g} h of its creation; its parts were discarded"
        try:
            self._jobs.save_transition(
                job,
                transition(job, JobStatus.CANCELLED, self._clock(), error_type="UploadExpired", error_message=message),
            )
        except (ConcurrentUpdate, IllegalTransition):
            return False  # completed or cancelled meanwhile
        self._event(job.job_id, EventKind.REPAIRED, f"repair: {message}")
        return True

    def _event(self, job_id: str, kind: EventKind, message: str) -> None:
        self._jobs.append_event(
            job_id, JobEvent(time=self._clock(), step=JobStep.REGISTERED, kind=kind, message=message)
        )
