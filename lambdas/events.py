"""The events that move jobs: what wakes the scheduler (an upload, a queued or ended job, the tick) and what
starts a transcode execution (the scheduler's admission), each a Powertools/pydantic model told apart by
`detail-type` as EventBridge events are."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from aws_lambda_powertools.utilities.parser.models import EventBridgeModel, S3EventNotificationEventBridgeModel
from pydantic import BaseModel, ConfigDict, Field

from lambdas.jobs.model import JOB_ID_PATTERN, Job

# EventBridge `source` of the events vodpipe puts on its bus (the CDK rule matches on them).
API_SOURCE = "vodpipe.api"
WORKFLOW_SOURCE = "vodpipe.workflow"
QUEUED = "Job Queued"
FINISHED = "Job Finished"


class ObjectCreated(S3EventNotificationEventBridgeModel):
    """The EventBridge event S3 sends for a finished upload: its job is queued."""

    detail_type: Literal["Object Created"] = Field(alias="detail-type")


class JobRef(BaseModel):
    model_config = ConfigDict(frozen=True)

    job_id: str = Field(pattern=JOB_ID_PATTERN)


class JobQueued(EventBridgeModel):
    """The API queued a job (a retry) without an upload: the scheduler looks for a free slot."""

    detail_type: Literal["Job Queued"] = Field(alias="detail-type")
    detail: JobRef


class JobFinished(EventBridgeModel):
    """A job's execution ended, or the API cancelled it: its slot is given back, the next job admitted."""

    detail_type: Literal["Job Finished"] = Field(alias="detail-type")
    detail: JobRef


class ScheduledTick(EventBridgeModel):
    """The periodic rule: admit what waits, repair what was lost."""

    detail_type: Literal["Scheduled Event"] = Field(alias="detail-type")


# What the scheduler function receives.
SchedulerEvent = Annotated[ObjectCreated | JobQueued | JobFinished | ScheduledTick, Field(discriminator="detail_type")]


def bus_entry(detail_type: str, source: str, job_id: str, bus: str) -> dict[str, Any]:
    """A PutEvents entry telling the scheduler about a job (the state machine writes the same in its ASL)."""
    return {
        "Source": source,
        "DetailType": detail_type,
        "Detail": JobRef(job_id=job_id).model_dump_json(),
        "EventBusName": bus,
    }


class AdmittedObject(BaseModel):
    model_config = ConfigDict(frozen=True)

    key: str = Field(min_length=1)


class AdmittedDetail(BaseModel):
    model_config = ConfigDict(frozen=True)

    job_id: str = Field(pattern=JOB_ID_PATTERN)
    owner: str = Field(min_length=1)
    attempt: int = Field(ge=0)
    object: AdmittedObject


class JobAdmitted(BaseModel):
    """The scheduler gave this attempt of a job a slot and starts its execution: the workflow's input."""

    model_config = ConfigDict(frozen=True, populate_by_name=True)

    detail_type: Literal["Job Admitted"] = Field(default="Job Admitted", alias="detail-type")
    source: Literal["vodpipe.queue"] = "vodpipe.queue"
    detail: AdmittedDetail

    @classmethod
    def of(cls, job: Job) -> JobAdmitted:
        """For the attempt `job` holds a slot for; the same job gives the same event (a repeated start matches)."""
        return cls(
            detail=AdmittedDetail(
                job_id=job.job_id,
                owner=job.owner,
                attempt=job.retry_count,
                object=AdmittedObject(key=job.source.key),
            )
        )

    def payload(self) -> dict[str, Any]:
        """As the execution's input (JSON, with the event's own field names)."""
        return self.model_dump(mode="json", by_alias=True)


def execution_name(job: Job) -> str:
    """One execution per attempt, named deterministically: a repeated start cannot run an attempt twice."""
    return f"{job.job_id}-a{job.retry_count}"
