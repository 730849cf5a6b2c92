"""Uploads racing a cancel: whichever side finishes last removes the outputs."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from lambdas.jobs.memory import InMemoryJobRepository
from lambdas.jobs.model import JobStatus, utc_now
from lambdas.jobs.transitions import transition
from lambdas.pipeline.common import withdrawn_if_stopped
from lambdas.pipeline.errors import JobCancelled
from lambdas.storage.memory import DirectoryMediaStore
from tests.unit.pipeline.conftest import OUTPUTS, StartJob


def _put(store: DirectoryMediaStore, tmp_path: Path, key: str) -> None:
    path = tmp_path / "file"
    path.write_bytes(b"segment")
    store.upload(path, OUTPUTS, key, content_type="video/mp4", cache_control="max-age=1")


def _cancel(repo: InMemoryJobRepository, job_id: str) -> None:
    job = repo.get(job_id)
    repo.save_transition(job, transition(job, JobStatus.CANCELLED, utc_now() + timedelta(seconds=1)))


def test_uploads_stay_when_the_job_is_still_processing(
    start_job: StartJob, clips: dict[str, Path], repo: InMemoryJobRepository, store: DirectoryMediaStore, tmp_path: Path
) -> None:
    job = start_job(clips["landscape"])
    prefix = f"outputs/{job.job_id}/hls/360p/"
    with withdrawn_if_stopped(repo, store, job.job_id, OUTPUTS, prefix):
        _put(store, tmp_path, prefix + "seg_00000.m4s")
    assert [o.key for o in store.list_prefix(OUTPUTS, prefix)] == [prefix + "seg_00000.m4s"]


def test_uploads_that_land_after_a_cancel_are_withdrawn(
    start_job: StartJob, clips: dict[str, Path], repo: InMemoryJobRepository, store: DirectoryMediaStore, tmp_path: Path
) -> None:
    job = start_job(clips["landscape"])
    prefix = f"outputs/{job.job_id}/hls/360p/"

    def upload_racing_a_cancel() -> None:
        with withdrawn_if_stopped(repo, store, job.job_id, OUTPUTS, prefix):
            _put(store, tmp_path, prefix + "seg_00000.m4s")
            _cancel(repo, job.job_id)  # the API cancelled (and deleted outputs) while this upload was in flight
            _put(store, tmp_path, prefix + "seg_00001.m4s")

    with pytest.raises(JobCancelled):
        upload_racing_a_cancel()
    assert store.list_prefix(OUTPUTS, prefix) == []
    assert repo.get(job.job_id).status is JobStatus.CANCELLED


def test_nothing_is_uploaded_for_a_job_cancelled_before(
    start_job: StartJob, clips: dict[str, Path], repo: InMemoryJobRepository, store: DirectoryMediaStore, tmp_path: Path
) -> None:
    job = start_job(clips["landscape"])
    _cancel(repo, job.job_id)
    uploaded: list[bool] = []

    def upload() -> None:
        with withdrawn_if_stopped(repo, store, job.job_id, OUTPUTS, "outputs/x/"):
            uploaded.append(True)

    with pytest.raises(JobCancelled):
        upload()
    assert not uploaded
