"""Deploy a synthesized CDK cloud assembly (cdk.out) to LocalStack with boto3: no CDK CLI, no bootstrap."""

from __future__ import annotations

import json
import os
import stat
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from graphlib import CycleError, TopologicalSorter
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

if TYPE_CHECKING:
    from mypy_boto3_cloudformation.type_defs import StackEventTypeDef, StackTypeDef

REGION = "us-east-1"
ACCOUNT = "000000000000"
PARTITION = "aws"
# What `cdk bootstrap` would have written to SSM; the synthesized Rule only rejects versions 1-5.
BOOTSTRAP_VERSION = "30"
CAPABILITIES = ["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"]
POLL_SECONDS = 0.5
SETTLE_SECONDS = 2.0
# CloudFormation refuses a TemplateBody above this size; larger templates go through the assets bucket.
TEMPLATE_BODY_LIMIT = 51_200
# 1980-01-01, the earliest zip timestamp: asset zips depend on content and mode only.
ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)

STACK_ARTIFACT = "aws:cloudformation:stack"
ASSETS_ARTIFACT = "cdk:asset-manifest"
# Stacks in these states cannot be updated; CloudFormation only lets us delete them.
DEAD_STATES = {
    "ROLLBACK_COMPLETE",
    "ROLLBACK_FAILED",
    "CREATE_FAILED",
    "DELETE_FAILED",
    "UPDATE_ROLLBACK_FAILED",
}

OnEvent = Callable[[str], object]


class DeployError(RuntimeError):
    """The assembly could not be deployed; the message says which part and why."""


class AssemblyError(DeployError):
    """cdk.out holds something this deployer cannot handle (Docker images, command assets, a cycle)."""


class StackDeployError(DeployError):
    """A stack operation ended in a failed state; `failures` are the events that explain it."""

    def __init__(self, stack: str, status: str, failures: list[str]) -> None:
        self.stack = stack
        self.status = status
        self.failures = failures
        detail = "".join(f"\n  {line}" for line in failures) or " (no failed resource events)"
        super().__init__(f"stack {stack} ended in {status}:{detail}")


class DeployTimeout(DeployError):
    """A stack stayed in progress past the deadline."""


@dataclass(frozen=True)
class StackResult:
    name: str
    action: str  # "created", "updated", "unchanged" or "recreated"
    seconds: float


@dataclass(frozen=True)
class DeployResult:
    stacks: list[StackResult]
    outputs: dict[str, dict[str, str]]  # the CDK CLI's --outputs-file shape: {stack: {key: value}}
    seconds: float
    assets_uploaded: int = 0
    assets_skipped: int = 0


@dataclass
class _Assembly:
    root: Path
    artifacts: dict[str, dict[str, Any]]
    order: list[str] = field(default_factory=list)

    @classmethod
    def load(cls, root: Path) -> _Assembly:
        manifest_path = root / "manifest.json"
        if not manifest_path.is_file():
            raise AssemblyError(f"{manifest_path} not found: is {root} a synthesized cdk.out directory?")
        artifacts = json.loads(manifest_path.read_text())["artifacts"]
        nested = [name for name, a in artifacts.items() if a.get("type") == "cdk:cloud-assembly"]
        if nested:
            raise AssemblyError(f"nested cloud assemblies (CDK Stages) are not supported: {nested}")
        wanted = {name for name, a in artifacts.items() if a.get("type") in {STACK_ARTIFACT, ASSETS_ARTIFACT}}
        graph = {name: [d for d in artifacts[name].get("dependencies", []) if d in wanted] for name in wanted}
        try:
            # Sorted input keeps the order stable between runs when the graph leaves it open.
            order = list(TopologicalSorter(dict(sorted(graph.items()))).static_order())
        except CycleError as exc:
            raise AssemblyError(f"dependency cycle between artifacts: {exc.args[1]}") from exc
        return cls(root=root, artifacts=artifacts, order=order)


