"""vodpipe.local.deploy against LocalStack: a tiny CDK app synthesized in-process, deployed, re-deployed."""

from __future__ import annotations

import io
import json
import os
import uuid
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from vodpipe.local.deploy import (
    AssemblyError,
    DeployResult,
    StackDeployError,
    deploy_assembly,
    write_outputs,
    zip_directory,
)

ASSETS_BUCKET = "cdk-hnb659fds-assets-000000000000-us-east-1"
# What LocalStack says when it cannot create a Lambda function because no host executor is installed.


def synth(outdir: Path, prefix: str, *, code: Path | None = None, data: Path | None = None) -> Path:
    """`<prefix>Store` exports a bucket name; `<prefix>App` imports it (+ a Lambda and a file asset)."""
    os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
    import aws_cdk as cdk
    from aws_cdk import aws_lambda as lambda_
    from aws_cdk import aws_s3 as s3
    from aws_cdk import aws_s3_assets as s3_assets
    from aws_cdk import aws_ssm as ssm

    app = cdk.App(
        outdir=str(outdir),
        context={"aws:cdk:enable-path-metadata": False, "aws:cdk:enable-asset-metadata": False},
        analytics_reporting=False,
        builtin_cloud_formation_validation=False,
    )
    store = cdk.Stack(app, f"{prefix}Store")
    bucket = s3.Bucket(store, "Media", removal_policy=cdk.RemovalPolicy.DESTROY)
    cdk.CfnOutput(store, "MediaBucket", value=bucket.bucket_name, export_name=f"{prefix}-MediaBucket")

    stack = cdk.Stack(app, f"{prefix}App")
    stack.add_stack_dependency(store)
    imported = cdk.Fn.import_value(f"{prefix}-MediaBucket")
    ssm.StringParameter(stack, "MediaBucketName", string_value=imported)
    cdk.CfnOutput(stack, "ImportedBucket", value=imported)
    if code is not None:
        fn = lambda_.Function(
            stack,
            "Probe",
            runtime=lambda_.Runtime.PYTHON_3_13,
            handler="index.handler",
            code=lambda_.Code.from_asset(str(code)),
            environment={"MEDIA_BUCKET": imported},
        )
        cdk.CfnOutput(stack, "FunctionName", value=fn.function_name)
    if data is not None:
        asset = s3_assets.Asset(stack, "Data", path=str(data))
        cdk.CfnOutput(stack, "DataKey", value=asset.s3_object_key)
    app.synth()
    return outdir


@pytest.fixture
def stacks(aws_client: Callable[..., Any]) -> Iterator[str]:
    """A unique stack-name prefix; the stacks are deleted afterwards, dependants first."""
    prefix = f"Dt{uuid.uuid4().hex[:8]}"
    yield prefix
    cfn = aws_client("cloudformation")
    for name in (f"{prefix}App", f"{prefix}Store"):
        cfn.delete_stack(StackName=name)
        cfn.get_waiter("stack_delete_complete").wait(StackName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 60})


def deploy(cdk_out: Path, endpoint: str) -> tuple[DeployResult, list[str]]:
    events: list[str] = []
    return deploy_assembly(cdk_out, endpoint, on_event=events.append), events


def actions(result: DeployResult) -> dict[str, str]:
    return {s.name: s.action for s in result.stacks}


def test_zip_is_deterministic_and_keeps_exec_bits(tmp_path: Path) -> None:
    src = tmp_path / "layer"
    (src / "bin").mkdir(parents=True)
    (src / "bin" / "ffmpeg").write_bytes(b"#!/bin/sh\necho ffmpeg\n")
    (src / "bin" / "ffmpeg").chmod(0o755)
    (src / "README").write_text("licence\n")
    zip_directory(src, tmp_path / "a.zip")
    os.utime(src / "README", (1, 1))  # a different mtime must not change the bytes
    zip_directory(src, tmp_path / "b.zip")

    assert (tmp_path / "a.zip").read_bytes() == (tmp_path / "b.zip").read_bytes()
    with zipfile.ZipFile(tmp_path / "a.zip") as zf:
        assert zf.namelist() == ["README", "bin/ffmpeg"]
        modes = {i.filename: i.external_attr >> 16 for i in zf.infolist()}
    assert modes["bin/ffmpeg"] & 0o777 == 0o755
    assert modes["README"] & 0o777 == 0o644


def test_docker_image_assets_are_refused(tmp_path: Path) -> None:
    (tmp_path / "manifest.json").write_text(
        json.dumps({"artifacts": {"S.assets": {"type": "cdk:asset-manifest", "properties": {"file": "a.json"}}}})
    )
    (tmp_path / "a.json").write_text(json.dumps({"files": {}, "dockerImages": {"abc": {}}}))

    with pytest.raises(AssemblyError, match="Docker image assets"):
        deploy_assembly(tmp_path, "http://127.0.0.1:9", on_event=lambda _: None)


def test_deploys_stacks_in_order_and_redeploys_unchanged(tmp_path: Path, aws_endpoint: str, stacks: str) -> None:
    cdk_out = synth(tmp_path / "cdk.out", stacks)

    first, events = deploy(cdk_out, aws_endpoint)

    assert [s.name for s in first.stacks] == [f"{stacks}Store", f"{stacks}App"]
    assert set(actions(first).values()) == {"created"}
    bucket = first.outputs[f"{stacks}Store"]["MediaBucket"]
    assert first.outputs[f"{stacks}App"]["ImportedBucket"] == bucket
    assert any(e.startswith(f"{stacks}Store: created in") for e in events)
    assert events[-1].startswith("deployed 2 stacks in")

    again, _ = deploy(cdk_out, aws_endpoint)

    assert set(actions(again).values()) == {"unchanged"}
    assert again.outputs == first.outputs
    write_outputs(tmp_path / "outputs.json", again.outputs)
    assert json.loads((tmp_path / "outputs.json").read_text()) == first.outputs


