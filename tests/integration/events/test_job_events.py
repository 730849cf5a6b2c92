"""Job events on the local deployment: the table's stream -> the publisher -> the bus -> webhooks (signed, retried,
dead-lettered, replayed), an SQS queue behind a rule the test makes, the operators' SNS topic, the owner's email;
and long-polling GET /jobs/{id}. Real jobs, real ffmpeg, real receivers on loopback."""

from __future__ import annotations

import json
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.integration.events.receiver import Receiver, receiving
from tests.pipeline_jobs import ffmpeg
from vodpipe.client.api import ApiClient
from vodpipe.client.resume import ResumeStore
from vodpipe.client.upload import Uploader, UploadRequest
from vodpipe.local.stack import LOCAL_SENDER, LocalDeployment
from vodpipe.local.users import create_token

TERMINAL = {"job.completed", "job.failed", "job.cancelled"}


def order(event: dict[str, Any]) -> tuple[int, int]:
    return (int(event["version"]), int(event["sequence"]))


@dataclass
class Story:
    """Two users' jobs run once for the module, with every consumer of the feed listening."""

    stack: LocalDeployment
    aws: Callable[..., Any]
    api: httpx.Client
    tokens: dict[str, str]
    receiver: Receiver
    secret: str
    endpoint_id: str
    bus_queue: str
    topic_queue: str
    email: str
    jobs: dict[str, str] = field(default_factory=dict)  # owner -> job id

    def call(self, owner: str, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.tokens[owner]}"} | kwargs.pop("headers", {})
        return self.api.request(method, path, headers=headers, **kwargs)

    def messages(
        self, queue_url: str, until: Callable[[list[dict[str, Any]]], bool], seconds: float = 90
    ) -> list[dict[str, Any]]:
        sqs = self.aws("sqs")
        got: list[dict[str, Any]] = []
        deadline = time.monotonic() + seconds
        while not until(got):
            assert time.monotonic() < deadline, f"{len(got)} messages: {[m.get('detail-type') for m in got]}"
            answer = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
            for message in answer.get("Messages", []):
                got.append(json.loads(message["Body"]))
                sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
        return got


def _clip(path: Path) -> Path:
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=320x180:rate=24:duration=2", "-f", "lavfi", "-i",
           "sine=frequency=440:duration=2", "-pix_fmt", "yuv420p", "-c:v", "libx264", "-preset", "ultrafast",
           "-c:a", "aac", "-shortest", str(path))  # fmt: skip
    return path


def _upload(stack: LocalDeployment, token: str, clip: Path, resume: Path) -> str:
    with ApiClient(stack.api_url, token) as client:
        store = ResumeStore(Path(tempfile.mkdtemp(dir=resume)))
        result = Uploader(client, store, parallel=1).upload(clip, UploadRequest(renditions=("360p",), outputs=("hls",)))
    return result.job_id


