"""Settings and fixtures every tier shares: the synthesized app (once per session)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from lambdas.media.runner import STATIC_BINARY_ENV
from stacks.names import PIPELINE_STACK, STORAGE_STACK

# The CDK's Node runtime warns on every import under Node 20; synth is otherwise unaffected.
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
os.environ.setdefault("CDK_DISABLE_VERSION_CHECK", "1")
# Tests run the layer's static ffmpeg directly too (to make and check media): the same environment fix.
os.environ.update(STATIC_BINARY_ENV)

# `make test` sets this: there, a skipped test is a missing part of the set-up, not something to shrug off.
FORBID_SKIPS = os.environ.get("VODPIPE_FORBID_SKIPS") == "1"
_skipped: list[str] = []


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.skipped:
        _skipped.append(report.nodeid)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if FORBID_SKIPS and _skipped and exitstatus == pytest.ExitCode.OK:
        print(f"\n{len(_skipped)} test(s) skipped under VODPIPE_FORBID_SKIPS=1 (run `make setup`?):")
        print("\n".join(f"  {nodeid}" for nodeid in _skipped))
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


if TYPE_CHECKING:
    import aws_cdk as cdk
    from aws_cdk.assertions import Template


@pytest.fixture(scope="session")
def assembly(tmp_path_factory: pytest.TempPathFactory) -> cdk.cx_api.CloudAssembly:
    # Imported here, not at module level: loading the CDK costs seconds that unit tests should not pay.
    import aws_cdk as cdk

    from app import build_app

    outdir = tmp_path_factory.mktemp("cdk.out")
    # The same context the CDK CLI would pass from cdk.json.
    context = json.loads((Path(__file__).parents[1] / "cdk.json").read_text())["context"]
    app = build_app(cdk.App(outdir=str(outdir), context=context, builtin_cloud_formation_validation=False))
    # Synth runs cdk-nag (a policy-validation plugin): any unacknowledged finding raises here.
    return app.synth()


@pytest.fixture(scope="session")
def storage(assembly: cdk.cx_api.CloudAssembly) -> Template:
    from aws_cdk.assertions import Template

    return Template.from_json(assembly.get_stack_by_name(STORAGE_STACK).template)


@pytest.fixture(scope="session")
def pipeline(assembly: cdk.cx_api.CloudAssembly) -> Template:
    from aws_cdk.assertions import Template

    return Template.from_json(assembly.get_stack_by_name(PIPELINE_STACK).template)


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
