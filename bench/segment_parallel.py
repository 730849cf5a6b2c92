"""Segment-parallel jobs through the deployed local pipeline vs one direct ffmpeg run of the same ladder.

For each clip (1080p30 with audio; default 60 s and 300 s), side by side in one run on this machine:
  P1  CPU-seconds of every encode process of the job (each worker measures its ffmpeg children and the job
      record adds them up) / CPU-seconds of the direct encode (one decode, the same ladder and options)
  wall time of the job (upload to COMPLETED) / wall time of the direct encode
  P2  time to first playable (the job's playable_at) / total job time
  P3  an AWS projection with its assumptions printed: a 60-minute 1080p source at concurrency 50, and the
      largest source the default configuration takes.
Prints, asserts nothing. Needs `make deploy-local` (the bench target does it). `--seconds 60 300` picks clips.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import tempfile
import time
from collections import defaultdict
from fractions import Fraction
from pathlib import Path
from typing import Any

import boto3

from lambdas.jobs.dynamodb import DynamoDBJobRepository
from lambdas.jobs.model import Job, new_job_id
from lambdas.jobs.ports import JobNotFound
from lambdas.media.chunking import DEFAULT_COSTS, Shape, WorkerBudget, output_rate, plan_chunks
from lambdas.media.ffmpeg_args import audio_argv, chunk_argv
from lambdas.media.ladder import plan_ladder
from lambdas.media.policy import ValidationPolicy
from lambdas.media.probe import probe_source
from stacks.config import DeploymentConfig
from vodpipe.local.runtime import LocalRuntime
from vodpipe.local.stack import LocalDeployment, outputs_file

ROOT = Path(__file__).resolve().parents[1]
BIN = ROOT / "layers" / "ffmpeg" / "build" / "bin"
AWS_CONCURRENCY = 50
AWS_SOURCE_S = 3600
AWS_SOURCE_MBPS = 8.0  # a typical 1080p upload from a camera or a screen recorder
S3_MB_PER_S = 80.0  # Lambda <-> S3 throughput assumed for one function (the synth checks use the same)
DISK_MB_PER_S = 300.0  # a stream copy on /tmp
LADDER_1080P = (("1080p", 1920, 1080), ("720p", 1280, 720), ("480p", 854, 480), ("360p", 640, 360))


def make_clip(path: Path, seconds: int) -> None:
    video = ["-f", "lavfi", "-i", f"testsrc2=size=1920x1080:rate=30:duration={seconds}"]
    audio = ["-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=48000:duration={seconds}"]
    codecs = ["-c:v", "libx264", "-preset", "ultrafast", "-g", "60", "-pix_fmt", "yuv420p", "-c:a", "aac"]
    subprocess.run([str(BIN / "ffmpeg"), "-v", "error", "-y", *video, *audio, *codecs, str(path)], check=True)


def _timed(argv: list[str]) -> tuple[float, float]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run(argv, check=True, env={"PATH": f"{BIN}:{os.environ['PATH']}"}, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def baseline(source: Path, work: Path, segment_seconds: float) -> tuple[float, float]:
    """The same ladder with the workers' own encoder options, in one process over the whole source (one
    decode), plus the audio encode the job also does once: (wall s, CPU s), both runs added up."""
    policy = ValidationPolicy()
    info = probe_source(source, policy.format_whitelist)
    renditions = plan_ladder(info, None, segment_seconds)
    rate = output_rate(renditions[0].frame_rate)
    outs = [work / f"{r.name}.mp4" for r in renditions]
    video = chunk_argv(
        source,
        info,
        policy,
        renditions,
        outs,
        rate=rate,
        segment_frames=renditions[0].gop_frames,
        start=info.start_time,
        frames=None,
        demuxer=info.demuxer,
        formats=policy.format_whitelist,
    )
    audio = audio_argv(
        source,
        info,
        policy,
        renditions[0],
        work / "audio.mp4",
        start=info.start_time,
        duration=info.duration or 0.0,
        fragment_s=segment_seconds,
        demuxer=info.demuxer,
        formats=policy.format_whitelist,
    )
    strip = {"-progress", "pipe:1", "-nostats"}
    v_wall, v_cpu = _timed([a for a in video if a not in strip])
    a_wall, a_cpu = _timed([a for a in audio if a not in strip])
    return v_wall + a_wall, v_cpu + a_cpu


def state_times(sfn: Any, execution_arn: str) -> dict[str, list[float]]:
    events = sfn.get_execution_history(executionArn=execution_arn, maxResults=1000)["events"]
    entered: dict[int, tuple[str, float]] = {}
    times: dict[str, list[float]] = defaultdict(list)
    for event in events:
        if "stateEnteredEventDetails" in event:
            entered[event["id"]] = (event["stateEnteredEventDetails"]["name"], event["timestamp"].timestamp())
        elif "stateExitedEventDetails" in event:
            name = event["stateExitedEventDetails"]["name"]
            for eid in sorted(entered, reverse=True):
                if eid < event["id"] and entered[eid][0] == name:
                    times[name].append(event["timestamp"].timestamp() - entered.pop(eid)[1])
                    break
    return times


def run_pipeline(deployment: LocalDeployment, source: Path) -> tuple[float, float, Job, dict[str, list[float]]]:
    session = boto3.Session(aws_access_key_id="test", aws_secret_access_key="test", region_name="us-east-1")
    s3 = session.client("s3", endpoint_url=deployment.endpoint)
    sfn = session.client("stepfunctions", endpoint_url=deployment.endpoint)
    repo = DynamoDBJobRepository(session.client("dynamodb", endpoint_url=deployment.endpoint), deployment.jobs_table)
    job_id = new_job_id()
    started = time.perf_counter()
    s3.upload_file(str(source), deployment.uploads_bucket, f"uploads/bench/{job_id}/source")
    playable: float | None = None
    job: Job | None = None
    while time.perf_counter() - started < 3600:
        try:
            job = repo.get(job_id)
        except JobNotFound:
            job = None
        if job is not None and playable is None and job.playable_at is not None:
            playable = time.perf_counter() - started
        if job is not None and job.status.terminal:
            break
        time.sleep(0.25)
    total = time.perf_counter() - started
    assert job is not None
    times = state_times(sfn, job.execution_arn) if job.execution_arn else {}
    return total, playable if playable is not None else total, job, times


def projection(cpu_per_source_s: float, overheads: dict[str, float]) -> None:
    """P3: a 60-minute 1080p30 source planned by the real planner with the default configuration, each work
    item costed at the CPU measured here, scheduled on AWS_CONCURRENCY workers of the configured size."""
    config = DeploymentConfig()
    rate = Fraction(30)
    segment_frames = round(config.segment_seconds * 30)
    ladder = [Shape(name=n, width=w, height=h) for n, w, h in LADDER_1080P]
    plan = plan_chunks(
        duration_s=AWS_SOURCE_S,
        rate=rate,
        segment_frames=segment_frames,
        source=Shape(name="source", width=1920, height=1080),
        source_rate=30.0,
        renditions=ladder,
        audio=True,
        concurrency=AWS_CONCURRENCY,
        max_chunk_segments=config.max_chunk_segments,
        budget=WorkerBudget(timeout_s=config.transcode_timeout_s, vcpus=config.vcpus),
        source_bytes=int(AWS_SOURCE_MBPS * 1e6 / 8 * AWS_SOURCE_S),
    )
    source_mb = AWS_SOURCE_MBPS * AWS_SOURCE_S / 8
    split_s = 2 * source_mb / S3_MB_PER_S + source_mb / DISK_MB_PER_S  # download, stream copy, upload of pieces
    fallback_mb = 3.5 * AWS_SOURCE_S / 8 * 0.6  # the 720p rung, capped CRF: about 60 % of its maxrate on average
    package_s = overheads["package"] + 2 * fallback_mb / S3_MB_PER_S + fallback_mb / DISK_MB_PER_S
    print("P3 AWS projection, 60-minute 1080p30 source, default configuration (assumptions printed):")
    print(f"   {config.vcpus:.2f} vCPU per worker ({config.transcode_memory_mb} MB at 1,769 MB per vCPU)")
    print(f"   S3 {S3_MB_PER_S:g} MB/s per function, copy {DISK_MB_PER_S:g} MB/s, source {AWS_SOURCE_MBPS:g} Mbit/s")
    chunks = len(plan.chunks)
    print(
        f"   planner: {chunks} chunks, {len(plan.items)} items ({'whole ladder' if plan.whole_ladder else 'per rung'})"
    )
    for label, factor in (("test card, as measured", 1.0), ("real footage (x safety)", DEFAULT_COSTS.safety)):
        durations = []
        for item in plan.items:
            if item.chunk is None:
                durations.append(AWS_SOURCE_S * 0.0127 + overheads["item"])  # AAC, measured: 0.0127 CPU-s/s
            else:
                seconds = plan.chunk(item.chunk).frames / 30
                durations.append(seconds * cpu_per_source_s * factor / config.vcpus + overheads["item"])
        workers = [0.0] * AWS_CONCURRENCY
        for duration in durations:  # the Map starts items in order as workers free up
            workers[workers.index(min(workers))] += duration
        encode_s = max(workers)
        total = overheads["register"] + split_s + encode_s + package_s + overheads["publish"]
        print(
            f"   {label}: {cpu_per_source_s * factor:.2f} CPU-s/s, longest item {max(durations):.0f} s, encode "
            f"{encode_s:.0f} s + split {split_s:.0f} s + package {package_s:.0f} s => {total / 60:.1f} min "
            "(target <= 6)"
        )
    print(
        f"   largest source the default configuration takes: {config.max_upload_bytes / 2**30:.1f} GiB, "
        f"{config.max_duration_s / 3600:.2f} h (stacks/config.py holds every other limit to these)"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, nargs="+", default=[60, 300])
    args = parser.parse_args()
    os.environ["PATH"] = f"{BIN}:{os.environ['PATH']}"
    path = outputs_file(LocalRuntime.from_env())
    if not path.exists():
        raise SystemExit("no local deployment: run `make deploy-local` first")
    deployment = LocalDeployment.load(path)
    segment_seconds = DeploymentConfig().segment_seconds
    measured: dict[str, float] = {}
    overheads = {"register": 0.0, "item": 0.0, "package": 0.0, "publish": 0.0}
    results = []
    for seconds in args.seconds:
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp)
            source = work / "source.mp4"
            make_clip(source, seconds)
            total, playable, job, times = run_pipeline(deployment, source)
            wall, cpu = baseline(source, work, segment_seconds)
        job_cpu = (job.outputs.encode_cpu_seconds or 0.0) if job.outputs else 0.0
        print(f"\n{seconds} s 1920x1080 30 fps H.264/AAC: job {job.status.value} {job.error_message or ''}")
        print(f"  job: {total:.1f} s upload-to-end, first playable after {playable:.1f} s, encode {job_cpu:.1f} CPU-s")
        print(f"  direct ffmpeg (same ladder, same options, one decode): {wall:.1f} s wall, {cpu:.1f} CPU-s")
        print(f"  P1 CPU ratio job/direct: {job_cpu / cpu:.2f} (target <= 1.10)")
        print(f"  wall ratio job/direct:   {total / wall:.2f} (2 cores)")
        print(f"  P2 first playable / total: {playable / total:.2f} (target <= 0.20 on the 5 min clip)")
        for name, values in sorted(times.items()):
            spread = f" (x{len(values)})" if len(values) > 1 else ""
            print(f"    {name:22s} {max(values):6.1f} s{spread}")
        measured["cpu_per_s"] = job_cpu / seconds
        overheads["register"] = max(times.get("RegisterJob", [0.5]))
        overheads["package"] = max(times.get("Package", [1.0]))
        overheads["publish"] = max(times.get("Publish", [0.5]))
        overheads["item"] = 1.0  # invoke, piece download, segment upload: a second on AWS (locally about the same)
        results.append(
            {
                "seconds": seconds,
                "job_s": round(total, 2),
                "playable_s": round(playable, 2),
                "job_cpu_s": round(job_cpu, 2),
                "direct_s": round(wall, 2),
                "direct_cpu_s": round(cpu, 2),
                "p1": round(job_cpu / cpu, 3),
                "wall_ratio": round(total / wall, 3),
                "p2": round(playable / total, 3),
            }
        )
    print()
    projection(measured["cpu_per_s"], overheads)
    print(json.dumps(results))


if __name__ == "__main__":
    main()
