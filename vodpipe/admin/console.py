"""Publish the web console (console/dist, built by `make setup`) to a deployment's outputs bucket under console/.

The same step on AWS (`vodpipe admin publish-console`, after `cdk deploy`; CloudFront serves /console/*) and
locally (`vodpipe local deploy`; the S3 endpoint serves it): plain object uploads, no custom resource.
"""

from __future__ import annotations

import json
import mimetypes
from pathlib import Path
from typing import Any

from lambdas.keys import CONSOLE_PREFIX

ROOT = Path(__file__).resolve().parents[2]
DIST = ROOT / "console" / "dist"
INDEX = "index.html"
CONFIG = "config.json"
# The console's names are not content-hashed: a browser revalidates them (ETag) on every load.
CACHE_CONTROL = "no-cache"
TYPES = {".js": "text/javascript; charset=utf-8", ".map": "application/json", ".css": "text/css; charset=utf-8"}


class ConsoleNotBuilt(RuntimeError):
    """console/dist is missing: `make setup` builds it (npm ci + esbuild)."""


def content_type(path: Path) -> str:
    known = TYPES.get(path.suffix) or mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    return f"{known}; charset=utf-8" if known in {"text/html", "application/json"} else known


def console_config(api_url: str) -> dict[str, str]:
    """What the console reads first (config.json beside index.html): where its API is."""
    return {"api_url": api_url.rstrip("/")}


def publish_console(s3: Any, bucket: str, api_url: str, dist: Path = DIST) -> list[str]:
    """Upload every file of `dist` and a config.json naming `api_url`; answer the keys written.

    Files that are no longer built stay until overwritten: a page loaded during a deploy keeps working.
    """
    if not (dist / INDEX).is_file():
        raise ConsoleNotBuilt(f"{dist / INDEX} is missing: run `make setup` (npm ci + node console/build.mjs)")
    written: list[str] = []
    for path in sorted(p for p in dist.rglob("*") if p.is_file()):
        if path.name == CONFIG:
            continue  # the deployment's own is written below
        key = CONSOLE_PREFIX + path.relative_to(dist).as_posix()
        s3.put_object(
            Bucket=bucket, Key=key, Body=path.read_bytes(), ContentType=content_type(path), CacheControl=CACHE_CONTROL
        )
        written.append(key)
    s3.put_object(
        Bucket=bucket,
        Key=CONSOLE_PREFIX + CONFIG,
        Body=json.dumps(console_config(api_url)).encode(),
        ContentType="application/json; charset=utf-8",
        CacheControl=CACHE_CONTROL,
    )
    return [*written, CONSOLE_PREFIX + CONFIG]


def console_url(playback_base_url: str) -> str:
    """The console's address where the outputs are served from (CloudFront, or the local S3 endpoint)."""
    return f"{playback_base_url.rstrip('/')}/{CONSOLE_PREFIX}{INDEX}"


def publish_to_deployment(target: Any, dist: Path = DIST) -> str:
    """`vodpipe admin publish-console`: publish to the deployment `target` (vodpipe.admin.deployment.AwsTarget)
    names, found by its stack outputs; answer the console's URL."""
    from stacks.names import PIPELINE_STACK, STORAGE_STACK
    from vodpipe.admin.deployment import AdminError, stack_outputs
    from vodpipe.client.config import local_deployment

    storage, pipeline = stack_outputs(target, STORAGE_STACK), stack_outputs(target, PIPELINE_STACK)
    missing = [name for name in ("ApiUrl", "PlaybackBaseUrl") if name not in pipeline]
    if "OutputsBucketName" not in storage or missing:
        raise AdminError(f"the stacks in {target.where} lack outputs {['OutputsBucketName', *missing]}: redeploy")
    recorded = local_deployment() if target.local else None
    # The URL CloudFormation outputs for the API needs public DNS locally; the recorded one does not.
    api_url = recorded.api_url if recorded is not None else pipeline["ApiUrl"]
    publish_console(target.client("s3"), storage["OutputsBucketName"], api_url, dist)
    return console_url(pipeline["PlaybackBaseUrl"])
