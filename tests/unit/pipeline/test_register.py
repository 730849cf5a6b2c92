"""RegisterJob: only the execution the scheduler's admission named goes on; any other start stops there."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from lambdas.events import JobAdmitted
from lambdas.jobs.model import Job, JobStatus, Source, new_job_id
from lambdas.jobs.ports import JobNotFound, RepositoryUnavailable
from lambdas.jobs.transitions import retry, transition
from lambdas.pipeline.errors import DuplicateEvent, TransientError
from lambdas.pipeline.register import RegisterRequest, register
from tests.fakes.jobs import InMemoryJobRepository
from tests.unit.pipeline.conftest import EXECUTION, UPLOADS, execution_of, upload_key

NOW = datetime(2025, 3, 1, 12, tzinfo=UTC)


def admitted(repo: InMemoryJobRepository) -> Job:
    job_id = new_job_id()
    job = Job.new(
        job_id=job_id, owner="alice", source=Source(bucket=UPLOADS, key=upload_key(job_id)),
        requested_renditions=("180p",), now=NOW,
    )  # fmt: skip
    repo.create(job)
    job = repo.save_transition(job, transition(job, JobStatus.QUEUED, NOW))
    return repo.save_transition(job, transition(job, JobStatus.PROCESSING, NOW, execution_arn=execution_of(job)))


def request(job: Job, execution: str | None = None) -> RegisterRequest:
    return RegisterRequest(event=JobAdmitted.of(job), execution_arn=execution or execution_of(job))


def test_the_admitted_execution_gets_its_job(repo: InMemoryJobRepository) -> None:
    job = admitted(repo)
    assert register(request(job), repo) == job
    assert register(request(job), repo) == job, "a Lambda retry changes nothing"
    assert [e.message for e in repo.list_events(job.job_id)][-1] == "workflow started"


def test_another_execution_is_a_duplicate(repo: InMemoryJobRepository) -> None:
    job = admitted(repo)
    with pytest.raises(DuplicateEvent) as caught:
        register(request(job, EXECUTION), repo)  # not the name the admission gave this attempt
    assert caught.value.status is JobStatus.PROCESSING


def test_the_same_attempt_started_by_a_replaced_state_machine_is_still_the_jobs(repo: InMemoryJobRepository) -> None:
    job = admitted(repo)
    assert register(request(job, execution_of(job, machine="transcode-replaced")), repo) == job


@pytest.mark.parametrize("end", [JobStatus.COMPLETED, JobStatus.CANCELLED])
def test_a_start_after_the_job_ended_is_a_duplicate(repo: InMemoryJobRepository, end: JobStatus) -> None:
    job = admitted(repo)
    repo.save_transition(job, transition(job, end, NOW))
    with pytest.raises(DuplicateEvent):
        register(request(job), repo)


def test_an_older_attempts_execution_is_a_duplicate(repo: InMemoryJobRepository) -> None:
    first = admitted(repo)
    failed = repo.save_transition(first, transition(first, JobStatus.FAILED, NOW, error_type="SourceUnreadable"))
    queued = repo.save_transition(failed, retry(failed, NOW))
    second = repo.save_transition(
        queued, transition(queued, JobStatus.PROCESSING, NOW, execution_arn=execution_of(queued))
    )
    with pytest.raises(DuplicateEvent):
        register(request(first), repo)
    assert register(request(second), repo).retry_count == 1


def test_a_job_that_is_gone_is_not_found(repo: InMemoryJobRepository) -> None:
    job = admitted(InMemoryJobRepository())
    with pytest.raises(JobNotFound):
        register(request(job), repo)


class Unavailable(InMemoryJobRepository):
    def get(self, job_id: str) -> Job:
        raise RepositoryUnavailable("throttled")


def test_table_throttling_is_a_transient_error() -> None:
    with pytest.raises(TransientError):
        register(request(admitted(InMemoryJobRepository())), Unavailable())
