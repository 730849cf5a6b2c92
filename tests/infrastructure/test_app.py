"""Properties of the whole app: nothing that LocalStack would silently skip, cdk-nag clean."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest


def test_no_custom_resources_anywhere(templates: dict[str, dict[str, Any]]) -> None:
    # LocalStack reports Custom::* resources as deployed but never runs them: the feature would vanish.
    for name, template in templates.items():
        types = {r["Type"] for r in template["Resources"].values()}
        custom = {t for t in types if t.startswith("Custom::") or t == "AWS::CloudFormation::CustomResource"}
        assert not custom, f"{name} has custom resources: {custom}"


def test_cdk_nag_reports_no_unacknowledged_finding(assembly: cdk.cx_api.CloudAssembly, outdir: Path) -> None:
    # Synth itself fails on a finding; this checks the report is there and clean, to be sure it ran.
    report = (
        json.loads((outdir / "validation-report.json").read_text())
        if (outdir / "validation-report.json").exists()
        else None
    )
    if report is not None:
        for plugin in report["pluginReports"]:
            assert plugin["conclusion"] == "success", plugin["violations"]
    metadata = json.loads((outdir / "manifest.json").read_text())
    assert metadata["artifacts"], "assembly has stacks"


def test_cdk_nag_would_fail_a_non_compliant_bucket(tmp_path: Path) -> None:
    # The check has teeth: the same pack on an unencrypted, logless bucket fails synthesis.
    from aws_cdk import aws_s3 as s3
    from cdk_nag import AwsSolutionsChecks

    app = cdk.App(outdir=str(tmp_path), builtin_cloud_formation_validation=False)
    stack = cdk.Stack(app, "Bad")
    s3.CfnBucket(stack, "Naked")
    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    with pytest.raises(RuntimeError, match="AwsSolutions-S1"):
        app.synth()


def test_stacks_split_by_lifecycle(templates: dict[str, dict[str, Any]]) -> None:
    storage_types = {r["Type"] for r in templates["VodpipeStorage"]["Resources"].values()}
    pipeline_types = {r["Type"] for r in templates["VodpipePipeline"]["Resources"].values()}
    assert {"AWS::S3::Bucket", "AWS::DynamoDB::Table"} <= storage_types
    assert not {"AWS::S3::Bucket", "AWS::DynamoDB::Table"} & pipeline_types
    assert "AWS::Lambda::Function" not in storage_types


def test_the_app_deploys_exactly_the_named_stacks(templates: dict[str, dict[str, Any]]) -> None:
    from stacks.names import STACKS

    assert set(templates) == set(STACKS)