def test_failed_stack_reports_events_and_is_recreated(
    tmp_path: Path, aws_endpoint: str, aws_client: Callable[..., Any], stacks: str
) -> None:
    cdk_out = synth(tmp_path / "cdk.out", stacks)
    template = cdk_out / f"{stacks}App.template.json"
    good = json.loads(template.read_text())
    bad = json.loads(template.read_text())
    bad["Resources"]["Broken"] = {
        "Type": "AWS::S3::Bucket",
        "Properties": {"BucketName": "Not_A_Valid_Name!"},
    }
    template.write_text(json.dumps(bad))

    with pytest.raises(StackDeployError) as failed:
        deploy(cdk_out, aws_endpoint)

    assert failed.value.stack == f"{stacks}App"
    assert any(line.startswith("Broken (AWS::S3::Bucket)") for line in failed.value.failures)
    status = aws_client("cloudformation").describe_stacks(StackName=f"{stacks}App")["Stacks"][0]
    assert status["StackStatus"] in {"CREATE_FAILED", "ROLLBACK_COMPLETE"}

    template.write_text(json.dumps(good))
    fixed, events = deploy(cdk_out, aws_endpoint)

    assert actions(fixed) == {f"{stacks}Store": "unchanged", f"{stacks}App": "recreated"}
    assert any("deleting it to create it again" in e for e in events)


def test_failed_update_is_reported_even_when_the_stack_says_complete(
    tmp_path: Path, aws_endpoint: str, stacks: str
) -> None:
    cdk_out = synth(tmp_path / "cdk.out", stacks)
    deploy(cdk_out, aws_endpoint)
    template = cdk_out / f"{stacks}App.template.json"
    bad = json.loads(template.read_text())
    bad["Resources"]["Broken"] = {
        "Type": "AWS::S3::Bucket",
        "Properties": {"BucketName": "Not_A_Valid_Name!"},
    }
    template.write_text(json.dumps(bad))

    # LocalStack 2026.3.0 ends this update in UPDATE_COMPLETE; AWS in UPDATE_ROLLBACK_COMPLETE.
    with pytest.raises(StackDeployError) as failed:
        deploy(cdk_out, aws_endpoint)

    assert any(line.startswith("Broken (AWS::S3::Bucket)") for line in failed.value.failures)
    # ...and records the broken template as deployed, so a retry answers "no updates".
    with pytest.raises(StackDeployError) as retried:
        deploy(cdk_out, aws_endpoint)
    assert any(line.startswith("Broken (AWS::S3::Bucket)") for line in retried.value.failures)


def test_lambda_code_asset_roundtrip(
    tmp_path: Path, aws_endpoint: str, aws_client: Callable[..., Any], stacks: str
) -> None:
    code = tmp_path / "src"
    (code / "bin").mkdir(parents=True)
    (code / "index.py").write_text("def handler(event, context):\n    return {'version': 1}\n")
    (code / "bin" / "tool").write_text("#!/bin/sh\necho tool\n")
    (code / "bin" / "tool").chmod(0o755)
    data = tmp_path / "ladder.json"
    data.write_text('{"renditions": [1080, 720]}\n')

    first, _ = deploy(synth(tmp_path / "out1", stacks, code=code, data=data), aws_endpoint)
    outputs = first.outputs[f"{stacks}App"]
    s3 = aws_client("s3")
    assert s3.get_object(Bucket=ASSETS_BUCKET, Key=outputs["DataKey"])["Body"].read() == data.read_bytes()
    lambda_ = aws_client("lambda")
    function = lambda_.get_function(FunctionName=outputs["FunctionName"])
    assert function["Configuration"]["Environment"]["Variables"]["MEDIA_BUCKET"] == outputs["ImportedBucket"]
    (code_zip,) = _zip_asset_keys(tmp_path / "out1")
    body = s3.get_object(Bucket=ASSETS_BUCKET, Key=code_zip)["Body"].read()
    with zipfile.ZipFile(io.BytesIO(body)) as zf:
        assert zf.getinfo("bin/tool").external_attr >> 16 & 0o777 == 0o755

    unchanged, _ = deploy(synth(tmp_path / "out2", stacks, code=code, data=data), aws_endpoint)
    assert set(actions(unchanged).values()) == {"unchanged"}

    (code / "index.py").write_text("def handler(event, context):\n    return {'version': 2}\n")
    changed, _ = deploy(synth(tmp_path / "out3", stacks, code=code, data=data), aws_endpoint)

    assert actions(changed) == {f"{stacks}Store": "unchanged", f"{stacks}App": "updated"}
    after = lambda_.get_function(FunctionName=outputs["FunctionName"])["Configuration"]["CodeSha256"]
    assert after != function["Configuration"]["CodeSha256"]


def _zip_asset_keys(cdk_out: Path) -> list[str]:
    keys = []
    for manifest in sorted(cdk_out.glob("*.assets.json")):
        for asset in json.loads(manifest.read_text())["files"].values():
            if asset["source"].get("packaging") == "zip":
                keys += [d["objectKey"] for d in asset["destinations"].values()]
    return keys
