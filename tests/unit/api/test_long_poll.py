"""GET /jobs/{id}: ETags, 304, and the long-poll (`wait`, `version`) on the job's revision."""

from __future__ import annotations

from typing import Any

import pytest

from lambdas.api.config import ApiConfig
from lambdas.api.errors import NotFound
from lambdas.api.jobs import JobService
from lambdas.jobs.model import Job, JobStatus, JobStep, Source
from lambdas.jobs.transitions import transition
from tests.fakes.api import InMemoryUploadStore, InMemoryWorkflow
from tests.fakes.jobs import InMemoryJobRepository
from tests.fakes.queue import InMemoryQueueStore, SchedulerSignals
from tests.fakes.storage import DirectoryMediaStore
from tests.unit.api.conftest import ALICE, BOB, Api, Clock
from tests.unit.api.test_jobs import processing, queued


def test_every_answer_has_an_etag_and_the_same_one_answers_304_without_a_body(api: Api) -> None:
    job_id = queued(api)
    first = api.call("GET", f"/jobs/{job_id}")
    etag = first.headers["ETag"]
    assert first.status == 200
    assert etag.startswith('"')
    assert etag.endswith('"')
    again = api.call("GET", f"/jobs/{job_id}", headers={"If-None-Match": etag})
    assert (again.status, again.body, again.headers["ETag"]) == (304, None, etag)
    # Any of several tags, weak or not, matches; another tag does not.
    assert api.call("GET", f"/jobs/{job_id}", headers={"If-None-Match": f'"x", W/{etag}'}).status == 304
    assert api.call("GET", f"/jobs/{job_id}", headers={"If-None-Match": '"other"'}).status == 200


def test_a_change_of_the_job_changes_its_etag_and_its_revision(api: Api) -> None:
    job_id = queued(api)
    before = api.call("GET", f"/jobs/{job_id}")
    processing(api, job_id)
    api.repo.update_progress(job_id, JobStep.TRANSCODE, 40)
    after = api.call("GET", f"/jobs/{job_id}", headers={"If-None-Match": before.headers["ETag"]})
    assert after.status == 200
    assert after.body["revision"] == before.body["revision"] + 2  # admitted, then progress
    assert after.headers["ETag"] != before.headers["ETag"]


def test_a_long_poll_whose_version_is_already_passed_answers_at_once(api: Api) -> None:
    job_id = queued(api)
    revision = api.call("GET", f"/jobs/{job_id}").body["revision"]
    answer = api.call("GET", f"/jobs/{job_id}", query={"wait": "25", "version": str(revision - 1)})
    assert (answer.status, answer.body["revision"]) == (200, revision)


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"wait": "0"}, "wait"),
        ({"wait": "26"}, "wait"),
        ({"wait": "soon"}, "wait"),
        ({"wait": "5", "version": "-1"}, "version"),
        ({"wait": "5", "version": "x"}, "version"),
    ],
)
def test_bad_long_poll_parameters_are_422_naming_them(api: Api, query: dict[str, str], field: str) -> None:
    job_id = queued(api)
    answer = api.call("GET", f"/jobs/{job_id}", query=query)
    assert answer.status == 422
    assert answer.error() == ("validation_error", field)


def test_another_users_job_is_404_for_a_long_poll_too(api: Api) -> None:
    job_id = queued(api)
    assert api.call("GET", f"/jobs/{job_id}", user=BOB, query={"wait": "5"}).status == 404
    assert api.call("GET", f"/jobs/{job_id}", user=ALICE, query={"wait": "1"}).status == 200


class Timeline:
    """The service's sleep and monotonic clock: each sleep advances time, and may change the job meanwhile."""

    def __init__(self, changes: dict[int, Any] | None = None) -> None:
        self.now, self.sleeps, self.changes = 0.0, 0, changes or {}

    def sleep(self, seconds: float) -> None:
        self.sleeps += 1
        self.now += seconds
        change = self.changes.get(self.sleeps)
        if change is not None:
            change()

    def monotonic(self) -> float:
        return self.now


def _service(repo: InMemoryJobRepository, timeline: Timeline, tmp_path: Any, max_wait: float = 25) -> JobService:
    config = ApiConfig(uploads_bucket="uploads", outputs_bucket="outputs", long_poll_max_seconds=max_wait)
    queue = InMemoryQueueStore(repo)
    return JobService(
        repo,
        InMemoryWorkflow(),
        DirectoryMediaStore(tmp_path),
        InMemoryUploadStore(),
        config,
        queue=queue,
        signals=SchedulerSignals(None),  # type: ignore[arg-type]  # never signalled here
        sleep=timeline.sleep,
        monotonic=timeline.monotonic,
    )


def _processing_job(repo: InMemoryJobRepository, clock: Clock) -> Job:
    job = Job.new(
        owner=ALICE, source=Source(bucket="uploads", key="uploads/alice/a"), requested_renditions=("360p",), now=clock()
    )
    repo.create(job)
    queued_job = repo.save_transition(job, transition(job, JobStatus.QUEUED, clock()))
    return repo.save_transition(queued_job, transition(queued_job, JobStatus.PROCESSING, clock()))


def test_the_wait_ends_on_the_first_read_that_sees_a_newer_revision(tmp_path: Any, clock: Clock) -> None:
    repo = InMemoryJobRepository(clock)
    job = _processing_job(repo, clock)
    timeline = Timeline({3: lambda: repo.update_progress(job.job_id, JobStep.TRANSCODE, 10)})
    seen = _service(repo, timeline, tmp_path).wait_for_change(ALICE, job.job_id, job.revision, 20)
    assert (seen.revision, seen.progress) == (job.revision + 1, 10)
    assert timeline.sleeps == 3
    assert timeline.now == pytest.approx(0.75)  # a read every quarter second


def test_without_a_change_the_wait_ends_at_its_length_or_the_configured_limit(tmp_path: Any, clock: Clock) -> None:
    repo = InMemoryJobRepository(clock)
    job = _processing_job(repo, clock)
    timeline = Timeline()
    assert _service(repo, timeline, tmp_path).wait_for_change(ALICE, job.job_id, None, 5) == job
    assert timeline.now == pytest.approx(5)
    capped = Timeline()
    _service(repo, capped, tmp_path, max_wait=2).wait_for_change(ALICE, job.job_id, job.revision, 20)
    assert capped.now == pytest.approx(2)


def test_a_long_poll_of_a_job_that_is_not_the_callers_is_not_found(tmp_path: Any, clock: Clock) -> None:
    repo = InMemoryJobRepository(clock)
    job = _processing_job(repo, clock)
    with pytest.raises(NotFound):
        _service(repo, Timeline(), tmp_path).wait_for_change(BOB, job.job_id, 0, 5)
