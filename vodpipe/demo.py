"""`make demo`: a demo user, a generated sample clip, an upload through the API, and where to play the result."""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.text import Text

from vodpipe.client.api import ApiClient, Json
from vodpipe.client.config import DEMO_TOKEN_FILE, config_dir, local_deployment
from vodpipe.client.errors import ApiError, ClientError
from vodpipe.client.follow import follow_job
from vodpipe.client.render import UploadDisplay, job_view
from vodpipe.client.resume import ResumeStore
from vodpipe.client.upload import Uploader, UploadHooks, UploadRequest
from vodpipe.local.runtime import LocalRuntime
from vodpipe.local.stack import LocalDeployment

DEMO_OWNER = "demo"
# 10 s of 1080p test pattern with a timecode and a 440 Hz tone: every rung of the ladder has work to do.
CLIP_NAME = "testsrc2-1080p30-10s.mp4"
PIPELINE_TIMEOUT_S = 900.0


class DemoError(Exception):
    """Something the user must fix first; the message says what."""


def clip_argv(ffmpeg: Path, out: Path, *, size: str = "1920x1080", seconds: int = 10) -> list[str]:
    """A test pattern with a tone, H.264/AAC with 2 s GOPs (the demo's sample: 10 s of 1080p30)."""
    return [
        str(ffmpeg),
        "-hide_banner",
        "-loglevel",
        "error",
        "-y",
        "-f",
        "lavfi",
        "-i",
        f"testsrc2=size={size}:rate=30:duration={seconds}",
        "-f",
        "lavfi",
        "-i",
        f"sine=frequency=440:sample_rate=48000:duration={seconds}",
        "-c:v",
        "libx264",
        "-preset",
        "veryfast",
        "-pix_fmt",
        "yuv420p",
        "-g",
        "60",
        "-c:a",
        "aac",
        "-b:a",
        "128k",
        "-shortest",
        "-movflags",
        "+faststart",
        str(out),
    ]


def sample_clip(runtime: LocalRuntime, say: Console) -> Path:
    """The demo clip, made once with the layer's ffmpeg and kept under .state/demo/."""
    out = runtime.state / "demo" / CLIP_NAME
    if out.exists():
        say.print(f"sample clip: {out} (cached)")
        return out
    ffmpeg = runtime.root / "layers" / "ffmpeg" / "build" / "bin" / "ffmpeg"
    if not ffmpeg.exists():
        raise DemoError(f"{ffmpeg} is missing: run `make setup`")
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_suffix(".partial.mp4")
    started = time.monotonic()
    result = subprocess.run(clip_argv(ffmpeg, partial), capture_output=True, text=True, check=False)
    if result.returncode != 0:
        partial.unlink(missing_ok=True)
        raise DemoError(f"ffmpeg could not make the sample clip: {result.stderr.strip()[-500:]}")
    partial.replace(out)  # only a whole clip is ever cached
    say.print(f"sample clip: {out} ({out.stat().st_size / 2**20:.1f} MiB, made in {time.monotonic() - started:.1f} s)")
    return out


def demo_token(runtime: LocalRuntime, deployment: LocalDeployment, say: Console) -> str:
    """The demo user's token (.state/<instance>/demo-token), created again when the deployment does not know it."""
    path = runtime.home / DEMO_TOKEN_FILE
    token = path.read_text().strip() if path.exists() else ""
    if token and _token_works(deployment, token):
        say.print(f"demo user: token from {path}")
        return token
    try:
        from vodpipe.local.users import create_token
    except ImportError as exc:
        raise DemoError(f"vodpipe.local.users.create_token is not available ({exc}): the API is not built yet") from exc
    import boto3

    dynamodb = boto3.client(
        "dynamodb",
        endpoint_url=deployment.endpoint,
        region_name=deployment.region,
        aws_access_key_id="test",
        aws_secret_access_key="test",  # noqa: S106 (LocalStack's fixed test credentials)
    )
    token = create_token(dynamodb, deployment.jobs_table, DEMO_OWNER)
    path.write_text(token + "\n")
    path.chmod(0o600)
    say.print(f"demo user: new token for owner {DEMO_OWNER!r} in {path}")
    return token


def _token_works(deployment: LocalDeployment, token: str) -> bool:
    # A token from an earlier LocalStack (its table is gone after `make down`) is refused: make a new one.
    with ApiClient(deployment.api_url, token, attempts=2) as api:
        try:
            api.list_jobs(limit=1)
        except ApiError as exc:
            if exc.status in (401, 403):
                return False
            raise
    return True


def url_of(deployment: LocalDeployment, key: str) -> str:
    return f"{deployment.playback_base_url.rstrip('/')}/{key}"


