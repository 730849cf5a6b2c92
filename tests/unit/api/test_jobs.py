"""Jobs through the resolver: ownership, listing, cancel, retry, events, statistics, credentials."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from lambdas.jobs.model import Job, JobStatus, new_job_id
from lambdas.jobs.transitions import transition
from lambdas.pipeline.register import RegisterRequest, register
from lambdas.workflow.ports import WorkflowRefused, WorkflowUnavailable
from tests.unit.api.conftest import ALICE, BOB, MIB, OUTPUTS, Api, payload

EXECUTION = "arn:aws:states:us-east-1:000000000000:execution:transcode:upload-1"


def queued(api: Api, *, user: str = ALICE, **fields: Any) -> str:
    """A job whose upload completed (QUEUED), through the API."""
    data = payload(6 * MIB)
    created = api.upload(size=len(data), user=user, **fields)
    api.put_all(created, data)
    done = api.call("POST", f"/uploads/{created['job']['job_id']}/complete", {}, user=user)
    assert done.status == 200, done.body
    return str(created["job"]["job_id"])


def processing(api: Api, job_id: str, arn: str = EXECUTION) -> Job:
    """What the scheduler's admission does when the job's turn comes (a retried job is admitted at once)."""
    job = api.repo.get(job_id)
    if job.status is JobStatus.PROCESSING:
        return job
    api.workflow.run(arn.rsplit(":", 1)[1], arn)
    return api.repo.save_transition(job, transition(job, JobStatus.PROCESSING, api.clock(), execution_arn=arn))


def finish(api: Api, job_id: str, status: JobStatus, **changes: Any) -> Job:
    job = api.repo.get(job_id)
    if status is JobStatus.FAILED:
        changes.setdefault("error_type", "SourceUnreadable")
    return api.repo.save_transition(job, transition(job, status, api.clock(), **changes))


def test_a_job_is_read_by_its_owner(api: Api) -> None:
    job_id = queued(api)
    answer = api.call("GET", f"/jobs/{job_id}")
    assert (answer.status, answer.body["job_id"], answer.body["status"]) == (200, job_id, "QUEUED")


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/jobs/{id}", None),
        ("DELETE", "/jobs/{id}", None),
        ("POST", "/jobs/{id}/retry", None),
        ("GET", "/jobs/{id}/events", None),
        ("GET", "/uploads/{id}/parts", None),
        ("POST", "/uploads/{id}/parts", {"part_numbers": [1]}),
        ("POST", "/uploads/{id}/complete", {}),
        ("DELETE", "/uploads/{id}", None),
    ],
)
def test_another_users_job_is_404_everywhere(api: Api, method: str, path: str, body: Any) -> None:
    created = api.upload(size=10)
    job_id = created["job"]["job_id"]
    answer = api.call(method, path.format(id=job_id), body, user=BOB)
    assert (answer.status, answer.body["error"]) == (404, "not_found"), answer.body
    assert job_id in answer.body["message"]
    unknown = api.call(method, path.format(id=new_job_id()), body)
    assert unknown.status == 404
    # Not an id at all: refused by validation, naming the path parameter.
    garbage = api.call(method, path.format(id="not-a-job-id"), body)
    assert (garbage.status, garbage.body["error"], garbage.body["field"]) == (422, "validation_error", "job_id")
    assert garbage.body["message"].startswith("job_id: not a job id")
    assert api.repo.get(job_id).status is JobStatus.UPLOADING
    assert api.uploads.is_open(created["upload_id"])


def test_listing_shows_the_callers_jobs_newest_first_page_by_page(api: Api) -> None:
    mine = []
    for _ in range(5):
        mine.append(api.upload(size=10)["job"]["job_id"])
        api.clock.advance(1)
    api.upload(size=10, user=BOB)
    api.call("DELETE", f"/uploads/{mine[0]}")
    first = api.call("GET", "/jobs", query={"limit": "2"})
    assert first.status == 200
    assert [job["job_id"] for job in first.body["jobs"]] == [mine[4], mine[3]]
    seen = [job["job_id"] for job in first.body["jobs"]]
    cursor = first.body["next_cursor"]
    while cursor:
        page = api.call("GET", "/jobs", query={"limit": "2", "cursor": cursor}).body
        seen += [job["job_id"] for job in page["jobs"]]
        cursor = page["next_cursor"]
    assert seen == mine[::-1]
    cancelled = api.call("GET", "/jobs", query={"status": "CANCELLED"}).body["jobs"]
    assert [job["job_id"] for job in cancelled] == [mine[0]]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"limit": "0"}, "limit"),
        ({"limit": "101"}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"status": "DONE"}, "status"),
        ({"cursor": "bm90LWEtY3Vyc29y"}, "cursor"),
        ({"cursor": "not/base64url="}, "cursor"),
        ({"cursor": "A" * 1025}, "cursor"),
    ],
)
def test_bad_listing_queries_are_422_naming_the_parameter(api: Api, query: dict[str, str], field: str) -> None:
    answer = api.call("GET", "/jobs", query=query)
    assert (answer.status, answer.body["field"]) == (422, field), answer.body


def test_someone_elses_cursor_is_refused(api: Api) -> None:
    for _ in range(3):
        api.upload(size=10, user=BOB)
    cursor = api.call("GET", "/jobs", query={"limit": "1"}, user=BOB).body["next_cursor"]
    assert cursor
    assert api.call("GET", "/jobs", query={"cursor": cursor}).body["field"] == "cursor"


def test_cancelling_a_processing_job_stops_its_execution_and_deletes_its_outputs(api: Api, tmp_path: Path) -> None:
    job_id = queued(api)
    processing(api, job_id)
    other = queued(api)
    seed = tmp_path / "segment.m4s"
    seed.write_bytes(b"segment")
    for owner_job in (job_id, other):
        for key in ("hls/360p/seg_0001.m4s", "thumbnails/poster.jpg"):
            api.outputs.upload(seed, OUTPUTS, f"outputs/{owner_job}/{key}", content_type="video/mp4", cache_control="")
    answer = api.call("DELETE", f"/jobs/{job_id}")
    assert (answer.status, answer.body["status"]) == (200, "CANCELLED")
    assert api.workflow.executions["upload-1"].status == "ABORTED"
    assert api.outputs.list_prefix(OUTPUTS, f"outputs/{job_id}/") == []
    assert len(api.outputs.list_prefix(OUTPUTS, f"outputs/{other}/")) == 2, "only this job's outputs"
    assert api.repo.list_events(job_id)[-1].message == "cancelled by the user"
    again = api.call("DELETE", f"/jobs/{job_id}")
    assert (again.status, again.body["status"]) == (200, "CANCELLED")


def test_a_refused_stop_still_cancels_the_job_and_an_unavailable_one_answers_503(api: Api) -> None:
    refused, down = queued(api), queued(api)
    processing(api, refused)
    processing(api, down)
    api.workflow.fail_next.append(WorkflowRefused("stop: AccessDeniedException"))
    answer = api.call("DELETE", f"/jobs/{refused}")
    assert (answer.status, answer.body["status"]) == (200, "CANCELLED")  # steps see CANCELLED and stop writing
    assert not api.workflow.fail_next, "the stop was attempted"
    api.workflow.fail_next.append(WorkflowUnavailable("stop: ThrottlingException"))
    answer = api.call("DELETE", f"/jobs/{down}")
    assert (answer.status, answer.body["error"]) == (503, "unavailable")
    assert api.repo.get(down).status is JobStatus.PROCESSING  # nothing changed: the client can repeat it


def test_cancelling_an_uploading_job_aborts_its_upload(api: Api) -> None:
    created = api.upload(size=10)
    answer = api.call("DELETE", f"/jobs/{created['job']['job_id']}")
    assert (answer.status, answer.body["status"]) == (200, "CANCELLED")
    assert not api.uploads.is_open(created["upload_id"])


@pytest.mark.parametrize("status", [JobStatus.COMPLETED, JobStatus.FAILED])
def test_finished_jobs_cannot_be_cancelled(api: Api, status: JobStatus) -> None:
    job_id = queued(api)
    processing(api, job_id)
    finish(api, job_id, status)
    answer = api.call("DELETE", f"/jobs/{job_id}")
    assert (answer.status, answer.body["error"]) == (409, "conflict")
    assert api.workflow.executions["upload-1"].status == "RUNNING"


def test_a_failed_job_is_retried_through_the_queue_with_a_deterministic_execution(api: Api) -> None:
    job_id = queued(api, renditions=["360p"], priority=2)
    processing(api, job_id)
    finish(api, job_id, JobStatus.FAILED, error_message="cut short")
    answer = api.call("POST", f"/jobs/{job_id}/retry")
    assert answer.status == 202, answer.body
    assert (answer.body["status"], answer.body["retry_count"], answer.body["error_message"]) == ("QUEUED", 1, None)
    # The retry woke the scheduler, which admitted the attempt into a free slot and started its execution.
    execution = api.workflow.executions[f"{job_id}-a1"]
    event = execution.payload
    assert (event["detail-type"], event["source"]) == ("Job Admitted", "vodpipe.queue")
    assert (event["detail"]["job_id"], event["detail"]["attempt"]) == (job_id, 1)
    # The state machine hands the event to RegisterJob: this execution is the job's current one.
    request = RegisterRequest.model_validate({"event": event, "execution_arn": execution.arn})
    registered = register(request, api.repo, clock=api.clock)
    assert (registered.status, registered.retry_count, registered.execution_arn) == (
        JobStatus.PROCESSING,
        1,
        execution.arn,
    )
    assert registered.requested_renditions == ("360p",)
    assert registered.priority == 2


def test_retrying_twice_quickly_does_not_start_the_attempt_twice(api: Api) -> None:
    job_id = queued(api)
    api.call("DELETE", f"/jobs/{job_id}")
    assert api.call("POST", f"/jobs/{job_id}/retry").status == 202
    second = api.call("POST", f"/jobs/{job_id}/retry")
    assert (second.status, second.body["error"]) == (409, "conflict"), "QUEUED is not retryable"
    assert list(api.workflow.executions) == [f"{job_id}-a1"]


def test_retries_beyond_max_retries_are_409(api: Api) -> None:
    job_id = queued(api)
    for attempt in range(1, 4):
        processing(api, job_id, arn=f"{EXECUTION}-{attempt}")
        finish(api, job_id, JobStatus.FAILED)
        assert api.call("POST", f"/jobs/{job_id}/retry").body["retry_count"] == attempt
    processing(api, job_id, arn=f"{EXECUTION}-4")
    finish(api, job_id, JobStatus.FAILED)
    answer = api.call("POST", f"/jobs/{job_id}/retry")
    assert (answer.status, answer.body["error"]) == (409, "conflict")
    assert "3 times" in answer.body["message"]


@pytest.mark.parametrize("status", [JobStatus.QUEUED, JobStatus.PROCESSING, JobStatus.COMPLETED])
def test_only_failed_or_cancelled_jobs_are_retried(api: Api, status: JobStatus) -> None:
    job_id = queued(api)
    if status is not JobStatus.QUEUED:
        processing(api, job_id)
    if status is JobStatus.COMPLETED:
        finish(api, job_id, status)
    answer = api.call("POST", f"/jobs/{job_id}/retry")
    assert (answer.status, answer.body["error"]) == (409, "conflict")


def test_a_retry_whose_start_is_lost_stays_admitted_for_the_tick_to_start(api: Api) -> None:
    job_id = queued(api)
    api.call("DELETE", f"/jobs/{job_id}")
    api.workflow.fail_next.append(WorkflowUnavailable("ThrottlingException"))
    answer = api.call("POST", f"/jobs/{job_id}/retry")
    assert answer.status == 202, answer.body
    stored = api.repo.get(job_id)
    assert (stored.status, stored.retry_count) == (JobStatus.PROCESSING, 1)  # admitted: its slot is held
    assert f"{job_id}-a1" not in api.workflow.executions
    api.clock.advance(api.scheduler._config.start_grace_seconds + 1)
    api.scheduler.tick()
    assert f"{job_id}-a1" in api.workflow.executions


@pytest.mark.parametrize(
    "refusal",
    [
        WorkflowRefused("start J-a1: StateMachineDoesNotExist"),
        WorkflowRefused("start J-a1: ExecutionLimitExceeded"),
        WorkflowRefused("start J-a1: InvalidExecutionInput"),
    ],
)
def test_a_retry_the_workflow_refuses_is_started_again_by_the_tick(api: Api, refusal: WorkflowRefused) -> None:
    job_id = queued(api)
    api.call("DELETE", f"/jobs/{job_id}")
    api.workflow.fail_next.append(refusal)
    assert api.call("POST", f"/jobs/{job_id}/retry").status == 202
    shown = api.call("GET", f"/jobs/{job_id}").body
    assert (shown["status"], shown["retry_count"]) == ("PROCESSING", 1), "admitted, its slot kept"
    events = api.call("GET", f"/jobs/{job_id}/events").body["events"]
    assert any(str(refusal) in e["message"] for e in events), "the refusal is in the job's log"
    api.clock.advance(api.scheduler._config.start_grace_seconds + 1)
    api.scheduler.tick()
    assert f"{job_id}-a1" in api.workflow.executions, "started again once the fault is gone"


def test_stats_cover_the_callers_jobs_only(api: Api) -> None:
    done = queued(api, priority=9)
    api.clock.advance(10)  # queue wait
    processing(api, done)
    api.clock.advance(30)  # processing time
    finish(api, done, JobStatus.COMPLETED)
    failed = queued(api, priority=2)
    processing(api, failed, arn=f"{EXECUTION}-2")
    finish(api, failed, JobStatus.FAILED)
    api.upload(size=10, priority=5)
    for _ in range(3):
        api.upload(size=10, user=BOB)
    answer = api.call("GET", "/stats", query={"window_hours": "1"})
    assert answer.status == 200, answer.body
    stats = answer.body
    assert stats["jobs"] == 3
    assert stats["by_status"] == {
        "UPLOADING": 1, "QUEUED": 0, "PROCESSING": 0, "COMPLETED": 1, "FAILED": 1, "CANCELLED": 0
    }  # fmt: skip
    assert stats["by_priority_class"] == {"high": 1, "normal": 1, "bulk": 1}  # 2, 5 and 9
    assert stats["mean_processing_seconds"] == stats["p95_processing_seconds"] == 30
    assert stats["success_rate"] == 0.5
    assert stats["mean_queue_wait_seconds"] == pytest.approx(5, abs=5.01)
    api.clock.advance(timedelta(hours=2).total_seconds())
    later = api.call("GET", "/stats").body  # default 24 h
    assert later["jobs"] == 3
    assert api.call("GET", "/stats", query={"window_hours": "1"}).body["jobs"] == 1, "only the open upload"


@pytest.mark.parametrize("hours", ["0", "721", "x"])
def test_stats_window_is_1_to_720_hours(api: Api, hours: str) -> None:
    assert api.call("GET", "/stats", query={"window_hours": hours}).body["field"] == "window_hours"


# --- credentials ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("header", [None, "", "Bearer", "Basic YWxpY2U6c2VjcmV0", "Bearer unknown-token-000000000000"])
def test_requests_without_a_known_token_are_401(api: Api, header: str | None) -> None:
    headers = {"Authorization": header} if header is not None else {}
    answer = api.call("GET", "/jobs", user=None, headers=headers)
    assert (answer.status, answer.body["error"], answer.body["field"]) == (401, "unauthorized", "Authorization")
    assert answer.headers["WWW-Authenticate"] == "Bearer"


def test_the_authorizers_owner_is_the_caller(api: Api) -> None:
    created = api.upload(size=10, user=BOB)
    # API Gateway ran the token authorizer: its context names the caller, the header is not read again.
    for context in ({"principalId": BOB, "owner": BOB, "integrationLatency": 3}, {"principalId": BOB}):
        answer = api.call("GET", f"/jobs/{created['job']['job_id']}", user=None, authorizer=context)
        assert answer.status == 200, answer.body
    as_alice = api.call("GET", f"/jobs/{created['job']['job_id']}", user=BOB, authorizer={"principalId": ALICE})
    assert as_alice.status == 404


def test_unknown_routes_are_404_in_the_error_shape(api: Api) -> None:
    answer = api.call("GET", "/nothing/here")
    assert (answer.status, answer.body["error"]) == (404, "not_found")
    assert api.call("PATCH", "/jobs").status == 404
