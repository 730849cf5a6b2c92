"""Errors the state machine matches by class name (errorType): never rename one."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from lambdas.jobs.model import JobError, JobStatus
from lambdas.jobs.ports import RepositoryUnavailable
from lambdas.storage.ports import StoreUnavailable


class PipelineError(Exception):
    """Base of the pipeline's own errors."""


class TransientError(PipelineError):
    """Infrastructure trouble (throttling, lost connection): the state machine retries the step."""


class DuplicateEvent(PipelineError):
    """The upload is already being (or was) processed by another execution: this one ends as a no-op."""

    def __init__(self, job_id: str, status: JobStatus) -> None:
        self.job_id, self.status = job_id, status
        super().__init__(f"job {job_id} is already {status} in another execution")


class UnrecognisedUpload(PipelineError):
    """An object that does not follow `uploads/{owner}/{job_id}/source`: there is no job to process."""


class JobCancelled(JobError):
    """The job was cancelled while a step ran: stop, write nothing more."""

    def __init__(self, job_id: str) -> None:
        self.job_id = job_id
        super().__init__(f"job {job_id} was cancelled")


@contextmanager
def transient_errors() -> Iterator[None]:
    """Re-raise the adapters' "try again later" errors as the one class the state machine retries."""
    try:
        yield
    except (StoreUnavailable, RepositoryUnavailable) as error:
        # The message ends up on the job once the state machine's retries are spent: say what a person can do.
        raise TransientError(f"{error}; still unavailable after the step's retries: retry the job later") from error
