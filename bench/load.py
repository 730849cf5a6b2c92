"""Load on the local deployment: many users' uploads at once, then the status API under concurrent pollers.
Prints, asserts nothing.

  jobs    `--jobs` uploads (100) by `--users` users (10, a token each) through the vodpipe client, all users at
          once, each uploading its share one after another (`--per-user` at a time); tiny generated clips. The queue
          admits them by its own limits. Every job must reach a terminal status exactly once and none be lost,
          checked three ways: each user's GET /jobs listing (every job there, terminal, nothing extra), each job's
          event log (GET /jobs/{id}/events: exactly one terminal line), and the feed (an SQS queue behind a rule on
          the bus for these users: exactly one terminal event per job, of the job's status). Wall time (the first
          upload began -> the last job terminal) and jobs/min.
  status  `--pollers` (50) threads, each its own client and one of the users' tokens, GET /jobs/{id} over that
          user's jobs for `--seconds` after `--warmup` s: requests/s, p50/p90/p99, errors. Beside it in the same run,
          the floor: a bare Lambda Invoke of a no-op function (created here, deleted after) at the same concurrency
          for as long; the ratio.
  memory  the peak RSS of the LocalStack instance (all its processes, Lambda environments too) in each phase.

Needs `make deploy-local` (the bench target does it).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import tempfile
import threading
import time
import uuid
import zipfile
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import boto3
import psutil
from botocore.config import Config

from lambdas.feed.model import TERMINAL_TYPES, detail_type
from tests.pipeline_jobs import ffmpeg
from vodpipe.client.api import ApiClient, Json
from vodpipe.client.errors import ApiError, TransportError
from vodpipe.client.resume import ResumeStore
from vodpipe.client.upload import Uploader, UploadRequest
from vodpipe.local.runtime import LocalRuntime
from vodpipe.local.stack import LocalDeployment, outputs_file
from vodpipe.local.users import create_token

TERMINAL = {"COMPLETED", "FAILED", "CANCELLED"}
FEED_TYPE = {"job.completed": "COMPLETED", "job.failed": "FAILED", "job.cancelled": "CANCELLED"}
NOOP = "def handler(event, context):\n    return {}\n"


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered)) - 1))]


def spread(values: list[float], unit: str = "s", scale: float = 1.0, shares: tuple[float, ...] = (0.5, 0.95)) -> str:
    if not values:
        return "no samples"
    return "   ".join(
        f"p{round(s * 100)} {percentile(values, s) * scale:7.{0 if scale > 1 else 1}f} {unit}" for s in shares
    )


def when(value: str | None) -> float | None:
    return datetime.fromisoformat(value).timestamp() if value else None


class Memory:
    """The peak RSS of the LocalStack instance's processes (and the machine's least available memory), sampled."""

    def __init__(self, runtime: LocalRuntime, every: float = 1.0) -> None:
        self.runtime = runtime
        self.every = every
        self.peak_mb = 0.0
        self.least_available_mb = float("inf")
        self.environments = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.is_set():
            total, envs = 0.0, 0
            for proc in self.runtime.processes():
                with contextlib.suppress(psutil.Error):
                    total += proc.memory_info().rss / 2**20
                    envs += "runtime_init" in " ".join(proc.cmdline())
            self.peak_mb = max(self.peak_mb, total)
            self.environments = max(self.environments, envs)
            self.least_available_mb = min(self.least_available_mb, psutil.virtual_memory().available / 2**20)
            self._stop.wait(self.every)

    def __enter__(self) -> Memory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)

    def line(self) -> str:
        return (f"  memory: LocalStack peak {self.peak_mb:.0f} MB RSS ({self.environments} Lambda environments at "
                f"most), machine's least available {self.least_available_mb:.0f} MB")  # fmt: skip


class TerminalFeed:
    """An SQS queue behind a rule on the feed bus: the terminal events of these owners' jobs, as a user would route
    them. Drained by a thread: every delivery is kept (a duplicate is what the check looks for)."""

    def __init__(self, session: boto3.Session, deployment: LocalDeployment, owners: list[str], run: str) -> None:
        self.sqs: Any = session.client("sqs", endpoint_url=deployment.endpoint)
        self.events = session.client("events", endpoint_url=deployment.endpoint)
        self.bus = deployment.raw["VodpipePipeline"]["EventBusName"]
        self.rule = f"bench-load-{run}"
        self.url = self.sqs.create_queue(QueueName=self.rule)["QueueUrl"]
        arn = self.sqs.get_queue_attributes(QueueUrl=self.url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        pattern = {
            "source": ["vodpipe.jobs"],
            "detail-type": sorted(detail_type(t) for t in TERMINAL_TYPES),
            "detail": {"owner": owners},
        }
        self.events.put_rule(Name=self.rule, EventBusName=self.bus, EventPattern=json.dumps(pattern))
        self.events.put_targets(Rule=self.rule, EventBusName=self.bus, Targets=[{"Id": "q", "Arn": arn}])
        self.got: list[dict[str, Any]] = []  # the details, in arrival order
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._drain, daemon=True)
        self._thread.start()

    def _drain(self) -> None:
        while not self._stop.is_set():
            answer = self.sqs.receive_message(QueueUrl=self.url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
            messages = answer.get("Messages", [])
            with self._lock:
                self.got.extend(json.loads(m["Body"])["detail"] for m in messages)
            if messages:
                entries = [{"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]} for n, m in enumerate(messages)]
                self.sqs.delete_message_batch(QueueUrl=self.url, Entries=entries)

    def jobs(self) -> set[str]:
        with self._lock:
            return {d["job_id"] for d in self.got}

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self.events.remove_targets(Rule=self.rule, EventBusName=self.bus, Ids=["q"])
        self.events.delete_rule(Name=self.rule, EventBusName=self.bus)
        self.sqs.delete_queue(QueueUrl=self.url)


@dataclass
class User:
    owner: str
    token: str
    job_ids: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)


def api_function(lam: Any) -> str:
    return str(
        next(
            f["FunctionName"]
            for page in lam.get_paginator("list_functions").paginate()
            for f in page["Functions"]
            if f["FunctionName"].startswith("VodpipePipeline-FunctionsJobsApi")
        )
    )


@contextlib.contextmanager
def widened_quotas(lam: Any, uploads_per_user: int) -> Iterator[None]:
    """The API's per-user quotas (uploads per hour, waiting jobs) widened for the run only if the share needs it."""
    api_fn = api_function(lam)
    env = lam.get_function_configuration(FunctionName=api_fn)["Environment"]["Variables"]
    limits = ("MAX_UPLOADS_PER_HOUR", "MAX_QUEUED_JOBS_PER_USER")
    if all(int(env.get(k, "0")) >= uploads_per_user for k in limits):
        yield
        return
    lam.update_function_configuration(
        FunctionName=api_fn, Environment={"Variables": env | dict.fromkeys(limits, "100000")}
    )
    lam.get_waiter("function_updated_v2").wait(FunctionName=api_fn)
    print(f"  (the API's per-user quotas widened for {uploads_per_user} uploads per user, restored after)")
    try:
        yield
    finally:
        lam.update_function_configuration(FunctionName=api_fn, Environment={"Variables": env})