class _Deployer:
    def __init__(
        self, root: Path, endpoint: str, *, region: str, account: str, timeout: float, on_event: OnEvent
    ) -> None:
        self.root = root
        self.endpoint = endpoint
        self.region = region
        self.account = account
        self.timeout = timeout
        self.say = on_event
        session = boto3.Session(
            aws_access_key_id=os.environ.get("AWS_ACCESS_KEY_ID", "test"),
            aws_secret_access_key=os.environ.get("AWS_SECRET_ACCESS_KEY", "test"),
            region_name=region,
        )
        config = Config(retries={"max_attempts": 5, "mode": "standard"}, read_timeout=300)
        self.s3 = session.client("s3", endpoint_url=endpoint, config=config)
        self.ssm = session.client("ssm", endpoint_url=endpoint, config=config)
        self.cfn = session.client("cloudformation", endpoint_url=endpoint, config=config)
        self.buckets: set[str] = set()
        self.ssm_done: set[str] = set()
        self.uploaded = 0
        self.skipped = 0

    def sub(self, text: str) -> str:
        return (
            text.replace("${AWS::AccountId}", self.account)
            .replace("${AWS::Region}", self.region)
            .replace("${AWS::Partition}", PARTITION)
        )

    # -- assets ------------------------------------------------------------------------------------
    def publish_assets(self, artifact_name: str, artifact: Mapping[str, Any]) -> None:
        manifest = json.loads((self.root / artifact["properties"]["file"]).read_text())
        if manifest.get("dockerImages"):
            raise AssemblyError(
                f"{artifact_name}: Docker image assets ({', '.join(manifest['dockerImages'])}) are not "
                "supported: vodpipe runs without Docker; use file or directory assets instead"
            )
        for asset_id, asset in manifest.get("files", {}).items():
            source = asset["source"]
            if "path" not in source:
                raise AssemblyError(f"{artifact_name}: asset {asset_id} is built by a command; not supported")
            path = self.root / source["path"]
            packaging = source.get("packaging", "file")
            for dest in asset["destinations"].values():
                bucket, key = self.sub(dest["bucketName"]), self.sub(dest["objectKey"])
                self.ensure_bucket(bucket)
                if self.object_exists(bucket, key):  # keys are content hashes
                    self.skipped += 1
                    continue
                if packaging == "zip":
                    with _zipped(path) as archive:
                        self.s3.upload_file(str(archive), bucket, key)
                elif packaging == "file":
                    self.s3.upload_file(str(path), bucket, key)
                else:
                    raise AssemblyError(f"{artifact_name}: asset {asset_id} has unknown packaging {packaging!r}")
                self.uploaded += 1

    def ensure_bucket(self, bucket: str) -> None:
        if bucket in self.buckets:
            return
        try:
            self.s3.head_bucket(Bucket=bucket)
        except ClientError as exc:
            if _code(exc) not in {"404", "NoSuchBucket", "NotFound"}:
                raise
            self.s3.create_bucket(Bucket=bucket)  # us-east-1 takes no LocationConstraint
        self.buckets.add(bucket)

    def object_exists(self, bucket: str, key: str) -> bool:
        try:
            self.s3.head_object(Bucket=bucket, Key=key)
        except ClientError as exc:
            if _code(exc) in {"404", "NoSuchKey", "NotFound"}:
                return False
            raise
        return True

    # -- stacks ------------------------------------------------------------------------------------
    def deploy_stack(self, artifact_name: str, artifact: Mapping[str, Any]) -> StackResult:
        started = time.monotonic()
        props = artifact.get("properties", {})
        name = props.get("stackName", artifact_name)
        template_file = self.root / props["templateFile"]
        template_text = template_file.read_text()
        self.put_bootstrap_version(json.loads(template_text))

        request: dict[str, Any] = {"StackName": name, "Capabilities": CAPABILITIES}
        if len(template_text.encode()) <= TEMPLATE_BODY_LIMIT:
            request["TemplateBody"] = template_text
        else:
            request["TemplateURL"] = self.template_url(props, template_file)
        if props.get("tags"):
            request["Tags"] = [{"Key": k, "Value": v} for k, v in props["tags"].items()]
        if props.get("parameters"):
            request["Parameters"] = [{"ParameterKey": k, "ParameterValue": v} for k, v in props["parameters"].items()]

        stack = self.settled(name)
        action = "updated" if stack else "created"
        if stack and stack["StackStatus"] in DEAD_STATES:
            self.say(f"{name}: in {stack['StackStatus']}, deleting it to create it again")
            self.delete(stack["StackId"])
            stack, action = None, "recreated"
        seen = self.event_ids(stack["StackId"]) if stack else set()
        try:
            if stack is None:
                stack_id = self.cfn.create_stack(**request, OnFailure="ROLLBACK")["StackId"]
            else:
                stack_id = self.cfn.update_stack(**request)["StackId"]
        except ClientError as exc:
            if "No updates are to be performed" not in str(exc):
                raise StackDeployError(name, "REJECTED", [str(exc)]) from exc
            # LocalStack records a failed update's template as deployed: "no updates" can hide a failure.
            if stack and (broken := self.failed_resources(stack["StackId"])):
                raise StackDeployError(name, "UNCHANGED_WITH_FAILED_RESOURCES", broken) from exc
            return StackResult(name=name, action="unchanged", seconds=time.monotonic() - started)
        expected = "CREATE_COMPLETE" if stack is None else "UPDATE_COMPLETE"
        final = self.wait(stack_id, expected)
        # LocalStack ends a failed update in UPDATE_COMPLETE: the resource events tell the truth.
        failures = self.failures(stack_id, seen)
        if final != expected or failures:
            raise StackDeployError(name, final, failures)
        return StackResult(name=name, action=action, seconds=time.monotonic() - started)

    def template_url(self, props: Mapping[str, Any], template_file: Path) -> str:
        # The template is itself an asset of the stack's asset manifest, published before the stack.
        url = props.get("stackTemplateAssetObjectUrl")
        if not url or not url.startswith("s3://"):
            raise AssemblyError(f"{template_file.name} exceeds {TEMPLATE_BODY_LIMIT} bytes and has no asset URL")
        bucket, _, key = self.sub(url).removeprefix("s3://").partition("/")
        return f"{self.endpoint.rstrip('/')}/{bucket}/{key}"

    def put_bootstrap_version(self, template: Mapping[str, Any]) -> None:
        # The default synthesizer resolves BootstrapVersion from SSM; we stand in for `cdk bootstrap`.
        param = template.get("Parameters", {}).get("BootstrapVersion")
        if not param or not str(param.get("Type", "")).startswith("AWS::SSM::Parameter::Value"):
            return
        ssm_name = param["Default"]
        if ssm_name in self.ssm_done:
            return
        self.ssm.put_parameter(Name=ssm_name, Value=BOOTSTRAP_VERSION, Type="String", Overwrite=True)
        self.ssm_done.add(ssm_name)

    def describe(self, name_or_id: str) -> StackTypeDef | None:
        try:
            stacks = self.cfn.describe_stacks(StackName=name_or_id)["Stacks"]
        except ClientError as exc:
            if "does not exist" in str(exc):
                return None
            raise
        live = [s for s in stacks if s["StackStatus"] != "DELETE_COMPLETE"]
        return live[0] if live else None

    def settled(self, name: str) -> StackTypeDef | None:
        """The stack once no operation is running on it; None if there is no stack."""
        stack = self.describe(name)
        if stack and stack["StackStatus"].endswith("_IN_PROGRESS"):
            self.say(f"{name}: {stack['StackStatus']}, waiting for it to settle")
            self.wait(stack["StackId"], expected="")
            stack = self.describe(name)
        return stack

    def wait(self, stack_id: str, expected: str) -> str:
        """Poll until the operation is over; returns the final status (DELETE_COMPLETE once gone).

        `expected` (the operation's success status) ends the wait at once. Any other status that is
        not *_IN_PROGRESS must hold, with no new events, for SETTLE_SECONDS: LocalStack flips the
        stack to the *_FAILED status of each failing resource while the operation goes on.
        """
        deadline = time.monotonic() + self.timeout
        last: tuple[str, int] | None = None
        since = 0.0
        while True:
            stack = self.describe(stack_id)
            status = stack["StackStatus"] if stack else "DELETE_COMPLETE"
            if status == expected:
                return status
            if not status.endswith("_IN_PROGRESS"):
                now = (status, len(self.event_ids(stack_id)))
                if now != last:
                    last, since = now, time.monotonic()
                elif time.monotonic() - since >= SETTLE_SECONDS:
                    return status
            if time.monotonic() > deadline:
                raise DeployTimeout(f"stack {stack_id} still {status} after {self.timeout:.0f} s")
            time.sleep(POLL_SECONDS)

    def delete(self, stack_id: str) -> None:
        seen = self.event_ids(stack_id)
        self.cfn.delete_stack(StackName=stack_id)
        final = self.wait(stack_id, "DELETE_COMPLETE")
        if final == "DELETE_FAILED":
            # As on AWS: retain what could not be deleted (here: resources whose creation had failed).
            stuck = [
                r["LogicalResourceId"]
                for r in self.cfn.describe_stack_resources(StackName=stack_id)["StackResources"]
                if r["ResourceStatus"] == "DELETE_FAILED"
            ]
            self.cfn.delete_stack(StackName=stack_id, RetainResources=stuck)
            final = self.wait(stack_id, "DELETE_COMPLETE")
        if final != "DELETE_COMPLETE":
            raise StackDeployError(stack_id, final, self.failures(stack_id, seen))

    def event_ids(self, name: str) -> set[str]:
        return {e["EventId"] for e in self.events(name)}

    def events(self, name: str) -> Iterator[StackEventTypeDef]:
        try:
            for page in self.cfn.get_paginator("describe_stack_events").paginate(StackName=name):
                yield from page["StackEvents"]
        except ClientError:
            return

    def failures(self, name: str, seen: set[str]) -> list[str]:
        """Failed resource events of the last operation, oldest first (root cause before cascades)."""
        failed = [
            e
            for e in self.events(name)
            if e["EventId"] not in seen and str(e.get("ResourceStatus", "")).endswith("_FAILED")
        ]
        return [
            f"{e['LogicalResourceId']} ({e.get('ResourceType', '?')}) {e['ResourceStatus']}: "
            f"{e.get('ResourceStatusReason', '')}"
            for e in reversed(failed)
            # The stack's own FAILED events repeat the resource's, mostly with no reason.
            if e.get("ResourceStatusReason") or e.get("ResourceType") != "AWS::CloudFormation::Stack"
        ]

    def failed_resources(self, stack_id: str) -> list[str]:
        resources = self.cfn.describe_stack_resources(StackName=stack_id)["StackResources"]
        return [
            f"{r['LogicalResourceId']} ({r['ResourceType']}) {r['ResourceStatus']}: {r.get('ResourceStatusReason', '')}"
            for r in resources
            if r["ResourceStatus"].endswith("_FAILED")
        ]

    def outputs(self, name: str) -> dict[str, str]:
        stack = self.describe(name)
        outputs = stack.get("Outputs", []) if stack else []
        return {o["OutputKey"]: o.get("OutputValue", "") for o in outputs}