@pytest.fixture(scope="module")
def story(
    stack: LocalDeployment, aws_client: Callable[..., Any], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Story]:
    run = uuid.uuid4().hex[:8]
    alice, bob = f"alice-{run}", f"bob-{run}"
    email = f"{alice}@example.com"
    dynamodb = aws_client("dynamodb")
    tokens = {
        alice: create_token(dynamodb, stack.jobs_table, alice, email=email),
        bob: create_token(dynamodb, stack.jobs_table, bob),
    }
    sqs, events, sns = aws_client("sqs"), aws_client("events"), aws_client("sns")
    pipeline = stack.raw["VodpipePipeline"]
    bus = pipeline["EventBusName"]
    # The user's own routing, as an AWS user would add it: alice's job events to an SQS queue.
    bus_queue = sqs.create_queue(QueueName=f"feed-{run}")["QueueUrl"]
    bus_queue_arn = sqs.get_queue_attributes(QueueUrl=bus_queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    rule = f"alice-jobs-{run}"
    events.put_rule(
        Name=rule,
        EventBusName=bus,
        EventPattern=json.dumps({"source": ["vodpipe.jobs"], "detail": {"owner": [alice]}}),
    )
    events.put_targets(Rule=rule, EventBusName=bus, Targets=[{"Id": "queue", "Arn": bus_queue_arn}])
    # An operator's subscription to the notifications topic.
    topic_queue = sqs.create_queue(QueueName=f"ops-{run}")["QueueUrl"]
    topic_queue_arn = sqs.get_queue_attributes(QueueUrl=topic_queue, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    sns.subscribe(TopicArn=pipeline["NotificationsTopicArn"], Protocol="sqs", Endpoint=topic_queue_arn)
    clip = _clip(tmp_path_factory.mktemp("events") / "clip.mp4")
    with httpx.Client(base_url=stack.api_url, timeout=60) as api, receiving() as receiver:
        s = Story(stack, aws_client, api, tokens, receiver, "", "", bus_queue, topic_queue, email)
        created = s.call(alice, "POST", "/webhooks", json={"url": receiver.url, "events": ["job.*"]})
        assert created.status_code == 201, created.text
        s.secret, s.endpoint_id = created.json()["secret"], created.json()["webhook"]["id"]
        bob_hook = s.call(bob, "POST", "/webhooks", json={"url": receiver.url + "/bob", "events": ["webhook.test"]})
        assert bob_hook.status_code == 201, bob_hook.text
        resume = tmp_path_factory.mktemp("resume")
        for owner in (alice, bob):
            s.jobs[owner] = _upload(stack, tokens[owner], clip, resume)
        receiver.wait_for(
            lambda got: any(r.json()["type"] in TERMINAL and r.json()["job_id"] == s.jobs[alice] for r in got),
            seconds=240,
        )
        for owner in (alice, bob):
            _finished(s, owner, s.jobs[owner])
        yield s
    events.remove_targets(Rule=rule, EventBusName=bus, Ids=["queue"])
    events.delete_rule(Name=rule, EventBusName=bus)


def _finished(story: Story, owner: str, job_id: str, seconds: float = 240) -> dict[str, Any]:
    deadline = time.monotonic() + seconds
    while True:
        job: dict[str, Any] = story.call(owner, "GET", f"/jobs/{job_id}").json()
        if job["status"] in {"COMPLETED", "FAILED", "CANCELLED"}:
            assert job["status"] == "COMPLETED", job
            return job
        assert time.monotonic() < deadline, job
        time.sleep(1)


def alice(story: Story) -> str:
    return next(owner for owner in story.jobs if owner.startswith("alice"))


def test_a_receiver_gets_started_then_completed_verified_in_version_order(story: Story) -> None:
    payloads = story.receiver.verified(story.secret)  # every request checked by standardwebhooks' verifier
    mine = [p for p in payloads if p["job_id"] == story.jobs[alice(story)]]
    arrived = [p["type"] for p in mine]
    assert arrived.index("job.started") < arrived.index("job.completed"), arrived
    # Deliveries are independent (at least once, not ordered, like Stripe's or Svix's): the version orders them.
    life = [p["type"] for p in sorted(mine, key=order)]
    assert [t for t in life if t != "job.progress"] == [
        "job.created", "job.uploaded", "job.queued", "job.started", "job.playable", "job.completed"
    ] or [t for t in life if t != "job.progress"] == [
        "job.created", "job.uploaded", "job.queued", "job.started", "job.completed"
    ], life  # fmt: skip
    assert len({order(p) for p in mine}) == len(mine), "one event per (version, sequence)"
    assert len({p["id"] for p in mine}) == len(mine)
    completed = next(p for p in mine if p["type"] == "job.completed")
    assert completed["data"]["status"] == "COMPLETED"
    assert completed["data"]["outputs"]["playback_url"]
    started = next(p for p in mine if p["type"] == "job.started")
    assert order(started) < order(completed)


def test_another_users_job_never_reaches_this_users_endpoint(story: Story) -> None:
    bob_job = next(job for owner, job in story.jobs.items() if owner.startswith("bob"))
    # Bob's job ran beside alice's to completion, and bob's own endpoint takes webhook.test only: nothing of his
    # job reached the receiver, through alice's endpoint or his.
    assert story.receiver.got
    assert all(bob_job not in r.body for r in story.receiver.got)


def test_a_rule_on_the_bus_routes_every_event_of_a_job_to_sqs_with_versions_that_order_them(story: Story) -> None:
    job_id = story.jobs[alice(story)]
    got = story.messages(
        story.bus_queue,
        lambda got: any(m["detail"]["type"] in TERMINAL and m["detail"]["job_id"] == job_id for m in got),
    )
    details = {m["detail"]["id"]: m["detail"] for m in got if m["detail"]["job_id"] == job_id}  # deduped by id
    # EventBridge orders nothing (AWS documents it; LocalStack dispatches every entry on its own thread), so the
    # order is the events' own: sorted by (version, sequence), they are the job's life.
    life = [d["type"] for d in sorted(details.values(), key=order) if d["type"] != "job.progress"]
    assert life[:4] == ["job.created", "job.uploaded", "job.queued", "job.started"], life
    assert life[-1] == "job.completed", life
    assert len({order(d) for d in details.values()}) == len(details)
    assert {m["detail-type"] for m in got} >= {
        "Job Created",
        "Job Uploaded",
        "Job Queued",
        "Job Started",
        "Job Completed",
    }
    assert all(m["source"] == "vodpipe.jobs" for m in got)
    # The webhook receiver got the same events (same ids) as the user's own rule did.
    hooked = {r.json()["id"] for r in story.receiver.got if r.json().get("job_id") == job_id}
    assert hooked == set(details)


def test_the_operators_topic_gets_the_terminal_events(story: Story) -> None:
    ours = set(story.jobs.values())

    def ended(message: dict[str, Any]) -> dict[str, Any]:
        event: dict[str, Any] = json.loads(message["Message"])
        return event

    # The topic is the deployment's: other suites' jobs end there too; ours must be among them.
    got = story.messages(story.topic_queue, lambda got: ours <= {ended(m)["detail"]["job_id"] for m in got})
    events = [ended(m) for m in got]
    assert {e["detail-type"] for e in events if e["detail"]["job_id"] in ours} == {"Job Completed"}
    assert {e["detail-type"] for e in events} <= {"Job Completed", "Job Failed", "Job Cancelled"}


def test_the_owner_gets_an_email_with_the_playback_link(story: Story) -> None:
    job = story.call(alice(story), "GET", f"/jobs/{story.jobs[alice(story)]}").json()
    deadline = time.monotonic() + 60
    while True:
        sent = httpx.get(f"{story.stack.endpoint}/_aws/ses", params={"email": LOCAL_SENDER}).json()["messages"]
        mine = [m for m in sent if story.email in m["Destination"]["ToAddresses"]]
        if mine or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert len(mine) == 1, sent
    assert job["outputs"]["playback_url"] in mine[0]["Body"]["text_part"]
    assert "is ready" in mine[0]["Subject"]
    # Bob's token has no address: no email for his job.
    assert not [m for m in sent if story.jobs[next(o for o in story.jobs if o.startswith("bob"))] in str(m)]


def _delivery(story: Story, owner: str, delivery_id: str) -> dict[str, Any]:
    page = story.call(owner, "GET", f"/webhooks/{story.endpoint_id}/deliveries", params={"limit": 50}).json()
    (found,) = [d for d in page["deliveries"] if d["id"] == delivery_id]
    return dict(found)


def _until(done: Callable[[], bool], seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not done():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.5)


@pytest.fixture
def hook(story: Story) -> Iterator[tuple[Receiver, str, str]]:
    """A second endpoint of alice's, on its own receiver: (receiver, endpoint id, secret)."""
    owner = alice(story)
    with receiving(Receiver()) as receiver:
        created = story.call(owner, "POST", "/webhooks", json={"url": receiver.url, "events": ["webhook.test"]})
        assert created.status_code == 201, created.text
        body = created.json()
        yield receiver, body["webhook"]["id"], body["secret"]
        assert story.call(owner, "DELETE", f"/webhooks/{body['webhook']['id']}").status_code == 204


def test_500_twice_then_200_is_delivered_on_the_third_attempt_with_one_webhook_id(
    story: Story, hook: tuple[Receiver, str, str]
) -> None:
    receiver, endpoint_id, secret = hook
    receiver.script = [500, 500]
    sent = story.call(alice(story), "POST", f"/webhooks/{endpoint_id}/test")
    assert sent.status_code == 202, sent.text
    got = receiver.wait_for(lambda got: len(got) >= 3)
    assert len({r.webhook_id for r in got}) == 1
    assert got[0].webhook_id == sent.json()["delivery"]["id"]
    assert [Webhook_verify(secret, r) for r in got]
    assert got[0].json()["type"] == "webhook.test"

    def succeeded() -> bool:
        page = story.call(alice(story), "GET", f"/webhooks/{endpoint_id}/deliveries").json()["deliveries"]
        return bool(page[0]["status"] == "succeeded")

    _until(succeeded)
    (log,) = story.call(alice(story), "GET", f"/webhooks/{endpoint_id}/deliveries").json()["deliveries"]
    assert log["attempt_count"] == 3
    assert log["last_status_code"] == 200
    assert [a["status_code"] for a in log["attempts"]] == [500, 500, 200]


def Webhook_verify(secret: str, received: Any) -> dict[str, Any]:
    from standardwebhooks import Webhook

    payload: dict[str, Any] = Webhook(secret).verify(received.body, received.headers)
    return payload


def test_a_receiver_that_never_answers_is_dead_lettered_and_replay_delivers_it(
    story: Story, hook: tuple[Receiver, str, str]
) -> None:
    receiver, endpoint_id, _ = hook
    receiver.silent = True
    delivery_id = story.call(alice(story), "POST", f"/webhooks/{endpoint_id}/test").json()["delivery"]["id"]

    def status() -> str:
        page = story.call(alice(story), "GET", f"/webhooks/{endpoint_id}/deliveries").json()["deliveries"]
        return str(next(d for d in page if d["id"] == delivery_id)["status"])

    _until(lambda: status() == "dead", seconds=120)
    attempts = len(receiver.got)
    assert attempts >= 2
    assert {r.webhook_id for r in receiver.got} == {delivery_id}
    receiver.silent = False
    replayed = story.call(alice(story), "POST", f"/webhooks/{endpoint_id}/deliveries/{delivery_id}/replay")
    assert replayed.status_code == 202, replayed.text
    _until(lambda: status() == "succeeded")
    assert len(receiver.got) == attempts + 1
    assert receiver.got[-1].webhook_id == delivery_id


def test_a_loopback_url_is_refused_under_the_default_configuration(story: Story) -> None:
    lam = story.aws("lambda")
    (name,) = [
        f["FunctionName"]
        for page in lam.get_paginator("list_functions").paginate()
        for f in page["Functions"]
        if f["FunctionName"].startswith("VodpipePipeline-FunctionsJobsApi")
    ]
    original = lam.get_function_configuration(FunctionName=name)["Environment"]["Variables"]
    default = {k: v for k, v in original.items() if k != "WEBHOOK_ALLOW_INSECURE_TARGETS"}
    lam.update_function_configuration(FunctionName=name, Environment={"Variables": default})
    lam.get_waiter("function_updated_v2").wait(FunctionName=name)
    try:
        for url in ("http://127.0.0.1:9/hook", "https://127.0.0.1/hook", "https://[::1]/", "https://169.254.169.254/"):
            refused = story.call(alice(story), "POST", "/webhooks", json={"url": url})
            assert refused.status_code == 422, (url, refused.text)
            assert refused.json()["field"] == "url"
    finally:
        lam.update_function_configuration(FunctionName=name, Environment={"Variables": original})
        lam.get_waiter("function_updated_v2").wait(FunctionName=name)


def test_a_long_poll_answers_on_the_change_and_a_repeat_with_its_etag_is_304(story: Story) -> None:
    owner = alice(story)
    created = story.call(
        owner, "POST", "/uploads", json={"file_name": "later.mp4", "size": 1000, "renditions": ["360p"]}
    )
    assert created.status_code == 201, created.text
    job = created.json()["job"]
    first = story.call(owner, "GET", f"/jobs/{job['job_id']}")
    etag, revision = first.headers["etag"], first.json()["revision"]
    answer: dict[str, Any] = {}

    def poll() -> None:
        started = time.monotonic()
        response = story.call(owner, "GET", f"/jobs/{job['job_id']}", params={"wait": 20, "version": revision})
        answer.update(response=response, seconds=time.monotonic() - started)

    poller = threading.Thread(target=poll)
    poller.start()
    time.sleep(2)
    assert story.call(owner, "PATCH", f"/jobs/{job['job_id']}", json={"priority": 3}).status_code == 200
    poller.join(30)
    changed = answer["response"]
    assert changed.status_code == 200
    assert changed.json()["priority"] == 3
    assert changed.json()["revision"] > revision
    assert answer["seconds"] < 20, "answered on the change, not at the end of the wait"
    assert changed.headers["etag"] != etag
    same = story.call(owner, "GET", f"/jobs/{job['job_id']}", headers={"If-None-Match": changed.headers["etag"]})
    assert same.status_code == 304
    assert not same.content
    assert story.call(owner, "DELETE", f"/uploads/{job['job_id']}").status_code == 200
