"""The encoding queue on the local deployment: admission order, aging, per-user fairness, limits under load,
and each repair produced by a real fault. Orders are read from the workflow's own execution start times."""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from lambdas.jobs.dynamodb import DynamoDBJobRepository
from lambdas.jobs.model import Job, JobStatus, JobStep, Source, Upload, new_job_id, utc_now
from lambdas.queue.dynamodb import DynamoDBQueueStore
from tests.pipeline_jobs import ffmpeg
from vodpipe.client.api import ApiClient
from vodpipe.client.resume import ResumeStore
from vodpipe.client.upload import Uploader, UploadRequest
from vodpipe.local.stack import LocalDeployment
from vodpipe.local.users import create_token

S = JobStatus
ONE_SLOT = {"MAX_RUNNING_JOBS": "1", "MAX_RUNNING_JOBS_PER_USER": "1"}
TICK = {"version": "0", "id": "tick", "detail-type": "Scheduled Event", "source": "aws.events",
        "account": "000000000000", "time": "2026-01-01T00:00:00Z", "region": "us-east-1", "resources": [],
        "detail": {}}  # fmt: skip


@dataclass
class Queue:
    stack: LocalDeployment
    s3: Any
    sfn: Any
    lam: Any
    repository: DynamoDBJobRepository
    clip: Path
    scheduler: str
    dynamodb: Any
    resume: Path
    queue: DynamoDBQueueStore = field(init=False)
    original: dict[str, str] = field(default_factory=dict)
    settings: dict[str, str] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.queue = DynamoDBQueueStore(self.dynamodb, self.stack.jobs_table)

    def configure(self, **settings: str) -> None:
        """The scheduler's settings, as a redeploy with other `-c vodpipe=…` values would set them; what a test
        does not name is the deployment's own. The queue is drained first, so no earlier job takes a slot."""
        self.drain()
        self.reconfigure(settings)

    def reconfigure(self, settings: dict[str, str]) -> None:
        """`configure` without draining: the test's own jobs are in flight."""
        env = self.original | settings
        self.lam.update_function_configuration(FunctionName=self.scheduler, Environment={"Variables": env})
        self.lam.get_waiter("function_updated_v2").wait(FunctionName=self.scheduler)

    def upload(self, owner: str, priority: int) -> str:
        """Through the API, as a client does: the job is QUEUED when `complete` answers (that is its place)."""
        if owner not in self.tokens:
            self.tokens[owner] = create_token(self.dynamodb, self.stack.jobs_table, owner)
        with ApiClient(self.stack.api_url, self.tokens[owner]) as api:
            result = Uploader(api, ResumeStore(Path(tempfile.mkdtemp(dir=self.resume))), parallel=1).upload(
                self.clip, UploadRequest(priority=priority, renditions=("360p",), outputs=("hls",))
            )
        return result.job_id

    def drain(self, deadline_s: float = 180) -> None:
        """Wait until no job holds a slot or waits: other suites' jobs (or an earlier test's) must not take the
        narrowed slots of the next test."""
        deadline = time.monotonic() + deadline_s
        while True:
            waiting = [j for level in range(1, 11) for j in self.queue.waiting(level, 1)]
            if self.queue.running().total == 0 and not waiting:
                return
            assert time.monotonic() < deadline, f"the queue did not drain: {self.queue.running()}, {len(waiting)}"
            time.sleep(0.5)

    def hold_slot(self, owner: str, **settings: str) -> str:
        """A job admitted into the only slot whose start is refused (the scheduler names a state machine that does
        not exist), so it holds the slot for as long as the test needs: the others queue behind it whatever the
        machine's speed. `release_slot` restores the state machine and lets the tick start it."""
        real = self.original["STATE_MACHINE_ARN"]
        self.configure(STATE_MACHINE_ARN=real + "-held", START_GRACE_SECONDS="0.5", **settings)
        blocker = self.upload(owner, 1)
        self.until(lambda: any("did not start" in e.message for e in self.repository.list_events(blocker)))
        self.settings = settings
        return blocker

    def release_slot(self, blocker: str) -> None:
        self.reconfigure({"START_GRACE_SECONDS": "0.5", **self.settings})
        self.until(lambda: blocker in self.tick()["repaired"] or blocker in self.started())
        self.started_within(blocker)

    def until(self, done: Callable[[], bool], seconds: float = 60) -> None:
        deadline = time.monotonic() + seconds
        while not done():
            assert time.monotonic() < deadline, "timed out"
            time.sleep(0.3)

    def started_within(self, job_id: str, seconds: float = 60) -> None:
        deadline = time.monotonic() + seconds
        while job_id not in self.started():
            assert time.monotonic() < deadline, f"{job_id} did not start within {seconds} s"
            time.sleep(0.2)

    def tick(self) -> dict[str, Any]:
        response = self.lam.invoke(FunctionName=self.scheduler, Payload=json.dumps(TICK))
        body: dict[str, Any] = json.loads(response["Payload"].read())
        assert "FunctionError" not in response, body
        return body

    def started(self) -> dict[str, float]:
        """Job id -> when its first execution started (Step Functions' own record)."""
        found: dict[str, float] = {}
        for page in self.sfn.get_paginator("list_executions").paginate(stateMachineArn=self.stack.state_machine_arn):
            for execution in page["executions"]:
                job_id = execution["name"].split("-")[0]
                at = execution["startDate"].timestamp()
                found[job_id] = min(at, found.get(job_id, at))
        return found

    def wait(
        self, job_ids: list[str], *, deadline_s: float = 240, check: Callable[[], None] | None = None
    ) -> list[Job]:
        deadline = time.monotonic() + deadline_s
        while True:
            jobs = [self._get(job_id) for job_id in job_ids]
            if all(job is not None and job.status.terminal for job in jobs):
                return [job for job in jobs if job is not None]
            if check is not None:
                check()
            assert time.monotonic() < deadline, [(j.job_id, j.status) for j in jobs if j and not j.status.terminal]
            time.sleep(0.5)

    def _get(self, job_id: str) -> Job | None:
        try:
            return self.repository.get(job_id)
        except Exception:
            return None


