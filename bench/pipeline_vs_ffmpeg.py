"""The 10 s 1080p job through the deployed local pipeline vs the same ladder by one direct ffmpeg command.

Prints total job time, time per state (from the execution history) and the ratio to the baseline; run on
the same machine in the same run. Asserts nothing. Needs `make deploy-local` (the bench target does it).
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import boto3

from lambdas.jobs.dynamodb import DynamoDBJobRepository
from lambdas.jobs.model import new_job_id
from lambdas.jobs.ports import JobNotFound
from lambdas.media.ffmpeg_args import hls_argv
from lambdas.media.ladder import plan_ladder
from lambdas.media.policy import ValidationPolicy
from lambdas.media.probe import probe_source
from vodpipe.local.runtime import LocalRuntime
from vodpipe.local.stack import LocalDeployment, outputs_file

ROOT = Path(__file__).resolve().parents[1]
BIN = ROOT / "layers" / "ffmpeg" / "build" / "bin"


def make_clip(path: Path) -> None:
    video = ["-f", "lavfi", "-i", "testsrc2=size=1920x1080:rate=30:duration=10"]
    audio = ["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000:duration=10"]
    codecs = ["-c:v", "libx264", "-preset", "veryfast", "-g", "60", "-pix_fmt", "yuv420p", "-c:a", "aac"]
    subprocess.run([str(BIN / "ffmpeg"), "-v", "error", "-y", *video, *audio, *codecs, str(path)], check=True)


def baseline(source: Path, work: Path) -> tuple[float, float]:
    """One ffmpeg process, one decode, every rung's exact output options: (wall s, CPU s)."""
    policy = ValidationPolicy()
    info = probe_source(source, policy)
    argv: list[str] = []
    for rendition in plan_ladder(info):
        out = work / rendition.name
        out.mkdir(parents=True)
        one = hls_argv(source, info, rendition, policy, out)
        split = one.index("-i") + 2
        if not argv:
            argv = [a for a in one[:split] if a not in ("-progress", "pipe:1")]
        argv += one[split:]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run(argv, check=True, env={"PATH": f"{BIN}:{os.environ['PATH']}"}, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def state_times(sfn: Any, execution_arn: str) -> dict[str, list[float]]:
    events = sfn.get_execution_history(executionArn=execution_arn, maxResults=1000)["events"]
    entered: dict[int, tuple[str, float]] = {}
    times: dict[str, list[float]] = defaultdict(list)
    for event in events:
        if "stateEnteredEventDetails" in event:
            entered[event["id"]] = (event["stateEnteredEventDetails"]["name"], event["timestamp"].timestamp())
        elif "stateExitedEventDetails" in event:
            name = event["stateExitedEventDetails"]["name"]
            # The matching entry is the latest unmatched one with the same name before this event.
            for eid in sorted(entered, reverse=True):
                if eid < event["id"] and entered[eid][0] == name:
                    times[name].append(event["timestamp"].timestamp() - entered.pop(eid)[1])
                    break
    return times


def run_pipeline(deployment: LocalDeployment, source: Path) -> tuple[float, str, dict[str, list[float]]]:
    session = boto3.Session(aws_access_key_id="test", aws_secret_access_key="test", region_name="us-east-1")
    s3 = session.client("s3", endpoint_url=deployment.endpoint)
    sfn = session.client("stepfunctions", endpoint_url=deployment.endpoint)
    repo = DynamoDBJobRepository(session.client("dynamodb", endpoint_url=deployment.endpoint), deployment.jobs_table)
    job_id = new_job_id()
    key = f"uploads/bench/{job_id}/source"
    started = time.perf_counter()
    s3.upload_file(str(source), deployment.uploads_bucket, key)
    while time.perf_counter() - started < 900:
        try:
            job = repo.get(job_id)
        except JobNotFound:
            job = None
        if job is not None and job.status.terminal:
            break
        time.sleep(0.25)
    total = time.perf_counter() - started
    assert job is not None
    arn = job.execution_arn or ""
    return total, f"{job.status.value} {job.error_message or ''}".strip(), state_times(sfn, arn) if arn else {}


def main() -> None:
    # The layer's binaries, as the Lambdas find them on PATH under /opt/bin.
    os.environ["PATH"] = f"{BIN}:{os.environ['PATH']}"
    runtime = LocalRuntime.from_env()
    path = outputs_file(runtime)
    if not path.exists():
        raise SystemExit("no local deployment: run `make deploy-local` first")
    deployment = LocalDeployment.load(path)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        source = work / "source.mp4"
        make_clip(source)
        print(f"source: 10 s 1920x1080 30 fps H.264/AAC, {source.stat().st_size / 2**20:.1f} MB")
        total, status, times = run_pipeline(deployment, source)
        wall, cpu = baseline(source, work / "baseline")
    print(f"pipeline job: {total:.1f} s upload-to-{status}")
    for name, values in times.items():
        spread = f" (x{len(values)}: " + ", ".join(f"{v:.1f}" for v in values) + ")" if len(values) > 1 else ""
        print(f"  {name:22s} {max(values):6.1f} s{spread}")
    print(f"direct ffmpeg, one process, same ladder and options: {wall:.1f} s wall, {cpu:.1f} CPU-s")
    print(f"ratio pipeline/direct (wall): {total / wall:.2f}")
    print(json.dumps({"pipeline_s": round(total, 2), "direct_s": round(wall, 2), "direct_cpu_s": round(cpu, 2)}))


if __name__ == "__main__":
    main()