def fetch(url: str) -> tuple[int, int]:
    """Status and size of a plain HTTP GET (what a player does first)."""
    try:
        with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 (our own local endpoint)
            return int(response.status), len(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, 0


def where_things_are(job: Json, deployment: LocalDeployment) -> list[tuple[str, str]]:
    """(label, URL) for the DASH manifest, each rendition, the MP4 and the thumbnails."""
    outputs: dict[str, Any] = job.get("outputs") or {}
    rows: list[tuple[str, str]] = []
    files: list[dict[str, Any]] = list(outputs.get("files") or [])
    for f in files:
        if f.get("kind") == "dash":
            rows.append(("DASH manifest", url_of(deployment, f["key"])))
    for f in files:
        kind, rendition = f.get("kind"), f.get("rendition")
        if kind == "hls" and rendition:
            rows.append((f"HLS {rendition}", url_of(deployment, f["key"])))
    for f in files:
        if f.get("kind") == "mp4":
            rows.append((f"MP4 {f.get('rendition') or ''}".strip(), url_of(deployment, f["key"])))
    for f in files:
        if f.get("kind") == "thumbnails":
            rows.append(("thumbnail " + f["key"].rsplit("/", 1)[-1], url_of(deployment, f["key"])))
    return rows


def run_demo() -> Json:
    """The whole demo; returns the finished job. The Makefile has deployed the stack first."""
    started = time.monotonic()
    say = Console(highlight=False, soft_wrap=True)
    err = Console(stderr=True, highlight=False)
    runtime = LocalRuntime.from_env()
    if not runtime.healthy():
        raise DemoError(f"LocalStack is not running at {runtime.endpoint}: run `make demo` (or `make up`)")
    deployment = local_deployment(runtime)
    if deployment is None:
        raise DemoError("no local deployment (.state/outputs.json): run `make deploy-local`")
    try:
        token = demo_token(runtime, deployment, say)
        clip = sample_clip(runtime, say)
        with ApiClient(deployment.api_url, token) as api:
            display = UploadDisplay(err, clip.name) if sys.stderr.isatty() else None
            hooks = display.hooks() if display else UploadHooks(on_notice=err.print)
            uploader = Uploader(api, ResumeStore(config_dir() / "uploads"), hooks=hooks)
            request = UploadRequest(outputs=("hls", "mp4", "thumbnails"))
            try:
                result = uploader.upload(clip, request)
            finally:
                if display:
                    display.close()
            say.print(
                f"uploaded {result.size / 2**20:.1f} MiB in {result.parts_uploaded} parts at "
                f"{result.mib_per_s:.1f} MiB/s: job {result.job_id}; transcoding…"
            )
            pipeline_started = time.monotonic()
            if sys.stderr.isatty():
                from rich.live import Live

                with Live(console=err, refresh_per_second=4, transient=True) as live:
                    job = follow_job(
                        api, result.job_id, timeout=PIPELINE_TIMEOUT_S, on_update=lambda j: live.update(job_view(j))
                    )
            else:
                job = follow_job(api, result.job_id, timeout=PIPELINE_TIMEOUT_S)
            pipeline_s = time.monotonic() - pipeline_started
    except ClientError as exc:
        raise DemoError(str(exc)) from exc
    say.print(job_view(job))
    if job.get("status") != "COMPLETED":
        raise DemoError(f"job {job.get('job_id')} ended {job.get('status')}: see `vodpipe events {job.get('job_id')}`")
    report(job, deployment, say, pipeline_s=pipeline_s, total_s=time.monotonic() - started)
    return job


def report(job: Json, deployment: LocalDeployment, say: Console, *, pipeline_s: float, total_s: float) -> None:
    master = str((job.get("outputs") or {}).get("playback_url") or "")
    status, size = fetch(master) if master else (0, 0)
    say.print()
    say.print(Text("Play it:", style="bold"))
    rows = where_things_are(job, deployment)
    width = max([len("master playlist"), *(len(label) for label, _ in rows)])
    say.print(f"  {'master playlist':<{width}}  {master}")
    say.print(f"  {'':<{width}}  (GET → HTTP {status}, {size} bytes; play it with `ffplay <url>` or any HLS player)")
    for label, url in rows:
        say.print(f"  {label:<{width}}  {url}")
    say.print(
        Text(
            "CloudFront is not emulated locally: these URLs read straight from the LocalStack S3 endpoint "
            f"({deployment.playback_base_url}); on AWS the same keys are served by the CloudFront distribution.",
            style="dim",
        )
    )
    if deployment.console_url:
        say.print(
            f"Web console: {deployment.console_url}#/play/{job.get('job_id')} "
            f"(sign in with the demo user's token, in {DEMO_TOKEN_FILE} under the local runtime's home)"
        )
    say.print(f"pipeline {pipeline_s:.1f} s, demo {total_s:.1f} s (this command; deploy time is printed above)")
    say.print(f"more: .venv/bin/vodpipe status {job.get('job_id')} | events {job.get('job_id')} | jobs | stats")
    if status != 200:
        raise DemoError(f"the master playlist is not fetchable (HTTP {status}): {master}")