MID_WORKFLOW = frozenset({JobStep.PROBE, JobStep.VALIDATE, JobStep.PLAN, JobStep.SPLIT, JobStep.TRANSCODE})


def execution_running(queue: Queue, arn: str | None) -> bool:
    if arn is None:
        return False
    try:
        return bool(queue.sfn.describe_execution(executionArn=arn)["status"] == "RUNNING")
    except queue.sfn.exceptions.ExecutionDoesNotExist:
        return False


def max_overlap(jobs: list[Job]) -> int:
    """The most jobs whose [started_at, completed_at) overlap at one instant (an end before a start at a tie)."""
    edges = sorted(
        edge
        for job in jobs
        if job.started_at is not None and job.completed_at is not None
        for edge in ((job.started_at.timestamp(), 1), (job.completed_at.timestamp(), -1))
    )
    # (time, -1) sorts before (time, 1): a slot given back and taken again at the same instant is not an overlap.
    most = current = 0
    for _, change in edges:
        current += change
        most = max(most, current)
    return most


def upload_key(owner: str, job_id: str) -> str:
    return f"uploads/{owner}/{job_id}/source"


@pytest.fixture(scope="module")
def queue(
    stack: LocalDeployment, aws_client: Callable[..., Any], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Queue]:
    clip = tmp_path_factory.mktemp("queue") / "clip.mp4"
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=320x180:rate=24:duration=1", "-pix_fmt", "yuv420p", "-c:v", "libx264",
           "-preset", "ultrafast", str(clip))  # fmt: skip
    lam = aws_client("lambda")
    scheduler = stack.raw["VodpipePipeline"]["SchedulerFunction"]
    original = lam.get_function_configuration(FunctionName=scheduler)["Environment"]["Variables"]
    q = Queue(stack, aws_client("s3"), aws_client("stepfunctions"), lam,
              DynamoDBJobRepository(aws_client("dynamodb"), stack.jobs_table), clip, scheduler,
              aws_client("dynamodb"), tmp_path_factory.mktemp("resume"), dict(original))  # fmt: skip
    yield q
    lam.update_function_configuration(FunctionName=scheduler, Environment={"Variables": original})
    lam.get_waiter("function_updated_v2").wait(FunctionName=scheduler)


