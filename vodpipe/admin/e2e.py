"""`make e2e` (scripts/e2e.sh): the checks run against a freshly deployed, throwaway stage in the caller's AWS account.

`run`: a user token written to the stage's jobs table, one short generated clip uploaded through the API with the
`vodpipe` client code and followed to COMPLETED, then the HLS master, a media playlist, its init segment and first
segment fetched through CloudFront. `empty`: the stage's buckets emptied, so that `cdk destroy` can delete them
(CloudFormation deletes only empty buckets; CDK's auto-delete is a custom resource, which this app does not use).

Usage: python -m vodpipe.admin.e2e run --outputs OUTPUTS.json --stage STAGE | empty --stage STAGE
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stacks.names import PIPELINE_STACK, STORAGE_STACK, stack_name
from vodpipe import demo

ROOT = Path(__file__).resolve().parents[2]
FFMPEG = ROOT / "layers" / "ffmpeg" / "build" / "bin" / "ffmpeg"
E2E_OWNER = "e2e"
PIPELINE_TIMEOUT_S = 900.0
# A CloudFront distribution answers a while after CloudFormation reports it created: retry the first fetches.
CDN_ATTEMPTS = 30
CDN_RETRY_S = 10.0

type Fetch = Callable[[str], tuple[int, bytes]]


class E2eError(Exception):
    """A check failed; the message says which and what was seen."""


@dataclass(frozen=True)
class StageOutputs:
    api_url: str
    jobs_table: str
    playback_base_url: str

    @classmethod
    def from_file(cls, path: Path, stage: str) -> StageOutputs:
        """From `cdk deploy --outputs-file` (stack name -> output key -> value)."""
        outputs: dict[str, dict[str, str]] = json.loads(path.read_text())
        storage, pipeline = stack_name(STORAGE_STACK, stage), stack_name(PIPELINE_STACK, stage)
        missing = [name for name in (storage, pipeline) if name not in outputs]
        if missing:
            raise E2eError(f"{path} has no outputs of {', '.join(missing)} (deployed: {', '.join(outputs) or 'none'})")
        try:
            return cls(
                api_url=outputs[pipeline]["ApiUrl"],
                jobs_table=outputs[storage]["JobsTableName"],
                playback_base_url=outputs[pipeline]["PlaybackBaseUrl"],
            )
        except KeyError as missing_key:
            raise E2eError(f"{path}: output {missing_key} missing") from None


def clip_argv(ffmpeg: Path, out: Path) -> list[str]:
    """Two seconds of 320x180 test pattern with a tone: every step runs, nothing takes long."""
    return demo.clip_argv(ffmpeg, out, size="320x180", seconds=2)


def playlist_uris(text: str) -> list[str]:
    """The URIs of an HLS playlist, in order: its URI lines and every URI="…" attribute (EXT-X-MAP, EXT-X-MEDIA)."""
    uris: list[str] = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            continue
        if not line.startswith("#"):
            uris.append(line)
            continue
        marker = 'URI="'
        start = line.find(marker)
        if start >= 0:
            end = line.find('"', start + len(marker))
            if end > start:
                uris.append(line[start + len(marker) : end])
    return uris


def variant_uri(master: str) -> str:
    """The first variant stream of a master playlist (the line after its first EXT-X-STREAM-INF)."""
    lines = [line.strip() for line in master.splitlines()]
    for i, line in enumerate(lines):
        if line.startswith("#EXT-X-STREAM-INF"):
            following = [next_line for next_line in lines[i + 1 :] if next_line and not next_line.startswith("#")]
            if following:
                return following[0]
    raise E2eError("the master playlist lists no variant stream (#EXT-X-STREAM-INF)")


def media_files(media_playlist: str) -> tuple[str | None, str]:
    """The init segment (EXT-X-MAP, None without one) and the first media segment of a media playlist."""
    init = None
    for raw in media_playlist.splitlines():
        line = raw.strip()
        if line.startswith("#EXT-X-MAP"):
            init = playlist_uris(line)[0]
        elif line and not line.startswith("#"):
            return init, line
    raise E2eError("the media playlist lists no segment")


def fetch(url: str) -> tuple[int, bytes]:
    """Status and body of a plain GET, as a player makes it."""
    try:
        with urllib.request.urlopen(url, timeout=20) as response:  # noqa: S310 (the stage's own CloudFront)
            return int(response.status), bytes(response.read())
    except urllib.error.HTTPError as error:
        return error.code, b""


def fetch_ok(url: str, what: str, get: Fetch = fetch, *, attempts: int = 1, wait_s: float = 0.0) -> bytes:
    """The body of a 200 answer with content, else E2eError naming `what`; retried `attempts` times."""
    status, body = 0, b""
    for attempt in range(attempts):
        status, body = get(url)
        if status == 200 and body:
            return body
        if attempt + 1 < attempts:
            time.sleep(wait_s)
    raise E2eError(f"{what}: GET {url} answered HTTP {status} with {len(body)} bytes")


def check_playback(master_url: str, get: Fetch = fetch, *, attempts: int = CDN_ATTEMPTS) -> list[str]:
    """Master -> first variant's media playlist -> its init and first segment, all through CloudFront; the URLs."""
    master = fetch_ok(master_url, "HLS master", get, attempts=attempts, wait_s=CDN_RETRY_S).decode()
    media_url = urllib.parse.urljoin(master_url, variant_uri(master))
    media = fetch_ok(media_url, "media playlist", get).decode()
    init, segment = media_files(media)
    fetched = [master_url, media_url]
    for uri, what in ((init, "init segment"), (segment, "first segment")):
        if uri is None:
            continue
        url = urllib.parse.urljoin(media_url, uri)
        fetch_ok(url, what, get)
        fetched.append(url)
    return fetched


