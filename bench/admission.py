"""The queue, measured on the local deployment with 100 waiting jobs. Prints, asserts nothing.

  handoff  a slot freed (the previous job COMPLETED) -> the next admitted job's first step (its execution's
           RegisterJob scheduled), p50/p95 over `--handoffs` consecutive handoffs with max_running_jobs = 1;
           beside it the floor: a `Job Finished` put on the bus -> the scheduler invoked (EventBridge's own
           delivery) + one StartExecution, measured in the same run
  admit    admissions per second of one scheduler pass over 100 waiting jobs on the deployment's table (the
           admission transactions and the index reads, Step Functions left out), against the floor of one
           conditional UpdateItem per job on the same table

Needs `make deploy-local`. The scheduler's settings are narrowed for the run (as a redeploy would) and restored.
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import boto3

from lambdas.events import bus_entry
from lambdas.jobs.dynamodb import DynamoDBJobRepository
from lambdas.jobs.model import Job, JobStatus, Source, new_job_id, utc_now
from lambdas.jobs.transitions import transition
from lambdas.queue.config import QueueConfig
from lambdas.queue.dynamodb import DynamoDBQueueStore
from lambdas.queue.scheduler import Scheduler
from vodpipe.client.api import ApiClient
from vodpipe.client.resume import ResumeStore
from vodpipe.client.upload import Uploader, UploadRequest
from vodpipe.local.runtime import LocalRuntime
from vodpipe.local.stack import LocalDeployment, outputs_file
from vodpipe.local.users import create_token

ROOT = Path(__file__).resolve().parents[1]
BIN = ROOT / "layers" / "ffmpeg" / "build" / "bin"
WAITING = 100


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered)) - 1))]


class Recorded:
    """A workflow that records starts (the admission bench leaves Step Functions out)."""

    def __init__(self) -> None:
        self.started: list[str] = []

    def execution_arn(self, name: str) -> str:
        return f"arn:aws:states:us-east-1:000000000000:execution:bench:{name}"

    def start(self, name: str, payload: Any) -> str:
        self.started.append(name)
        return self.execution_arn(name)

    def describe(self, execution_arn: str) -> None:
        return None

    def stop(self, execution_arn: str, *, cause: str) -> None:
        return None


class Uploads:
    def abort(self, bucket: str, key: str, upload_id: str) -> None:
        return None


def queued_jobs(repo: DynamoDBJobRepository, owner: str, count: int, bucket: str) -> list[Job]:
    jobs = []
    for n in range(count):
        job_id = new_job_id()
        job = Job.new(
            job_id=job_id,
            owner=owner,
            source=Source(bucket=bucket, key=f"uploads/{owner}/{job_id}/source"),
            requested_renditions=("360p",),
            priority=1 + n % 10,
            now=utc_now(),
        )
        repo.create(job)
        jobs.append(repo.save_transition(job, transition(job, JobStatus.QUEUED, utc_now())))
    return jobs


def admissions(deployment: LocalDeployment, dynamodb: Any) -> None:
    repo = DynamoDBJobRepository(dynamodb, deployment.jobs_table)
    store = DynamoDBQueueStore(dynamodb, deployment.jobs_table)
    # The floor: one conditional status write per job (what any scheduler must do at least).
    floor_jobs = queued_jobs(repo, "bench-floor", WAITING, deployment.uploads_bucket)
    started = time.perf_counter()
    for job in floor_jobs:
        repo.save_transition(job, transition(job, JobStatus.CANCELLED, utc_now()))
    floor = WAITING / (time.perf_counter() - started)
    # The pass: the deployment's queue must be idle, or its jobs would be counted too.
    if store.running().total:
        print(f"admit: skipped, {store.running().total} jobs hold slots on this deployment")
        return
    jobs = queued_jobs(repo, "bench-admit", WAITING, deployment.uploads_bucket)
    workflow = Recorded()
    limits = QueueConfig(max_running_jobs=WAITING, max_running_jobs_per_user=WAITING)
    scheduler = Scheduler(store, repo, workflow, Uploads(), limits)  # type: ignore[arg-type]
    started = time.perf_counter()
    result = scheduler.admit()
    took = time.perf_counter() - started
    rate = len(result.admitted) / took
    print(f"admit: {len(result.admitted)} of {WAITING} waiting admitted in {took:.2f} s = {rate:.0f}/s "
          f"(floor, one conditional UpdateItem each: {floor:.0f}/s; ratio {floor / rate:.1f}x)")  # fmt: skip
    for job in jobs:  # leave nothing holding a slot
        current = repo.get(job.job_id)
        if current.status is JobStatus.PROCESSING:
            repo.save_transition(current, transition(current, JobStatus.CANCELLED, utc_now()))
        store.release(job.job_id)


def handoffs(deployment: LocalDeployment, session: boto3.Session, count: int) -> None:
    lam = session.client("lambda", endpoint_url=deployment.endpoint)
    sfn = session.client("stepfunctions", endpoint_url=deployment.endpoint)
    events = session.client("events", endpoint_url=deployment.endpoint)
    dynamodb = session.client("dynamodb", endpoint_url=deployment.endpoint)
    repo = DynamoDBJobRepository(dynamodb, deployment.jobs_table)
    scheduler = deployment.scheduler_function
    original = lam.get_function_configuration(FunctionName=scheduler)["Environment"]["Variables"]
    narrowed = original | {"MAX_RUNNING_JOBS": "1", "MAX_RUNNING_JOBS_PER_USER": "1"}
    lam.update_function_configuration(FunctionName=scheduler, Environment={"Variables": narrowed})
    lam.get_waiter("function_updated_v2").wait(FunctionName=scheduler)
    # The API's per-user quotas would refuse 101 uploads of one user in an hour: widened for the run.
    api_fn = next(
        f["FunctionName"]
        for page in lam.get_paginator("list_functions").paginate()
        for f in page["Functions"]
        if f["FunctionName"].startswith("VodpipePipeline-FunctionsJobsApi")
    )
    api_env = lam.get_function_configuration(FunctionName=api_fn)["Environment"]["Variables"]
    widened = api_env | {"MAX_UPLOADS_PER_HOUR": "100000", "MAX_QUEUED_JOBS_PER_USER": "100000"}
    lam.update_function_configuration(FunctionName=api_fn, Environment={"Variables": widened})
    lam.get_waiter("function_updated_v2").wait(FunctionName=api_fn)
    token = create_token(dynamodb, deployment.jobs_table, f"bench-{new_job_id()[-8:].lower()}")
    job_ids: list[str] = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            clip = Path(tmp) / "clip.mp4"
            import subprocess

            subprocess.run(
                [str(BIN / "ffmpeg"), "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=320x180:rate=24:duration=1",
                 "-pix_fmt", "yuv420p", "-c:v", "libx264", "-preset", "ultrafast", str(clip)],
                check=True, env={"GCONV_PATH": "/nonexistent"},
            )  # fmt: skip
            with ApiClient(deployment.api_url, token) as api:
                for _ in range(WAITING + 1):
                    store = ResumeStore(Path(tempfile.mkdtemp(dir=tmp)))
                    request = UploadRequest(priority=5, renditions=("360p",), outputs=("hls",))
                    job_ids.append(Uploader(api, store, parallel=1).upload(clip, request).job_id)
        # Follow the first `count` handoffs in FIFO order (all at priority 5).
        waits: list[float] = []
        deadline = time.monotonic() + 60 * (count + 2)
        for previous, following in itertools.pairwise(job_ids):
            while time.monotonic() < deadline:
                done = repo.get(previous)
                if done.status.terminal:
                    break
                time.sleep(0.2)
            arn = repo.get(following).execution_arn
            first_step = None
            while arn and first_step is None and time.monotonic() < deadline:
                try:
                    history = sfn.get_execution_history(executionArn=arn, maxResults=20)["events"]
                    first_step = next((e["timestamp"] for e in history if e["type"] == "TaskStateEntered"), None)
                except sfn.exceptions.ExecutionDoesNotExist:
                    pass
                if first_step is None:
                    time.sleep(0.2)
            if done.completed_at and first_step:
                waits.append((first_step - done.completed_at).total_seconds())
        if waits:
            print(f"handoff: slot freed -> next job's first step over {len(waits)} handoffs, {WAITING} waiting: "
                  f"p50 {percentile(waits, 0.5):.2f} s, p95 {percentile(waits, 0.95):.2f} s")  # fmt: skip
        # The floor: putting one event on the bus, and one synchronous scheduler pass (invoke + its reads).
        deliveries = []
        for _ in range(5):
            put = time.perf_counter()
            entry: Any = bus_entry("Job Queued", "vodpipe.api", job_ids[-1], "default")
            events.put_events(Entries=[entry])
            deliveries.append(time.perf_counter() - put)
        for _ in range(2):  # the second is warm: the first may start an environment after the settings change
            start = time.perf_counter()
            lam.invoke(FunctionName=scheduler, Payload=json.dumps({"detail-type": "Scheduled Event", "version": "0",
                   "id": "b", "source": "aws.events", "account": "0", "time": "2026-01-01T00:00:00Z",
                   "region": "us-east-1", "resources": [], "detail": {}}))  # fmt: skip
            invoke = time.perf_counter() - start
        print(f"floor: PutEvents {statistics.median(deliveries) * 1000:.0f} ms, one synchronous scheduler pass "
              f"(warm invoke, reads, repairs, nothing to admit) {invoke * 1000:.0f} ms")  # fmt: skip
    finally:
        with ApiClient(deployment.api_url, token) as api:
            for job_id in job_ids:
                try:
                    if not repo.get(job_id).status.terminal:
                        api.cancel_job(job_id)
                except Exception as error:
                    print(f"could not cancel {job_id}: {error}")
        lam.update_function_configuration(FunctionName=scheduler, Environment={"Variables": original})
        lam.update_function_configuration(FunctionName=api_fn, Environment={"Variables": api_env})


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--handoffs", type=int, default=10)
    args = parser.parse_args()
    path = outputs_file(LocalRuntime.from_env())
    if not path.exists():
        raise SystemExit("no local deployment: run `make deploy-local` first")
    deployment = LocalDeployment.load(path)
    session = boto3.Session(aws_access_key_id="test", aws_secret_access_key="test", region_name="us-east-1")
    admissions(deployment, session.client("dynamodb", endpoint_url=deployment.endpoint))
    handoffs(deployment, session, args.handoffs)


if __name__ == "__main__":
    main()