def test_one_slot_starts_jobs_by_priority_then_first_queued(queue: Queue) -> None:
    first = queue.hold_slot("order", **ONE_SLOT, PRIORITY_AGING_MINUTES="600")
    priorities = (9, 5, 1, 9, 3, 1, 5)
    waiting = [queue.upload("order", p) for p in priorities]
    queue.release_slot(first)
    queue.wait([first, *waiting])
    started = queue.started()
    assert all(started[first] < started[j] for j in waiting)
    order = sorted(waiting, key=lambda job_id: started[job_id])
    assert [priorities[waiting.index(j)] for j in order] == [1, 1, 3, 5, 5, 9, 9]
    for p in (1, 5, 9):  # FIFO within a priority
        mine = [j for j in waiting if priorities[waiting.index(j)] == p]
        assert [j for j in order if j in mine] == mine


def test_a_long_waiting_bulk_job_ages_past_a_fresh_normal_one(queue: Queue) -> None:
    blocker = queue.hold_slot(
        "aging", MAX_RUNNING_JOBS="1", MAX_RUNNING_JOBS_PER_USER="1", PRIORITY_AGING_MINUTES="0.01"
    )
    bulk = queue.upload("aging", 9)
    time.sleep(3.5)  # 0.6 s a level: the bulk job has aged to priority 4 or better
    fresh = queue.upload("aging", 5)
    queue.release_slot(blocker)
    queue.wait([blocker, bulk, fresh])
    started = queue.started()
    assert started[blocker] < started[bulk] < started[fresh]


def test_one_users_flood_delays_anothers_job_by_at_most_one_slot(queue: Queue) -> None:
    queue.configure(MAX_RUNNING_JOBS="2", MAX_RUNNING_JOBS_PER_USER="2", PRIORITY_AGING_MINUTES="600")
    flood = [queue.upload("flood", 5) for _ in range(10)]
    other = queue.upload("other", 5)
    jobs = {job.job_id: job for job in queue.wait([other, *flood], deadline_s=300)}
    started = queue.started()
    queued_at = jobs[other].queued_at
    assert queued_at is not None
    # Flood jobs admitted between the other user's job being queued and starting: the first slot freed is its.
    overtook = [j for j in flood if queued_at.timestamp() < started[j] < started[other]]
    assert len(overtook) <= 1, f"{len(overtook)} of the flood started while the other user's job waited"
    assert any(started[j] > started[other] for j in flood), "the flood ended before the other job was queued"
    assert all(job.status is S.COMPLETED for job in jobs.values())


def test_forty_concurrent_uploads_by_four_users_each_run_once_within_the_limits(queue: Queue) -> None:
    queue.configure(MAX_RUNNING_JOBS="6", MAX_RUNNING_JOBS_PER_USER="2", PRIORITY_AGING_MINUTES="30")
    owners = ("load-a", "load-b", "load-c", "load-d")
    with ThreadPoolExecutor(max_workers=8) as pool:
        job_ids = list(pool.map(lambda n: queue.upload(owners[n % 4], 1 + n % 10), range(40)))
    jobs = queue.wait(job_ids, deadline_s=600)
    # Each job held a slot from its admission (started_at) to its end (completed_at, before the slot is given
    # back): at no instant may more than the limits overlap. (Sampling job records one GetItem at a time cannot
    # show this: a job read as running may have ended, and its successor started, before the last read.)
    assert max_overlap(jobs) <= 6, max_overlap(jobs)
    for owner in owners:
        mine = [job for job in jobs if job.owner == owner]
        assert max_overlap(mine) <= 2, (owner, max_overlap(mine))
    assert all(job.status is S.COMPLETED for job in jobs), [(j.job_id, j.status, j.error_message) for j in jobs]
    executions = [
        e for page in queue.sfn.get_paginator("list_executions").paginate(stateMachineArn=queue.stack.state_machine_arn)
        for e in page["executions"] if e["name"].split("-")[0] in set(job_ids)
    ]  # fmt: skip
    assert len(executions) == len(job_ids), "one execution per job"
    assert all(job.retry_count == 0 for job in jobs)