def statuses(users: list[User], api_url: str) -> dict[str, Json]:
    """Every job of these users as their GET /jobs listing has it."""
    found: dict[str, Json] = {}
    for user in users:
        with ApiClient(api_url, user.token) as api:
            cursor = None
            while True:
                page = api.list_jobs(limit=100, cursor=cursor)
                found |= {job["job_id"]: job | {"listed_by": user.owner} for job in page["jobs"]}
                cursor = page.get("next_cursor")
                if not cursor:
                    break
    return found


UPLOAD_ATTEMPTS = 3
UPLOAD_TIMEOUT_S = 120.0  # a patient client: on 2 cores a cold start of the API under this load takes tens of s


def warm_api(users: list[User], api_url: str) -> None:
    """One GET /jobs per user at once, before the clock starts: the API's first environments are up."""

    def one(user: User) -> None:
        with ApiClient(api_url, user.token, timeout=UPLOAD_TIMEOUT_S) as api:
            api.list_jobs(limit=1)

    with ThreadPoolExecutor(len(users)) as pool:
        for future in [pool.submit(one, u) for u in users]:
            future.result()


def upload_all(users: list[User], shares: list[int], api_url: str, clip: Path, per_user: int, resume: Path) -> None:
    """All users at once, each with `per_user` of its uploads in flight, one after another. A refused or failed
    upload is tried again (a new job: POST /uploads is not idempotent), at most `UPLOAD_ATTEMPTS` times."""
    request = UploadRequest(priority=5, renditions=("360p",), outputs=("hls",))

    def one(user: User) -> None:
        with ApiClient(api_url, user.token, timeout=UPLOAD_TIMEOUT_S) as api:
            for _ in range(UPLOAD_ATTEMPTS):
                store = ResumeStore(Path(tempfile.mkdtemp(dir=resume)))
                try:
                    result = Uploader(api, store, parallel=1).upload(clip, request)
                except (ApiError, TransportError) as error:
                    user.refused.append(str(error))
                    continue
                user.job_ids.append(result.job_id)
                return

    def share(user: User, count: int) -> None:
        with ThreadPoolExecutor(per_user) as pool:
            for future in [pool.submit(one, user) for _ in range(count)]:
                future.result()

    with ThreadPoolExecutor(len(users)) as pool:
        for future in [pool.submit(share, u, n) for u, n in zip(users, shares, strict=True)]:
            future.result()