def deploy_assembly(
    cdk_out: Path,
    endpoint: str,
    *,
    on_event: OnEvent = print,
    region: str = REGION,
    account: str = ACCOUNT,
    timeout: float = 600.0,
) -> DeployResult:
    """Publish the assets and deploy every stack of `cdk_out` in dependency order; return their outputs."""
    started = time.monotonic()
    assembly = _Assembly.load(Path(cdk_out))
    deployer = _Deployer(assembly.root, endpoint, region=region, account=account, timeout=timeout, on_event=on_event)
    results: list[StackResult] = []
    outputs: dict[str, dict[str, str]] = {}
    for artifact_name in assembly.order:
        artifact = assembly.artifacts[artifact_name]
        if artifact["type"] == ASSETS_ARTIFACT:
            deployer.publish_assets(artifact_name, artifact)
            continue
        result = deployer.deploy_stack(artifact_name, artifact)
        results.append(result)
        outputs[result.name] = deployer.outputs(result.name)
        on_event(f"{result.name}: {result.action} in {result.seconds:.1f} s")
    total = time.monotonic() - started
    on_event(
        f"deployed {len(results)} stacks in {total:.1f} s "
        f"(assets: {deployer.uploaded} uploaded, {deployer.skipped} already there)"
    )
    return DeployResult(
        stacks=results,
        outputs=outputs,
        seconds=total,
        assets_uploaded=deployer.uploaded,
        assets_skipped=deployer.skipped,
    )


