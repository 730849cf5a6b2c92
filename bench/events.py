"""Job events, measured on the local deployment. Prints, asserts nothing.

  lag       a job write (the table's PutItem returned) -> the event at an SQS queue behind a rule on the feed bus,
            and -> a signed webhook at a receiver on loopback; p50/p95 over `--events` job creations written at
            `--rate` per second. Beside it the floor: PutEvents of the same document straight onto the bus -> the same
            queue (EventBridge's own hop), in the same run.
  poll      a long-poll answering a change: PATCH of a waiting job's priority -> the waiting GET /jobs/{id}?wait=
            answers, p50/p95 over `--polls` changes.
  requests  the requests a follower makes for a 60 s job whose progress is written every 2 s (as the pipeline
            does): the CLI's former fixed 1 s poll against `follow_job`'s long-poll, side by side on the same job.

Needs `make deploy-local`.
"""

from __future__ import annotations

import argparse
import json
import statistics
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import boto3
import httpx

from lambdas.feed.model import EventType, FeedEvent, detail_type, source_of
from lambdas.jobs.dynamodb import DynamoDBJobRepository
from lambdas.jobs.model import Job, JobStatus, JobStep, Source, utc_now
from lambdas.jobs.stats import p50, p95
from lambdas.jobs.transitions import transition
from tests.integration.events.receiver import Receiver, receiving
from vodpipe.client.api import ApiClient, Json
from vodpipe.client.follow import follow_job
from vodpipe.local.runtime import LocalRuntime
from vodpipe.local.stack import LocalDeployment, outputs_file
from vodpipe.local.users import create_token


def line(name: str, values: list[float], unit: str = "ms", scale: float = 1000) -> str:
    middle, tail = p50(values), p95(values)
    if middle is None or tail is None:
        return f"  {name:<34} no samples"
    return f"  {name:<34} p50 {middle * scale:8.0f} {unit}   p95 {tail * scale:8.0f} {unit}   n={len(values)}"