def test_repairs_of_a_refused_start_a_stopped_execution_and_an_unfinished_upload(queue: Queue) -> None:
    queue.configure(MAX_RUNNING_JOBS="4", MAX_RUNNING_JOBS_PER_USER="2", START_GRACE_SECONDS="1")
    # An execution stopped from outside: the tick finds it ended without marking its job.
    stopped = queue.upload("repair", 5)
    # Stopped mid-way, once ProbeSource has begun and before PackageOutputs: one GetItem a poll (listing every
    # execution of the state machine takes longer as the suite has run more, and a 360p job may be done by then;
    # stopped during its first state, LocalStack let the execution run on to Publish).
    deadline = time.monotonic() + 60
    while not (
        (job := queue.repository.get(stopped)).current_step in MID_WORKFLOW
        and execution_running(queue, job.execution_arn)
    ):
        assert time.monotonic() < deadline, f"the job's execution was not seen mid-way ({job.current_step})"
        time.sleep(0.05)
    assert job.execution_arn is not None
    queue.sfn.stop_execution(executionArn=job.execution_arn, cause="an operator stopped it")
    deadline = time.monotonic() + 30
    while queue.sfn.describe_execution(executionArn=job.execution_arn)["status"] == "RUNNING":
        assert time.monotonic() < deadline, "the execution did not stop"
        time.sleep(0.2)
    queue.until(lambda: queue.tick() is not None and queue.repository.get(stopped).status.terminal)
    failed = queue.repository.get(stopped)
    assert failed.status is S.FAILED
    assert failed.error_type == "WorkflowEnded"
    assert "stopped from outside" in (failed.error_message or "")
    assert any(e.message.startswith("repair:") for e in queue.repository.list_events(stopped))
    # A start refused (the scheduler names a state machine that does not exist): the job keeps its slot; once
    # the fault is gone, the tick starts it again and it completes.
    variables = queue.lam.get_function_configuration(FunctionName=queue.scheduler)["Environment"]["Variables"]
    real = variables["STATE_MACHINE_ARN"]
    queue.configure(STATE_MACHINE_ARN=real + "-gone", START_GRACE_SECONDS="1")
    refused = queue.upload("repair", 5)
    deadline = time.monotonic() + 60
    while not any("did not start" in e.message for e in queue.repository.list_events(refused)):
        assert time.monotonic() < deadline, "the refused start was not recorded"
        time.sleep(0.3)
    assert queue.repository.get(refused).status is S.PROCESSING
    assert refused not in queue.started()
    queue.reconfigure({"START_GRACE_SECONDS": "1"})
    queue.until(lambda: queue.tick() is not None and refused in queue.started())
    (job,) = queue.wait([refused], deadline_s=120)
    assert job.status is S.COMPLETED, job.error_message
    assert any("never started" in e.message for e in queue.repository.list_events(refused))
    # An upload left unfinished: its multipart upload is aborted and the job CANCELLED with the reason.
    queue.configure(UPLOAD_EXPIRY_HOURS="0.0003")  # about a second
    job_id = new_job_id()
    key = upload_key("repair", job_id)
    upload_id = queue.s3.create_multipart_upload(Bucket=queue.stack.uploads_bucket, Key=key)["UploadId"]
    queue.repository.create(
        Job.new(
            job_id=job_id, owner="repair", source=Source(bucket=queue.stack.uploads_bucket, key=key),
            requested_renditions=("360p",), now=utc_now(),
            upload=Upload(upload_id=upload_id, file_name="a.mp4", size=10, part_size=10, part_count=1),
        )
    )  # fmt: skip
    queue.until(lambda: queue.tick() is not None and queue.repository.get(job_id).status.terminal)
    cancelled = queue.repository.get(job_id)
    assert cancelled.status is S.CANCELLED
    assert cancelled.error_type == "UploadExpired"
    assert "not completed within" in (cancelled.error_message or "")
    open_uploads = queue.s3.list_multipart_uploads(Bucket=queue.stack.uploads_bucket, Prefix=key).get("Uploads", [])
    assert open_uploads == []


def api_function(queue: Queue) -> str:
    names = [
        f["FunctionName"]
        for page in queue.lam.get_paginator("list_functions").paginate()
        for f in page["Functions"]
        if f["FunctionName"].startswith("VodpipePipeline-FunctionsJobsApi")
    ]
    (name,) = names
    return str(name)


@pytest.fixture
def api_limits(queue: Queue) -> Iterator[Callable[..., None]]:
    """The API function's quota settings narrowed for a test, as a redeploy would set them; restored after."""
    name = api_function(queue)
    original = queue.lam.get_function_configuration(FunctionName=name)["Environment"]["Variables"]

    def narrow(**settings: str) -> None:
        queue.lam.update_function_configuration(FunctionName=name, Environment={"Variables": original | settings})
        queue.lam.get_waiter("function_updated_v2").wait(FunctionName=name)

    yield narrow
    queue.lam.update_function_configuration(FunctionName=name, Environment={"Variables": original})
    queue.lam.get_waiter("function_updated_v2").wait(FunctionName=name)