def write_outputs(path: Path, outputs: Mapping[str, Mapping[str, str]]) -> None:
    """Write stack outputs as JSON in the CDK CLI's --outputs-file shape."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(outputs, indent=2, sort_keys=True) + "\n")


class _zipped:
    """A deterministic zip of a directory in a temp file: sorted entries, fixed times, exec bits kept."""

    def __init__(self, directory: Path) -> None:
        if not directory.is_dir():
            raise AssemblyError(f"zip asset {directory} is not a directory")
        self.directory = directory
        self.tmp: tempfile.TemporaryDirectory[str] | None = None

    def __enter__(self) -> Path:
        self.tmp = tempfile.TemporaryDirectory(prefix="vodpipe-asset-")
        archive = Path(self.tmp.name) / "asset.zip"
        zip_directory(self.directory, archive)
        return archive

    def __exit__(self, *exc: object) -> None:
        if self.tmp:
            self.tmp.cleanup()


def zip_directory(directory: Path, archive: Path) -> None:
    """Zip `directory` so the bytes depend only on file contents, names and exec bits."""
    files = sorted(
        (p for p in directory.rglob("*") if p.is_file()),
        key=lambda p: p.relative_to(directory).as_posix(),
    )
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=6) as zf:
        for path in files:
            info = zipfile.ZipInfo(path.relative_to(directory).as_posix(), date_time=ZIP_EPOCH)
            executable = path.stat().st_mode & (stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
            info.external_attr = (stat.S_IFREG | (0o755 if executable else 0o644)) << 16
            info.create_system = 3  # Unix, so unzip and Lambda honour the mode bits
            info.compress_type = zipfile.ZIP_DEFLATED
            with path.open("rb") as src, zf.open(info, "w") as dst:
                while chunk := src.read(1 << 20):
                    dst.write(chunk)


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def main(argv: list[str]) -> int:
    if len(argv) not in {1, 2}:
        print("usage: python -m vodpipe.local.deploy CDK_OUT [OUTPUTS_JSON]", file=sys.stderr)
        return 2
    endpoint = os.environ.get("AWS_ENDPOINT_URL")
    if not endpoint:
        print("AWS_ENDPOINT_URL is not set (e.g. http://127.0.0.1:4566)", file=sys.stderr)
        return 2
    try:
        result = deploy_assembly(Path(argv[0]), endpoint)
    except DeployError as exc:
        print(f"deploy failed: {exc}", file=sys.stderr)
        return 1
    if len(argv) == 2:
        write_outputs(Path(argv[1]), result.outputs)
    else:
        print(json.dumps(result.outputs, indent=2, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
