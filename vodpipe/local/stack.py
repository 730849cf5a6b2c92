"""Synthesize the CDK app and deploy it to the local runtime; the outputs file tests and the CLI read."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import boto3

from stacks.names import PIPELINE_STACK, STORAGE_STACK
from vodpipe.admin.console import ConsoleNotBuilt, console_url, publish_console
from vodpipe.local.deploy import deploy_assembly
from vodpipe.local.runtime import LocalRuntime

LOCAL_MAX_DURATION_S = 3600
STANDS_IN = (
    "CloudFront is not emulated by LocalStack: the distribution is defined for AWS but skipped here; "
    "outputs are read straight from the S3 endpoint instead ({playback})."
)


@dataclass(frozen=True)
class LocalDeployment:
    """What a client needs to reach the local deployment (written to .state/outputs.json)."""

    endpoint: str
    region: str
    uploads_bucket: str
    outputs_bucket: str
    jobs_table: str
    state_machine_arn: str
    api_id: str
    api_url: str
    playback_base_url: str
    raw: dict[str, dict[str, str]]
    scheduler_function: str = ""
    console_url: str = ""  # the web console, published beside the outputs ("" : console/dist was not built)

    @classmethod
    def load(cls, path: Path) -> LocalDeployment:
        return cls(**json.loads(path.read_text()))

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(asdict(self), indent=2, sort_keys=True) + "\n")


def outputs_file(runtime: LocalRuntime) -> Path:
    """Per instance: a deployment lives and dies with its LocalStack (`.state/localstack/outputs.json`)."""
    return runtime.home / "outputs.json"


def synth(
    root: Path,
    outdir: Path,
    on_event: Callable[[str], object] = print,
    *,
    settings: dict[str, object] | None = None,
) -> float:
    """Run app.py as `cdk synth` would (CDK_OUTDIR, cdk.json context) and return the seconds it took.

    `settings` are merged into the `vodpipe` context (stacks/config.py), like `cdk -c` would.
    """
    started = time.monotonic()
    context = _context(root)
    vodpipe = context.get("vodpipe")
    context["vodpipe"] = {**(vodpipe if isinstance(vodpipe, dict) else {}), **(settings or {})}
    env = os.environ | {
        "CDK_OUTDIR": str(outdir),
        "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20",
        "CDK_DISABLE_VERSION_CHECK": "1",
        "CDK_CONTEXT_JSON": json.dumps(context),
    }
    subprocess.run([sys.executable, str(root / "app.py")], cwd=root, env=env, check=True)
    took = time.monotonic() - started
    on_event(f"synthesized {outdir.name} in {took:.1f} s")
    return took


def _context(root: Path) -> dict[str, object]:
    # What the CDK CLI passes from cdk.json when it runs the app.
    return dict(json.loads((root / "cdk.json").read_text()).get("context", {}))


LOCAL_SENDER = "vodpipe@example.com"


def _client(service: str, endpoint: str) -> Any:
    session = boto3.Session(
        aws_access_key_id=os.environ.get("AWS_ACCESS_KEY_ID", "test"),
        aws_secret_access_key=os.environ.get("AWS_SECRET_ACCESS_KEY", "test"),
        region_name="us-east-1",
    )
    make: Any = session.client
    return make(service, endpoint_url=endpoint)


def _ses(endpoint: str) -> Any:
    return _client("ses", endpoint)


def _s3(endpoint: str) -> Any:
    return _client("s3", endpoint)


def local_settings(root: Path, overrides: dict[str, object] | None = None) -> dict[str, object]:
    """What differs on one machine: no CloudFront (playback from S3), and the workers share its cores.

    On Lambda each worker has the CPUs its memory buys; here every worker in flight shares this
    machine's cores, so the planner is told that share (cores / concurrency) and cuts chunks to match,
    and the longest accepted source is what that share can encode the audio of within the timeout.
    """
    configured = _context(root).get("vodpipe")
    merged = {**(configured if isinstance(configured, dict) else {}), **(overrides or {})}
    concurrency = int(str(merged.get("transcode_concurrency", 4)))
    share = round(max(0.1, (os.cpu_count() or 1) / concurrency), 3)
    # With a share of the cores, the single audio item of a 90-minute source would not fit the timeout.
    return {
        "worker_vcpus": share,
        "max_duration_s": LOCAL_MAX_DURATION_S,
        # Receivers on this machine (loopback, plain http) are what a local deployment's webhooks are for.
        "webhook_allow_insecure_targets": True,
        # LocalStack keeps every email sent (GET /_aws/ses): owners' notifications are readable there.
        "notification_sender": LOCAL_SENDER,
        # LocalStack's CloudFormation cannot make an SES identity: `deploy_local` verifies it through the API.
        "notification_sender_identity": False,
        **(overrides or {}),
    }


def deploy_local(
    runtime: LocalRuntime,
    on_event: Callable[[str], object] = print,
    *,
    endpoint: str | None = None,
    outdir: Path | None = None,
    outputs_path: Path | None = None,
    settings: dict[str, object] | None = None,
) -> LocalDeployment:
    """Synthesize and deploy both stacks to the running local runtime; write and return the outputs.

    `settings` override the `vodpipe` context (stacks/config.py) for this deployment.
    """
    endpoint = endpoint or runtime.endpoint
    outdir = outdir or runtime.root / "cdk.out"
    outputs_path = outputs_path or outputs_file(runtime)
    # No CloudFront here: playback URLs point at the S3 endpoint.
    local = local_settings(runtime.root, settings) | {"playback_s3_endpoint": endpoint}
    synth(runtime.root, outdir, on_event, settings=local)
    result = deploy_assembly(outdir, endpoint, on_event=on_event)
    sender = local.get("notification_sender")
    if isinstance(sender, str) and sender and local.get("notification_sender_identity") is False:
        # What `ses.EmailIdentity` does on AWS (LocalStack's CloudFormation has no provider for it).
        _ses(endpoint).verify_email_identity(EmailAddress=sender)
    storage, pipeline = result.outputs[STORAGE_STACK], result.outputs[PIPELINE_STACK]
    api_url = f"{endpoint}/_aws/execute-api/{pipeline['ApiId']}/{pipeline['ApiStage']}"
    deployment = LocalDeployment(
        endpoint=endpoint,
        region="us-east-1",
        uploads_bucket=storage["UploadsBucketName"],
        outputs_bucket=storage["OutputsBucketName"],
        jobs_table=storage["JobsTableName"],
        state_machine_arn=pipeline["StateMachineArn"],
        api_id=pipeline["ApiId"],
        # The URL CloudFormation outputs needs public DNS; LocalStack also serves every API here.
        api_url=api_url,
        playback_base_url=pipeline["PlaybackBaseUrl"],
        scheduler_function=pipeline["SchedulerFunction"],
        raw=result.outputs,
        console_url=_publish_console(endpoint, storage["OutputsBucketName"], api_url, pipeline, on_event),
    )
    deployment.save(outputs_path)
    on_event(STANDS_IN.format(playback=deployment.playback_base_url))
    on_event(f"API: {deployment.api_url}")
    if deployment.console_url:
        on_event(f"Console: {deployment.console_url}")
    on_event(f"outputs written to {outputs_path}")
    return deployment


def _publish_console(
    endpoint: str, bucket: str, api_url: str, pipeline: dict[str, str], on_event: Callable[[str], object]
) -> str:
    """What `vodpipe admin publish-console` does after `cdk deploy` on AWS; "" when the console is not built."""
    try:
        publish_console(_s3(endpoint), bucket, api_url)
    except ConsoleNotBuilt as missing:
        on_event(f"no web console: {missing}")
        return ""
    return console_url(pipeline["PlaybackBaseUrl"])