def event_log_terminals(api_url: str, token: str, job_id: str, status: str) -> int:
    """Terminal lines of the job's event log: `publish finished` for a completed job (Publish writes it once),
    a `failed` line for a failed one, the cancel's line for a cancelled one."""
    with ApiClient(api_url, token) as api:
        events = api.job_events(job_id)["events"]
    if status == "COMPLETED":
        return sum(e["step"] == "publish" and e["kind"] == "finished" for e in events)
    if status == "FAILED":
        return sum(e["kind"] == "failed" for e in events)
    return sum("cancel" in (e.get("message") or "") for e in events)


def jobs_phase(
    deployment: LocalDeployment, session: boto3.Session, runtime: LocalRuntime, args: argparse.Namespace
) -> list[User]:
    dynamodb = session.client("dynamodb", endpoint_url=deployment.endpoint)
    lam = session.client("lambda", endpoint_url=deployment.endpoint)
    run = uuid.uuid4().hex[:6]
    users = [User(f"load-{run}-u{n:02d}", "") for n in range(args.users)]
    for user in users:
        user.token = create_token(dynamodb, deployment.jobs_table, user.owner)
    share = [args.jobs // args.users + (n < args.jobs % args.users) for n in range(args.users)]
    scheduler_env = lam.get_function_configuration(FunctionName=deployment.scheduler_function)["Environment"]
    limits = scheduler_env["Variables"]
    print(f"jobs: {args.jobs} uploads by {args.users} users ({args.users * args.per_user} uploads at once), "
          f"1 s 320x180 clips -> 360p HLS; the queue runs {limits.get('MAX_RUNNING_JOBS')} at once, "
          f"{limits.get('MAX_RUNNING_JOBS_PER_USER')} per user")  # fmt: skip
    feed = TerminalFeed(session, deployment, [u.owner for u in users], run)
    jobs: dict[str, Json] = {}
    try:
        with (
            tempfile.TemporaryDirectory() as tmp,
            widened_quotas(lam, max(share)),
            Memory(runtime) as memory,
        ):
            clip = Path(tmp) / "clip.mp4"
            ffmpeg("-f", "lavfi", "-i", "testsrc2=size=320x180:rate=24:duration=1", "-pix_fmt", "yuv420p",
                   "-c:v", "libx264", "-preset", "ultrafast", str(clip))  # fmt: skip
            warm_api(users, deployment.api_url)
            began = time.time()
            upload_all(users, share, deployment.api_url, clip, args.per_user, Path(tmp))
            uploaded = time.time() - began
            ours = {j for u in users for j in u.job_ids}
            deadline = time.monotonic() + args.timeout
            while time.monotonic() < deadline:
                jobs = statuses(users, deployment.api_url)
                if all(jobs.get(j, {}).get("status") in TERMINAL for j in ours):
                    break
                time.sleep(5)
            observed = time.time()
            # The feed's last events follow the last write by a stream hop and a bus hop.
            wait_until(lambda: ours <= feed.jobs(), 60)
            time.sleep(5)  # room for a late duplicate
        refused = [r for u in users for r in u.refused]
        by_status = Counter(jobs[j]["status"] if j in jobs else "MISSING" for j in ours)
        ends = [t for j in ours if (t := when(jobs.get(j, {}).get("completed_at"))) is not None]
        last = max(ends) if len(ends) == len(ours) and ends else observed
        wall = last - began
        print(f"  uploaded: {len(ours)} of {args.jobs} in {uploaded:.1f} s ({len(refused)} attempts refused or "
              f"failed, each tried again" + (f"; the first: {refused[0]}" if refused else "") + ")")  # fmt: skip
        print(f"  terminal: {sum(by_status[s] for s in TERMINAL)} of {len(ours)} in {wall:.1f} s after the first "
              f"upload began: " + ", ".join(f"{n} {s}" for s, n in sorted(by_status.items())))  # fmt: skip
        print(f"  throughput: {len(ends) / (wall / 60):.1f} jobs/min")
        waits = [
            s - q for j in ours if (q := when(jobs[j].get("queued_at"))) and (s := when(jobs[j].get("started_at")))
        ]
        runs = [
            e - s for j in ours if (s := when(jobs[j].get("started_at"))) and (e := when(jobs[j].get("completed_at")))
        ]
        print(f"  per job: queue wait {spread(waits)};  run (started -> terminal) {spread(runs)}")
        listed = set(jobs)
        others = Counter(jobs[j]["status"] for j in listed - ours)
        left = ", ".join(f"{n} {status}" for status, n in sorted(others.items()))
        print(f"  listing (GET /jobs of each user): {len(listed & ours)} of {len(ours)} listed, "
              f"{len(ours - listed)} missing; {sum(others.values())} more, left by failed upload attempts"
              + (f" ({left}; uploads aborted at the end)" if others else ""))  # fmt: skip
        owner_of = {j: u for u in users for j in u.job_ids}
        terminal_ids = [j for j in ours if jobs.get(j, {}).get("status") in TERMINAL]
        with ThreadPoolExecutor(8) as pool:
            lines = dict(zip(terminal_ids, pool.map(
                lambda j: event_log_terminals(deployment.api_url, owner_of[j].token, j, jobs[j]["status"]),
                terminal_ids,
            ), strict=True))  # fmt: skip
        log_counts = Counter(min(n, 2) for n in lines.values())
        print(f"  event log: {log_counts[1]} of {len(ours)} jobs with exactly one terminal line, "
              f"{log_counts[0] + len(ours) - len(terminal_ids)} with none, {log_counts[2]} with more")  # fmt: skip
        deliveries = Counter(d["job_id"] for d in feed.got)
        mismatched = [
            d for d in feed.got if d["job_id"] in jobs and FEED_TYPE[d["type"]] != jobs[d["job_id"]]["status"]
        ]
        distinct = {d["id"] for d in feed.got}
        once = sum(deliveries[j] == 1 for j in ours)
        print(f"  feed: {once} of {len(ours)} jobs with exactly one terminal event; {len(feed.got)} delivered "
              f"({len(feed.got) - len(distinct)} duplicates), {sum(deliveries[j] == 0 for j in ours)} jobs with none, "
              f"{sum(deliveries[j] > 1 for j in ours)} with more, {len(mismatched)} not the job's status")  # fmt: skip
        for job_id in [j for j in ours if jobs.get(j, {}).get("status") == "FAILED"][:3]:
            print(f"  failed {job_id}: {jobs[job_id].get('error_type')}: {jobs[job_id].get('error_message')}")
        print(memory.line())
    finally:
        feed.close()
        for user in users:
            with ApiClient(deployment.api_url, user.token) as api:
                for job_id in user.job_ids:
                    if jobs.get(job_id, {}).get("status") not in TERMINAL:
                        with contextlib.suppress(ApiError, TransportError):
                            api.cancel_job(job_id)
                # A failed attempt may have left its job (the answer lost after the server made it): abort it.
                for job_id, job in jobs.items():
                    if job["listed_by"] == user.owner and job_id not in user.job_ids and job["status"] == "UPLOADING":
                        with contextlib.suppress(ApiError, TransportError):
                            api.abort_upload(job_id)
    return users


def wait_until(done: Callable[[], bool], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not done() and time.monotonic() < deadline:
        time.sleep(0.5)


@dataclass
class Load:
    latencies: list[float]
    errors: Counter[str]
    seconds: float
    warm_s: float  # the warm-up it took: every caller answered `WARM_CALLS` times (and at least --warmup s)
    warm_errors: Counter[str]

    def line(self, name: str) -> str:
        rps = len(self.latencies) / self.seconds
        shares = (0.5, 0.9, 0.99)
        errors = sum(self.errors.values())
        kinds = f" ({', '.join(f'{k}: {n}' for k, n in self.errors.most_common(3))})" if errors else ""
        return (f"  {name:<38} {rps:7.1f} req/s   {spread(self.latencies, 'ms', 1000, shares)}   errors {errors}{kinds}"
                f"   [warm after {self.warm_s:.0f} s{self.warm_up_errors()}]")  # fmt: skip

    def warm_up_errors(self) -> str:
        if not self.warm_errors:
            return ", no error then"
        return ", errors then: " + ", ".join(f"{k}: {n}" for k, n in self.warm_errors.most_common(3))


WARM_CALLS = 3


class FunctionError(Exception):
    """The no-op's invocation answered an error (its errorType: a timeout, a sandbox failure)."""


def label(error: Exception) -> str:
    if isinstance(error, ApiError):
        return f"HTTP {error.status}"
    if isinstance(error, FunctionError):
        return f"FunctionError {error}"
    return type(error).__name__


def hammer(calls: list[Callable[[], None]], warmup: float, warmup_max: float, seconds: float) -> Load:
    """Each call in its own thread as fast as it answers. Measured for `seconds` once every thread has had
    `WARM_CALLS` answers (its environments are up: cold starts at this concurrency take long on 2 cores) and
    `warmup` s have passed, or after `warmup_max` s whatever the state; the samples of calls begun in that window."""
    window: list[tuple[float, float]] = []  # (start, end), one append once the warm-up is over
    done = [0] * len(calls)
    warm_errors: list[Counter[str]] = [Counter() for _ in calls]
    latencies: list[list[float]] = [[] for _ in calls]
    errors: list[Counter[str]] = [Counter() for _ in calls]

    def loop(n: int) -> None:
        while not window or time.perf_counter() < window[0][1]:
            began = time.perf_counter()
            try:
                calls[n]()
                failed = None
            except Exception as error:
                failed = label(error)
            done[n] += failed is None
            if not window or began < window[0][0]:
                if failed:
                    warm_errors[n][failed] += 1
            elif failed:
                errors[n][failed] += 1
            else:
                latencies[n].append(time.perf_counter() - began)

    threads = [threading.Thread(target=loop, args=(n,), daemon=True) for n in range(len(calls))]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    while time.perf_counter() - started < warmup_max and (
        time.perf_counter() - started < warmup or min(done) < WARM_CALLS
    ):
        time.sleep(0.1)
    start = time.perf_counter()
    window.append((start, start + seconds))
    for thread in threads:
        thread.join()
    return Load(
        [x for xs in latencies for x in xs],
        sum(errors, Counter()),
        seconds,
        start - started,
        sum(warm_errors, Counter()),
    )


def environments(runtime: LocalRuntime) -> int:
    count = 0
    for proc in runtime.processes():
        with contextlib.suppress(psutil.Error):
            count += "runtime_init" in " ".join(proc.cmdline())
    return count


def settle(runtime: LocalRuntime, seconds: float) -> None:
    """Wait for the jobs' idle Lambda environments to expire (LAMBDA_KEEPALIVE_MS), so the pollers start on a
    machine with the memory and CPU the pipeline held given back."""
    started = time.monotonic()
    wait_until(lambda: environments(runtime) <= 3, seconds)
    print(f"  ({environments(runtime)} Lambda environments left after {time.monotonic() - started:.0f} s of settling)")


def noop_zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("app.py", NOOP)
    return buf.getvalue()


def status_phase(
    deployment: LocalDeployment,
    session: boto3.Session,
    runtime: LocalRuntime,
    users: list[User],
    args: argparse.Namespace,
) -> None:
    with_jobs = [u for u in users if u.job_ids]
    if not with_jobs:
        print("status: skipped, no job to poll")
        return
    print(f"status: {args.pollers} concurrent pollers for {args.seconds:g} s, after a warm-up at the same concurrency "
          f"(every poller answered {WARM_CALLS} times), beside a bare Lambda Invoke of a no-op function")  # fmt: skip
    settle(runtime, args.settle)
    clients = [
        ApiClient(deployment.api_url, with_jobs[n % len(with_jobs)].token, attempts=1) for n in range(args.pollers)
    ]
    cursors = [0] * args.pollers

    def poller(n: int) -> Callable[[], None]:
        jobs = with_jobs[n % len(with_jobs)].job_ids

        def call() -> None:
            cursors[n] += 1
            clients[n].get_job(jobs[cursors[n] % len(jobs)])

        return call

    try:
        with Memory(runtime) as api_memory:
            api = hammer([poller(n) for n in range(args.pollers)], args.warmup, args.warmup_max, args.seconds)
    finally:
        for client in clients:
            client.close()
    # No retries: an error counts as one, as on the API side (attempts=1).
    config = Config(max_pool_connections=args.pollers + 4, retries={"total_max_attempts": 1})
    lam = session.client("lambda", endpoint_url=deployment.endpoint, config=config)
    name = f"bench-load-noop-{uuid.uuid4().hex[:6]}"
    timeout = lam.get_function_configuration(FunctionName=api_function(lam))["Timeout"]  # the API's, for fairness
    lam.create_function(
        FunctionName=name, Runtime="python3.13", Role="arn:aws:iam::000000000000:role/lambda", Handler="app.handler",
        Code={"ZipFile": noop_zip()}, MemorySize=128, Timeout=timeout,
    )  # fmt: skip
    try:
        lam.get_waiter("function_active_v2").wait(FunctionName=name)

        def invoke() -> None:
            answer = lam.invoke(FunctionName=name, Payload=b"{}")
            body = json.loads(answer["Payload"].read() or b"{}")
            if "FunctionError" in answer:
                raise FunctionError(body.get("errorType") or answer["FunctionError"])

        with Memory(runtime) as floor_memory:
            floor = hammer([invoke] * args.pollers, args.warmup, args.warmup_max, args.seconds)
    finally:
        lam.delete_function(FunctionName=name)
    print(api.line("GET /jobs/{id} (API Gateway, authorizer)"))
    print(floor.line("floor: Lambda Invoke, no-op function"))
    if api.latencies and floor.latencies:
        rps = (len(floor.latencies) / floor.seconds) / (len(api.latencies) / api.seconds)
        p50 = percentile(api.latencies, 0.5) / percentile(floor.latencies, 0.5)
        p99 = percentile(api.latencies, 0.99) / percentile(floor.latencies, 0.99)
        print(f"  ratio: floor/API requests per second {rps:.1f}x; API/floor latency p50 {p50:.1f}x, p99 {p99:.1f}x")
    print(api_memory.line().replace("memory:", "memory (pollers):"))
    print(floor_memory.line().replace("memory:", "memory (floor):  "))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0] if __doc__ else None)
    parser.add_argument("--jobs", type=int, default=100, help="uploads in all")
    parser.add_argument("--users", type=int, default=10, help="users (a token each) sharing the uploads")
    parser.add_argument("--per-user", type=int, default=1, help="uploads each user has in flight at once")
    parser.add_argument("--timeout", type=float, default=3600, help="seconds for every job to reach a terminal status")
    parser.add_argument("--pollers", type=int, default=50, help="concurrent pollers, and the floor's concurrency")
    parser.add_argument("--seconds", type=float, default=30, help="measured seconds of each load")
    parser.add_argument("--settle", type=float, default=90, help="at most this long for idle environments to go")
    parser.add_argument("--warmup", type=float, default=5, help="unmeasured seconds before each load, at least")
    parser.add_argument("--warmup-max", type=float, default=300, help="... and at most (every caller answered 3 times)")
    args = parser.parse_args()
    runtime = LocalRuntime.from_env()
    path = outputs_file(runtime)
    if not path.exists():
        raise SystemExit("no local deployment: run `make deploy-local` first")
    deployment = LocalDeployment.load(path)
    session = boto3.Session(aws_access_key_id="test", aws_secret_access_key="test", region_name="us-east-1")
    users = jobs_phase(deployment, session, runtime, args)
    status_phase(deployment, session, runtime, users, args)


if __name__ == "__main__":
    main()
