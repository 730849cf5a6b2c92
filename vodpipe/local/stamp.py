"""The deploy stamp: one hash of a LocalStack process and a deployment's inputs, so `--if-changed` can skip."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import boto3
import psutil
from botocore.exceptions import BotoCoreError, ClientError

from stacks.names import STACKS
from vodpipe.local.runtime import LocalRuntime
from vodpipe.local.stack import LocalDeployment, outputs_file

# What a deployment is made of: a change to any of these means deploying again.
DEPLOY_SOURCES = ("app.py", "cdk.json", "pyproject.toml", "uv.lock", "stacks", "lambdas", "statemachines")
DEPLOY_BUILDS = ("layers/ffmpeg/build", "layers/deps/build")


def stamp_file(runtime: LocalRuntime) -> Path:
    """Beside the outputs file: the stamp, like the deployment, lives and dies with its LocalStack."""
    return runtime.home / "deployed.stamp"


def deploy_stamp(runtime: LocalRuntime) -> str:
    """This LocalStack process (its state dies with it) and the deployment's inputs, as one hash."""
    digest = hashlib.sha256()
    pid = runtime.pid()
    try:
        started = psutil.Process(pid).create_time() if pid else 0.0
    except psutil.Error:
        started = 0.0
    digest.update(f"{runtime.endpoint} {pid} {started}\n".encode())
    root = runtime.root
    for name in DEPLOY_SOURCES:
        path = root / name
        files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
        for file in files:
            if "__pycache__" in file.parts:
                continue
            digest.update(f"{file.relative_to(root)}\n".encode())
            digest.update(file.read_bytes())
    for name in DEPLOY_BUILDS:
        # Built artefacts: size and time are enough (hashing the binaries would cost seconds).
        for directory, _, names in sorted(os.walk(root / name)):
            for file_name in sorted(names):
                stat = os.stat(os.path.join(directory, file_name))
                digest.update(f"{directory}/{file_name} {stat.st_size} {stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def deployment_present(runtime: LocalRuntime) -> bool:
    """Both stacks deployed and the outputs file describing this LocalStack."""
    try:
        if LocalDeployment.load(outputs_file(runtime)).endpoint != runtime.endpoint:
            return False
        cloudformation = boto3.client(
            "cloudformation",
            endpoint_url=runtime.endpoint,
            region_name="us-east-1",
            aws_access_key_id="test",
            aws_secret_access_key="test",  # noqa: S106 (LocalStack's fixed test credentials)
        )
        for name in STACKS:
            status = cloudformation.describe_stacks(StackName=name)["Stacks"][0]["StackStatus"]
            if status not in ("CREATE_COMPLETE", "UPDATE_COMPLETE"):
                return False
    except (OSError, ValueError, TypeError, BotoCoreError, ClientError):
        return False
    return True


def unchanged(runtime: LocalRuntime) -> bool:
    """The last deployment to this LocalStack was of these very inputs, and it is still there."""
    stamp, file = deploy_stamp(runtime), stamp_file(runtime)
    return file.exists() and file.read_text() == stamp and deployment_present(runtime)


def forget(runtime: LocalRuntime) -> None:
    """Before deploying: a deployment that fails halfway must not pass for the one stamped."""
    stamp_file(runtime).unlink(missing_ok=True)


def record(runtime: LocalRuntime) -> None:
    stamp_file(runtime).write_text(deploy_stamp(runtime))