def run(outputs: StageOutputs, *, region: str | None = None) -> dict[str, Any]:
    """A token, one short clip through the API to COMPLETED, its HLS through CloudFront; a summary."""
    import boto3

    from vodpipe.client.api import ApiClient
    from vodpipe.client.follow import follow_job
    from vodpipe.client.resume import ResumeStore
    from vodpipe.client.upload import Uploader, UploadRequest
    from vodpipe.local.users import create_token, revoke_token

    started = time.monotonic()
    dynamodb = boto3.client("dynamodb", region_name=region)
    token = create_token(dynamodb, outputs.jobs_table, E2E_OWNER)
    try:
        with tempfile.TemporaryDirectory(prefix="vodpipe-e2e-") as tmp:
            clip = Path(tmp) / "e2e.mp4"
            made = subprocess.run(clip_argv(FFMPEG, clip), capture_output=True, text=True, check=False)
            if made.returncode != 0:
                raise E2eError(f"ffmpeg ({FFMPEG}) could not make the clip: {made.stderr.strip()[-500:]}")
            with ApiClient(outputs.api_url, token) as api:
                uploaded = Uploader(api, ResumeStore(Path(tmp) / "resume")).upload(
                    clip, UploadRequest(outputs=("hls", "mp4", "thumbnails"))
                )
                job = follow_job(api, uploaded.job_id, timeout=PIPELINE_TIMEOUT_S)
        if job.get("status") != "COMPLETED":
            raise E2eError(
                f"job {uploaded.job_id} ended {job.get('status')}: {job.get('error_type')} {job.get('error_message')}"
            )
        master_url = str((job.get("outputs") or {}).get("playback_url") or "")
        if not master_url.startswith(outputs.playback_base_url.rstrip("/")):
            raise E2eError(f"the playback URL {master_url!r} is not under CloudFront's {outputs.playback_base_url}")
        fetched = check_playback(master_url)
    finally:
        revoke_token(dynamodb, outputs.jobs_table, token)
    return {"job_id": uploaded.job_id, "fetched": fetched, "seconds": round(time.monotonic() - started, 1)}


def empty_buckets(stage: str, *, region: str | None = None) -> list[str]:
    """Delete every object (every version) and unfinished upload in the stage's buckets; their names."""
    import boto3
    from botocore.exceptions import ClientError

    try:
        resources = boto3.client("cloudformation", region_name=region).describe_stack_resources(
            StackName=stack_name(STORAGE_STACK, stage)
        )["StackResources"]
    except ClientError as error:
        # CloudFormation's code for a stack that does not exist (destroyed already, or never deployed).
        if error.response.get("Error", {}).get("Code") == "ValidationError":
            return []
        raise
    buckets = [r["PhysicalResourceId"] for r in resources if r["ResourceType"] == "AWS::S3::Bucket"]
    s3 = boto3.resource("s3", region_name=region)
    for name in buckets:
        bucket = s3.Bucket(name)
        bucket.object_versions.delete()
        bucket.objects.delete()
        for upload in bucket.multipart_uploads.all():
            upload.abort()
    return buckets


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m vodpipe.admin.e2e", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    run_parser = commands.add_parser("run", help="token, one clip through the API, HLS through CloudFront")
    run_parser.add_argument("--outputs", type=Path, required=True, help="cdk deploy --outputs-file")
    run_parser.add_argument("--stage", required=True)
    empty_parser = commands.add_parser("empty", help="empty the stage's buckets before cdk destroy")
    empty_parser.add_argument("--stage", required=True)
    args = parser.parse_args(argv)
    try:
        if args.command == "run":
            summary = run(StageOutputs.from_file(args.outputs, args.stage))
            print(json.dumps(summary, indent=2))
        else:
            print("emptied: " + ", ".join(empty_buckets(args.stage)))
    except E2eError as error:
        print(f"e2e: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
