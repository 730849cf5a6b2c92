"""A step writes only while its job is PROCESSING: the checks, and the withdrawal of late uploads."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from lambdas.jobs.model import Job, JobStatus
from lambdas.jobs.ports import JobNotProcessing, JobRepository
from lambdas.pipeline.errors import JobCancelled
from lambdas.storage.ports import MediaStore


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
