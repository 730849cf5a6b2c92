"""Cost per job, estimate against measurement, on the local deployment. Prints, asserts nothing.

Three sources of different shape go through the API at once (10 s 1080p30, 30 s 720p30, 20 s 4:3 SD with two audio
tracks); for each finished job it prints the estimate ProbeSource wrote from the plan, the cost PublishJob measured
from every invocation, and their ratio, in total and per part (Lambda GB-s per function, transitions, requests,
stored bytes). The local runtime is a loaded 2-core host, not Lambda: measured durations are this host's.

Needs `make deploy-local`.
"""

from __future__ import annotations

import argparse
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import boto3

from lambdas.cost.model import CostBreakdown
from lambdas.cost.workflow import FUNCTIONS
from lambdas.jobs.dynamodb import DynamoDBJobRepository
from lambdas.jobs.model import Job
from tests.pipeline_jobs import ffmpeg
from vodpipe.client.api import ApiClient
from vodpipe.client.resume import ResumeStore
from vodpipe.client.upload import Uploader, UploadRequest
from vodpipe.local.runtime import LocalRuntime
from vodpipe.local.stack import LocalDeployment, outputs_file
from vodpipe.local.users import create_token

OUTPUTS = ("hls", "mp4", "thumbnails")


def make_sources(folder: Path) -> dict[str, Path]:
    def testsrc(size: str, seconds: int) -> list[str]:
        return ["-f", "lavfi", "-i", f"testsrc2=size={size}:rate=30:duration={seconds}"]

    def tone(frequency: int, seconds: int) -> list[str]:
        return ["-f", "lavfi", "-i", f"sine=frequency={frequency}:sample_rate=48000:duration={seconds}"]

    video = ["-c:v", "libx264", "-preset", "ultrafast", "-g", "30", "-pix_fmt", "yuv420p", "-c:a", "aac"]
    sources = {
        "10 s 1080p": folder / "hd.mp4",
        "30 s 720p": folder / "720p.mp4",
        "20 s SD 4:3, 2 audio": folder / "sd.mp4",
    }
    ffmpeg(*testsrc("1920x1080", 10), *tone(440, 10), *video, str(sources["10 s 1080p"]))
    ffmpeg(*testsrc("1280x720", 30), *tone(440, 30), *video, str(sources["30 s 720p"]))
    ffmpeg(
        *testsrc("640x480", 20), *tone(440, 20), *tone(660, 20),
        *("-map", "0:v", "-map", "1:a", "-map", "2:a"), *video, str(sources["20 s SD 4:3, 2 audio"]),
    )  # fmt: skip
    return sources


def ratio(measured: float, estimate: float) -> str:
    return f"{measured / estimate:6.2f}x" if estimate > 0 else "     -"


def report(name: str, job: Job, seconds: float) -> None:
    cost = job.cost
    print(f"\n{name}: job {job.job_id} {job.status.value} in {seconds:.0f} s")
    if cost is None or cost.estimate is None or cost.measured is None:
        print(f"  no complete cost: {cost}")
        return
    e, m = cost.estimate, cost.measured
    print(f"  {'':<26} {'estimate':>12} {'measured':>12} {'ratio':>8}")
    rows: list[tuple[str, float, float, str]] = [
        ("total USD", e.total_usd, m.total_usd, "{:12.6f}"),
        ("  Lambda USD", e.lambda_usd, m.lambda_usd, "{:12.6f}"),
        ("  transitions USD", e.states_usd, m.states_usd, "{:12.6f}"),
        ("  S3+DynamoDB requests USD", e.requests_usd, m.requests_usd, "{:12.6f}"),
        ("  storage USD/month", e.storage_usd_per_month, m.storage_usd_per_month, "{:12.6f}"),
        ("Lambda GB-s", e.lambda_gb_seconds, m.lambda_gb_seconds, "{:12.2f}"),
    ]
    rows += [
        (f"  {function}", e.lambda_gb_seconds_by_function.get(function, 0.0),
         m.lambda_gb_seconds_by_function.get(function, 0.0), "{:12.2f}")
        for function in FUNCTIONS
    ]  # fmt: skip
    rows += [(label, float(getattr(e, field)), float(getattr(m, field)), "{:12.0f}") for label, field in COUNTS]
    for label, estimate, measured, form in rows:
        print(f"  {label:<26} {form.format(estimate)} {form.format(measured)} {ratio(measured, estimate):>8}")
    print(f"  prices: {m.region} {m.architecture} as of {m.prices_as_of}")