def create(queue: Queue, token: str, priority: int = 5) -> httpx.Response:
    return httpx.post(
        f"{queue.stack.api_url}/uploads",
        headers={"Authorization": f"Bearer {token}"},
        json={"file_name": "a.mp4", "size": 1000, "priority": priority},
        timeout=30,
    )


def test_quotas_answer_429_with_retry_after_and_tiers_403(queue: Queue, api_limits: Callable[..., None]) -> None:
    api_limits(MAX_UPLOADS_PER_HOUR="2", MAX_QUEUED_JOBS_PER_USER="2")
    table = queue.stack.jobs_table
    # max_queued_jobs_per_user: two jobs waiting (their uploads still open), the third is refused.
    waiting = create_token(queue.dynamodb, table, f"waiting-{new_job_id()[-6:].lower()}")
    assert [create(queue, waiting).status_code for _ in range(2)] == [201, 201]
    refused = create(queue, waiting)
    assert refused.status_code == 429, refused.text
    assert int(refused.headers["Retry-After"]) > 0
    assert "max_queued_jobs_per_user" in refused.json()["message"]
    # max_uploads_per_hour: two uploads abandoned (nothing waits), the third in the hour is refused.
    hourly = create_token(queue.dynamodb, table, f"hourly-{new_job_id()[-6:].lower()}")
    for _ in range(2):
        job_id = create(queue, hourly).json()["job"]["job_id"]
        httpx.delete(
            f"{queue.stack.api_url}/uploads/{job_id}", headers={"Authorization": f"Bearer {hourly}"}, timeout=30
        )
    refused = create(queue, hourly)
    assert refused.status_code == 429, refused.text
    assert 0 < int(refused.headers["Retry-After"]) <= 3600
    assert "max_uploads_per_hour" in refused.json()["message"]
    # A tier: this token may ask for priority 4 at best.
    tiered = create_token(queue.dynamodb, table, "tiered", max_priority=4)
    above = create(queue, tiered, priority=2)
    assert above.status_code == 403, above.text
    assert above.json()["field"] == "priority"
    assert create(queue, tiered, priority=4).status_code == 201


def test_patch_reorders_a_waiting_job_and_operators_see_the_queue(queue: Queue) -> None:
    blocker = queue.hold_slot(
        "patch", MAX_RUNNING_JOBS="1", MAX_RUNNING_JOBS_PER_USER="1", PRIORITY_AGING_MINUTES="600"
    )
    later, sooner = queue.upload("patch", 5), queue.upload("patch", 9)
    token = queue.tokens["patch"]
    auth = {"Authorization": f"Bearer {token}"}
    shown = httpx.get(f"{queue.stack.api_url}/jobs/{sooner}", headers=auth, timeout=30).json()
    assert shown["status"] == "QUEUED"
    assert shown["queue_position"] == 1  # behind the priority-5 job
    changed = httpx.patch(f"{queue.stack.api_url}/jobs/{sooner}", headers=auth, json={"priority": 2}, timeout=30)
    assert changed.status_code == 200, changed.text
    assert (changed.json()["priority"], changed.json()["queue_position"]) == (2, 0)
    # Operators: an admin token sees the whole queue and the health report; a user's token does not.
    admin = {"Authorization": f"Bearer {create_token(queue.dynamodb, queue.stack.jobs_table, 'ops', role='admin')}"}
    report = httpx.get(f"{queue.stack.api_url}/admin/queue", headers=admin, timeout=30)
    assert report.status_code == 200, report.text
    assert report.json()["waiting"] >= 2
    assert report.json()["running"] >= 1
    health = httpx.get(f"{queue.stack.api_url}/health", headers=admin, timeout=30)
    assert health.status_code == 200, health.text
    assert {"running", "waiting", "start_failures", "oldest_wait_seconds"} <= set(health.json())
    assert httpx.get(f"{queue.stack.api_url}/health", headers=auth, timeout=30).status_code == 403
    queue.release_slot(blocker)
    queue.wait([blocker, later, sooner])
    started = queue.started()
    assert started[blocker] < started[sooner] < started[later]
