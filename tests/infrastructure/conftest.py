"""Synthesize the app once per session; tests assert on the templates."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Template

from app import build_app


@pytest.fixture(scope="session")
def assembly(tmp_path_factory: pytest.TempPathFactory) -> Iterator[cdk.cx_api.CloudAssembly]:
    outdir = tmp_path_factory.mktemp("cdk.out")
    app = build_app(cdk.App(outdir=str(outdir), builtin_cloud_formation_validation=False))
    # Synth runs cdk-nag (a policy-validation plugin): any unacknowledged finding raises here.
    yield app.synth()


@pytest.fixture(scope="session")
def storage(assembly: cdk.cx_api.CloudAssembly) -> Template:
    return Template.from_json(assembly.get_stack_by_name("VodpipeStorage").template)


@pytest.fixture(scope="session")
def pipeline(assembly: cdk.cx_api.CloudAssembly) -> Template:
    return Template.from_json(assembly.get_stack_by_name("VodpipePipeline").template)


@pytest.fixture(scope="session")
def templates(assembly: cdk.cx_api.CloudAssembly) -> dict[str, dict[str, Any]]:
    return {s.stack_name: s.template for s in assembly.stacks}


@pytest.fixture(scope="session")
def outdir(assembly: cdk.cx_api.CloudAssembly) -> Path:
    return Path(assembly.directory)


def resources_of(template: dict[str, Any], type_name: str) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in template["Resources"].items() if v["Type"] == type_name}


def dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True)
