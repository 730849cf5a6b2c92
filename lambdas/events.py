"""What starts a transcode execution: S3's Object Created event (Powertools' model) or the API's retry of a job."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from aws_lambda_powertools.utilities.parser.models import S3EventNotificationEventBridgeModel
from pydantic import BaseModel, ConfigDict, Field

from lambdas.jobs.model import JOB_ID_PATTERN, Job


class ObjectCreated(S3EventNotificationEventBridgeModel):
    """The EventBridge event S3 sends for a finished upload, as the dispatcher passes it on."""

    detail_type: Literal["Object Created"] = Field(alias="detail-type")


class RetriedObject(BaseModel):
    model_config = ConfigDict(frozen=True)

    key: str = Field(min_length=1)


class RetryDetail(BaseModel):
    model_config = ConfigDict(frozen=True)

    job_id: str = Field(pattern=JOB_ID_PATTERN)
    attempt: int = Field(ge=1)
    # The job's source, where an upload's event has it: the state machine's MarkRegistrationFailed finds the
    # job by `$.detail.object.key`, whichever of the two events started the execution.
    object: RetriedObject


class RetryRequested(BaseModel):
    """The API queued this attempt of a failed or cancelled job and starts an execution for it."""

    model_config = ConfigDict(frozen=True, populate_by_name=True)

    detail_type: Literal["Job Retry Requested"] = Field(default="Job Retry Requested", alias="detail-type")
    source: Literal["vodpipe.api"] = "vodpipe.api"
    detail: RetryDetail

    @classmethod
    def of(cls, job: Job) -> RetryRequested:
        """For the attempt `job` is queued for; the same job gives the same event, so a repeated start matches."""
        return cls(
            detail=RetryDetail(job_id=job.job_id, attempt=job.retry_count, object=RetriedObject(key=job.source.key))
        )

    def payload(self) -> dict[str, Any]:
        """As the execution's input (JSON, with the event's own field names)."""
        return self.model_dump(mode="json", by_alias=True)


# The transcode workflow's input, told apart by `detail-type` as EventBridge events are.
WorkflowEvent = Annotated[ObjectCreated | RetryRequested, Field(discriminator="detail_type")]
