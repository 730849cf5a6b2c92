"""A step writes only while its job is PROCESSING; uploads racing a cancel are withdrawn by whichever side ends last."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from lambdas import keys
from lambdas.jobs.model import JobStatus, utc_now
from lambdas.jobs.ports import JobNotFound, JobNotProcessing
from lambdas.jobs.transitions import transition
from lambdas.pipeline.errors import JobCancelled
from lambdas.pipeline.job_guard import running_job, stopped, withdrawn_if_stopped
from tests.fakes.jobs import InMemoryJobRepository
from tests.fakes.storage import DirectoryMediaStore
from tests.unit.pipeline.conftest import OUTPUTS, StartJob


def _put(store: DirectoryMediaStore, tmp_path: Path, key: str) -> None:
    path = tmp_path / "file"
    path.write_bytes(b"segment")
    store.upload(path, OUTPUTS, key, content_type="video/mp4", cache_control="max-age=1")


def _move(repo: InMemoryJobRepository, job_id: str, status: JobStatus) -> None:
    job = repo.get(job_id)
    extra = {"error_type": "TranscodeFailed"} if status is JobStatus.FAILED else {}
    repo.save_transition(job, transition(job, status, utc_now() + timedelta(seconds=1), **extra))


# --- running_job / stopped ------------------------------------------------------------------------


def test_running_job_is_the_stored_job_while_processing(
    start_job: StartJob, clips: dict[str, Path], repo: InMemoryJobRepository
) -> None:
    job = start_job(clips["landscape"])
    assert running_job(repo, job.job_id) == repo.get(job.job_id)


@pytest.mark.parametrize(
    ("status", "raised"),
    [
        (JobStatus.CANCELLED, JobCancelled),
        (JobStatus.FAILED, JobNotProcessing),
        (JobStatus.COMPLETED, JobNotProcessing),
    ],
)
def test_running_job_refuses_a_job_that_moved_on(
    start_job: StartJob,
    clips: dict[str, Path],
    repo: InMemoryJobRepository,
    status: JobStatus,
    raised: type[Exception],
) -> None:
    job = start_job(clips["landscape"])
    _move(repo, job.job_id, status)
    with pytest.raises(raised) as caught:
        running_job(repo, job.job_id)
    assert caught.value.job_id == job.job_id  # type: ignore[attr-defined]


def test_running_job_of_an_unknown_job(repo: InMemoryJobRepository) -> None:
    with pytest.raises(JobNotFound):
        running_job(repo, "01JAAAAAAAAAAAAAAAAAAAAAAA")


def test_a_refused_write_means_cancelled_only_for_a_cancelled_job() -> None:
    cancelled = stopped(JobNotProcessing("J1", JobStatus.CANCELLED))
    assert isinstance(cancelled, JobCancelled)
    assert cancelled.job_id == "J1"
    failed = JobNotProcessing("J1", JobStatus.FAILED)
    assert stopped(failed) is failed


# --- withdrawn_if_stopped -------------------------------------------------------------------------


def test_uploads_stay_when_the_job_is_still_processing(
    start_job: StartJob, clips: dict[str, Path], repo: InMemoryJobRepository, store: DirectoryMediaStore, tmp_path: Path
) -> None:
    job = start_job(clips["landscape"])
    prefix = keys.track_prefix(job.job_id, "240p")
    with withdrawn_if_stopped(repo, store, job.job_id, OUTPUTS, prefix):
        _put(store, tmp_path, prefix + keys.segment_name(0))
    assert [o.key for o in store.list_prefix(OUTPUTS, prefix)] == [prefix + "seg_00000.m4s"]


@pytest.mark.parametrize(
    ("status", "raised"), [(JobStatus.CANCELLED, JobCancelled), (JobStatus.FAILED, JobNotProcessing)]
)
def test_uploads_that_land_after_the_job_stopped_are_withdrawn(
    start_job: StartJob,
    clips: dict[str, Path],
    repo: InMemoryJobRepository,
    store: DirectoryMediaStore,
    tmp_path: Path,
    status: JobStatus,
    raised: type[Exception],
) -> None:
    job = start_job(clips["landscape"])
    prefix = keys.track_prefix(job.job_id, "240p")
    other = keys.track_prefix(job.job_id, "180p") + keys.segment_name(0)
    _put(store, tmp_path, other)  # outside the prefix: not this step's to withdraw

    def upload_racing_a_stop() -> None:
        with withdrawn_if_stopped(repo, store, job.job_id, OUTPUTS, prefix):
            _put(store, tmp_path, prefix + keys.segment_name(0))
            _move(repo, job.job_id, status)  # the API cancelled (and deleted outputs) while this upload was in flight
            _put(store, tmp_path, prefix + keys.segment_name(1))

    with pytest.raises(raised):
        upload_racing_a_stop()
    assert store.list_prefix(OUTPUTS, prefix) == []
    assert [o.key for o in store.list_prefix(OUTPUTS, keys.output_prefix(job.job_id))] == [other]
    assert repo.get(job.job_id).status is status


def test_nothing_is_uploaded_for_a_job_cancelled_before(
    start_job: StartJob, clips: dict[str, Path], repo: InMemoryJobRepository, store: DirectoryMediaStore
) -> None:
    job = start_job(clips["landscape"])
    _move(repo, job.job_id, JobStatus.CANCELLED)
    uploaded: list[bool] = []

    def upload() -> None:
        with withdrawn_if_stopped(repo, store, job.job_id, OUTPUTS, keys.output_prefix(job.job_id)):
            uploaded.append(True)

    with pytest.raises(JobCancelled):
        upload()
    assert not uploaded