COUNTS = (
    ("Lambda invocations", "lambda_requests"),
    ("state transitions", "state_transitions"),
    ("S3 write requests", "s3_write_requests"),
    ("S3 read requests", "s3_read_requests"),
    ("DynamoDB writes", "dynamodb_write_requests"),
    ("DynamoDB reads", "dynamodb_read_requests"),
    ("stored bytes", "stored_bytes"),
)


def summary(results: dict[str, Job]) -> None:
    print("\nsummary: measured / estimate (total USD)")
    for name, job in results.items():
        cost = job.cost
        if cost is not None and cost.estimate is not None and cost.measured is not None:
            e, m = cost.estimate.total_usd, cost.measured.total_usd
            print(f"  {name:<24} estimate ${e:.6f}  measured ${m:.6f}  ratio {ratio(m, e).strip()}")
    totals = [j.cost.measured for j in results.values() if j.cost and j.cost.measured]
    print(f"  all three measured: ${sum(c.total_usd for c in totals):.6f}  ({_per_minute(results, totals)})")


def _per_minute(results: dict[str, Job], costs: list[CostBreakdown]) -> str:
    minutes = sum((job.source_duration_s or 0) for job in results.values()) / 60
    return f"${sum(c.total_usd for c in costs) / minutes:.6f} per source minute" if minutes else "-"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--timeout", type=float, default=900)
    args = parser.parse_args()
    path = outputs_file(LocalRuntime.from_env())
    if not path.exists():
        raise SystemExit("no local deployment: run `make deploy-local` first")
    deployment = LocalDeployment.load(path)
    session = boto3.Session(aws_access_key_id="test", aws_secret_access_key="test", region_name="us-east-1")
    dynamodb = session.client("dynamodb", endpoint_url=deployment.endpoint)
    repository = DynamoDBJobRepository(dynamodb, deployment.jobs_table)
    token = create_token(dynamodb, deployment.jobs_table, f"bench-cost-{uuid.uuid4().hex[:6]}")
    folder = Path(tempfile.mkdtemp(prefix="vodpipe-bench-cost-"))
    sources = make_sources(folder)
    started = time.monotonic()
    with ApiClient(deployment.api_url, token) as api:

        def submit(source: Path) -> str:
            uploader = Uploader(api, ResumeStore(folder / "resume"), parallel=1)
            return uploader.upload(source, UploadRequest(outputs=OUTPUTS)).job_id

        with ThreadPoolExecutor(max_workers=len(sources)) as pool:
            job_ids = dict(zip(sources, pool.map(submit, sources.values()), strict=True))
    ended: dict[str, tuple[Job, float]] = {}
    deadline = time.monotonic() + args.timeout
    while len(ended) < len(job_ids) and time.monotonic() < deadline:
        for name, job_id in job_ids.items():
            job = repository.get(job_id)
            if name not in ended and job.status.terminal:
                ended[name] = (job, time.monotonic() - started)
        time.sleep(1)
    print(f"cost per job: {len(job_ids)} sources through the API at once, outputs {', '.join(OUTPUTS)}")
    for name, job_id in job_ids.items():
        job, seconds = ended.get(name, (repository.get(job_id), time.monotonic() - started))
        report(name, job, seconds)
    summary({name: job for name, (job, _) in ended.items()})


if __name__ == "__main__":
    main()
