"""RegisterJob: the execution the scheduler started for an admitted job checks that it is the job's current one."""

from __future__ import annotations

from datetime import timedelta

from pydantic import BaseModel, ConfigDict, Field

from lambdas.events import JobAdmitted, execution_name
from lambdas.jobs.model import Clock, EventKind, Job, JobEvent, JobStatus, JobStep, utc_now
from lambdas.jobs.ports import JobRepository
from lambdas.pipeline.config import PipelineConfig
from lambdas.pipeline.errors import DuplicateEvent, transient_errors


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

    event: JobAdmitted
    execution_arn: str = Field(min_length=1)


def _name(execution_arn: str | None) -> str:
    return (execution_arn or "").rsplit(":", 1)[-1]


def register(request: RegisterRequest, repository: JobRepository, *, clock: Clock = utc_now) -> Job:
    """The job, if this execution is the one its admission named; DuplicateEvent otherwise.

    The scheduler moved the job QUEUED -> PROCESSING and recorded the execution in the same write that took its
    slot; an execution of an older attempt, or one started again after the job ended, stops here.
    """
    detail = request.event.detail
    with transient_errors():
        job = repository.get(detail.job_id)
        # By the execution's name, which the admission derives from the attempt ({job}-a{n}): the same attempt
        # started again after its state machine's ARN changed (a replaced deployment) is still this job's run.
        current = (
            job.status is JobStatus.PROCESSING
            and job.retry_count == detail.attempt
            and _name(job.execution_arn) == _name(request.execution_arn) == execution_name(job)
        )
        if not current:
            raise DuplicateEvent(job.job_id, job.status)
        repository.append_event(
            job.job_id,
            JobEvent(time=clock(), step=JobStep.REGISTERED, kind=EventKind.STARTED, message="workflow started"),
        )
    return job