class BusQueue:
    """An SQS queue behind a rule of the feed bus matching one owner, as a user would route it."""

    def __init__(self, session: boto3.Session, deployment: LocalDeployment, owner: str) -> None:
        self.sqs = session.client("sqs", endpoint_url=deployment.endpoint)
        self.events = session.client("events", endpoint_url=deployment.endpoint)
        self.bus = deployment.raw["VodpipePipeline"]["EventBusName"]
        self.rule = f"bench-{owner}"
        self.url = self.sqs.create_queue(QueueName=self.rule)["QueueUrl"]
        arn = self.sqs.get_queue_attributes(QueueUrl=self.url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        pattern = {"detail": {"owner": [owner]}}
        self.events.put_rule(Name=self.rule, EventBusName=self.bus, EventPattern=json.dumps(pattern))
        self.events.put_targets(Rule=self.rule, EventBusName=self.bus, Targets=[{"Id": "q", "Arn": arn}])
        self.arrived: dict[str, float] = {}  # event id -> arrival
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._drain, daemon=True)
        self._thread.start()

    def _drain(self) -> None:
        while not self._stop.is_set():
            answer = self.sqs.receive_message(QueueUrl=self.url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
            now = time.time()
            for message in answer.get("Messages", []):
                detail = json.loads(message["Body"])["detail"]
                self.arrived.setdefault(detail["id"], now)
                self.sqs.delete_message(QueueUrl=self.url, ReceiptHandle=message["ReceiptHandle"])

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self.events.remove_targets(Rule=self.rule, EventBusName=self.bus, Ids=["q"])
        self.events.delete_rule(Name=self.rule, EventBusName=self.bus)
        self.sqs.delete_queue(QueueUrl=self.url)


def wait_until(done: Callable[[], bool], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not done() and time.monotonic() < deadline:
        time.sleep(0.2)


def new_job(owner: str, bucket: str) -> Job:
    return Job.new(
        owner=owner, source=Source(bucket=bucket, key=f"uploads/{owner}/bench"), requested_renditions=("360p",),
        now=utc_now(),
    )  # fmt: skip


def lag(deployment: LocalDeployment, session: boto3.Session, token: str, owner: str, count: int, rate: float) -> None:
    repo = DynamoDBJobRepository(session.client("dynamodb", endpoint_url=deployment.endpoint), deployment.jobs_table)
    bus = BusQueue(session, deployment, owner)
    try:
        with receiving(Receiver()) as receiver, httpx.Client(base_url=deployment.api_url, timeout=30) as api:
            hook = api.post(
                "/webhooks", json={"url": receiver.url, "events": ["job.created"]},
                headers={"Authorization": f"Bearer {token}"},
            )  # fmt: skip
            hook.raise_for_status()
            written: dict[str, float] = {}  # job id -> when its PutItem returned
            for _ in range(count):
                job = new_job(owner, deployment.uploads_bucket)
                repo.create(job)
                written[job.job_id] = time.time()
                time.sleep(1 / rate)
            wait_until(lambda: len(receiver.got) >= count and len(bus.arrived) >= count, 120)
            hooked = {r.json()["job_id"]: r.at for r in receiver.got}
            queued_at = {}
            for received in receiver.got:
                event = received.json()
                if event["id"] in bus.arrived:
                    queued_at[event["job_id"]] = bus.arrived[event["id"]]
            to_bus = [queued_at[j] - t for j, t in written.items() if j in queued_at]
            to_hook = [hooked[j] - t for j, t in written.items() if j in hooked]
            # The floor: the same kind of document put straight onto the bus, to the same queue.
            direct: list[float] = []
            events = session.client("events", endpoint_url=deployment.endpoint)
            for n in range(min(count, 50)):
                probe = FeedEvent(
                    id=f"evt_bench{uuid.uuid4().hex}", type=EventType.JOB_CREATED, timestamp=utc_now(),
                    job_id=None, owner=owner, version=n + 1, sequence=0, data={},
                )  # fmt: skip
                put_at = time.time()
                events.put_events(Entries=[{
                    "EventBusName": bus.bus, "Source": source_of(probe.type), "DetailType": detail_type(probe.type),
                    "Detail": probe.body(),
                }])  # fmt: skip
                probe_id = probe.id
                wait_until(lambda: probe_id in bus.arrived, 10)  # noqa: B023 - used before the next iteration
                if probe.id in bus.arrived:
                    direct.append(bus.arrived[probe.id] - put_at)
    finally:
        bus.close()
    print(f"lag: {count} job writes at {rate:g}/s (each a job.created event)")
    print(line("write -> SQS behind a bus rule", to_bus))
    print(line("write -> webhook receiver", to_hook))
    print(line("floor: PutEvents -> SQS (same rule)", direct))
    if to_bus and direct:
        print(f"  ratio p50 (write -> SQS) / floor:    {statistics.median(to_bus) / statistics.median(direct):.1f}x")
    lost = count - len(to_hook)
    print(f"  delivered: {len(to_hook)}/{count} webhooks, {len(to_bus)}/{count} queue messages; missing {lost}")


def polls(deployment: LocalDeployment, token: str, count: int) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    answered: list[float] = []
    with httpx.Client(base_url=deployment.api_url, timeout=40, headers=headers) as api:
        created = api.post("/uploads", json={"file_name": "bench.mp4", "size": 1000, "renditions": ["360p"]})
        created.raise_for_status()
        job_id = created.json()["job"]["job_id"]
        for n in range(count):
            revision = api.get(f"/jobs/{job_id}").json()["revision"]
            result: dict[str, float] = {}

            def poll(revision: int = revision, result: dict[str, float] = result) -> None:
                api.get(f"/jobs/{job_id}", params={"wait": 20, "version": revision})
                result["at"] = time.monotonic()

            poller = threading.Thread(target=poll)
            poller.start()
            time.sleep(1.0)  # the poll is waiting
            changed_at = time.monotonic()
            api.patch(f"/jobs/{job_id}", json={"priority": 2 + n % 7}).raise_for_status()
            poller.join(30)
            answered.append(result["at"] - changed_at)
        api.delete(f"/uploads/{job_id}")
    print(f"poll: a change -> the waiting long-poll answers ({count} changes)")
    print(line("PATCH returned -> long-poll answered", answered))


class Counting(ApiClient):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.requests = 0

    def get_job(self, job_id: str) -> Json:
        self.requests += 1
        return super().get_job(job_id)

    def wait_for_change(self, *args: Any, **kwargs: Any) -> Any:
        self.requests += 1
        return super().wait_for_change(*args, **kwargs)


def requests(deployment: LocalDeployment, session: boto3.Session, token: str, owner: str, seconds: float) -> None:
    repo = DynamoDBJobRepository(session.client("dynamodb", endpoint_url=deployment.endpoint), deployment.jobs_table)
    job = new_job(owner, deployment.uploads_bucket)
    repo.create(job)
    uploaded = job.source.model_copy(update={"size": 1000, "etag": '"bench"'})
    job = repo.save_transition(job, transition(job, JobStatus.QUEUED, utc_now(), source=uploaded))
    job = repo.save_transition(job, transition(job, JobStatus.PROCESSING, utc_now()))

    def run_job() -> None:
        started = time.monotonic()
        percent = 0
        while time.monotonic() - started < seconds:
            time.sleep(2)
            percent = min(99, round(100 * (time.monotonic() - started) / seconds))
            repo.update_progress(job.job_id, JobStep.TRANSCODE, max(1, percent))
        stored = repo.get(job.job_id)
        repo.save_transition(stored, transition(stored, JobStatus.COMPLETED, utc_now()))

    old = Counting(deployment.api_url, token)
    new = Counting(deployment.api_url, token)

    def fixed_poll() -> None:
        while old.get_job(job.job_id)["status"] != "COMPLETED":
            time.sleep(1.0)

    worker = threading.Thread(target=run_job)
    before = threading.Thread(target=fixed_poll)
    worker.start()
    before.start()
    follow_job(new, job.job_id, timeout=seconds + 60)
    before.join(seconds + 60)
    worker.join()
    writes = repo.get(job.job_id).revision
    print(f"requests: following a {seconds:g} s job with a progress write every 2 s ({writes} revisions)")
    print(f"  fixed 1 s poll (before):            {old.requests:5d} requests")
    print(f"  long-poll follow_job (after):       {new.requests:5d} requests")
    print(f"  ratio before/after:                 {old.requests / max(1, new.requests):.1f}x")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=200)
    parser.add_argument("--rate", type=float, default=10.0)
    parser.add_argument("--polls", type=int, default=20)
    parser.add_argument("--job-seconds", type=float, default=60.0)
    args = parser.parse_args()
    path = outputs_file(LocalRuntime.from_env())
    if not path.exists():
        raise SystemExit("no local deployment: run `make deploy-local` first")
    deployment = LocalDeployment.load(path)
    session = boto3.Session(aws_access_key_id="test", aws_secret_access_key="test", region_name="us-east-1")
    owner = f"bench-events-{uuid.uuid4().hex[:6]}"
    token = create_token(session.client("dynamodb", endpoint_url=deployment.endpoint), deployment.jobs_table, owner)
    lag(deployment, session, token, owner, args.events, args.rate)
    # Another user: the lag's 200 jobs wait for uploads that never come, and the queue quota counts them.
    poller = f"{owner}-polls"
    polls(deployment, create_token(session.client("dynamodb", endpoint_url=deployment.endpoint),
                                   deployment.jobs_table, poller), args.polls)  # fmt: skip
    requests(deployment, session, token, owner, args.job_seconds)


if __name__ == "__main__":
    main()
