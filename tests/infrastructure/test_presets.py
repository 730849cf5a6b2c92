"""The deployer's presets in the CDK context: a wrong one fails synth naming it; a right one reaches the API."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from lambdas.handlers import _wiring
from lambdas.media.presets import builtin
from lambdas.settings import get_settings
from stacks.config import PRESETS_ENV_MAX_BYTES, DeploymentConfig
from stacks.names import PIPELINE_STACK
from tests.conftest import resources_of

CUSTOM = {
    "name": "reels",
    "version": 4,
    "description": "9:16 for a feed, cropped",
    "rungs": [{"name": "hd", "width": 1080, "height": 1920, "maxrate_kbps": 5000}],
    "fit": "crop",
    "outputs": ["hls", "mp4"],
}


def _context(**vodpipe: object) -> dict[str, Any]:
    context: dict[str, Any] = json.loads((Path(__file__).parents[2] / "cdk.json").read_text())["context"]
    return context | {"vodpipe": {**context.get("vodpipe", {}), **vodpipe}}


def test_a_wrong_preset_fails_synth_naming_it_and_the_field(tmp_path: Path) -> None:
    import aws_cdk as cdk

    from app import build_app

    wrong = CUSTOM | {"name": "reels-bad", "rungs": [{"name": "hd", "width": 1080, "height": 1921, "maxrate_kbps": 1}]}
    app = cdk.App(outdir=str(tmp_path), context=_context(presets=[CUSTOM, wrong]))
    with pytest.raises(ValueError, match=r"presets\[1\] 'reels-bad': rungs\[0\]\.height: Input should be a multiple"):
        build_app(app)


def test_a_preset_taking_a_builtin_name_is_refused() -> None:
    with pytest.raises(ValueError, match=r"presets\[0\] 'vertical': name: 'vertical' is taken by a built-in"):
        DeploymentConfig.from_context({"presets": [CUSTOM | {"name": "vertical"}]})


def test_presets_too_large_for_the_functions_environment_are_refused() -> None:
    many = [CUSTOM | {"name": f"reels-{i}", "description": "x" * 190} for i in range(12)]
    with pytest.raises(ValueError, match=rf"take \d+ bytes .* {PRESETS_ENV_MAX_BYTES} of it for presets"):
        DeploymentConfig.from_context({"presets": many})


@pytest.fixture(scope="module")
def custom_template(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    import aws_cdk as cdk

    from app import build_app

    outdir = tmp_path_factory.mktemp("cdk-presets")
    app = build_app(
        cdk.App(outdir=str(outdir), context=_context(presets=[CUSTOM]), builtin_cloud_formation_validation=False)
    )
    template: dict[str, Any] = app.synth().get_stack_by_name(PIPELINE_STACK).template
    return template


def _api_environment(template: dict[str, Any]) -> dict[str, Any]:
    functions = resources_of(template, "AWS::Lambda::Function")
    (api,) = [f for name, f in functions.items() if name.startswith("FunctionsJobsApi")]
    variables: dict[str, Any] = api["Properties"]["Environment"]["Variables"]
    return variables


def test_a_custom_preset_reaches_the_api_and_its_catalog(
    custom_template: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    env = _api_environment(custom_template)
    (document,) = json.loads(env["PRESETS"])
    assert document["name"] == "reels"
    assert document["version"] == 4
    for name, value in env.items():
        monkeypatch.setenv(name, value if isinstance(value, str) else f"vodpipe-{name.lower()}")
    get_settings.cache_clear()
    _wiring.api_config.cache_clear()
    try:
        catalog = _wiring.api_config().catalog()
    finally:
        get_settings.cache_clear()
        _wiring.api_config.cache_clear()
    reels = catalog.get("reels")
    assert reels is not None
    assert reels.fit == "crop"
    assert reels.rungs[0].box == (1080, 1920)
    assert catalog.get("web") is not None  # beside the built-ins


def test_without_presets_the_api_gets_none(templates: dict[str, dict[str, Any]]) -> None:
    assert _api_environment(templates[PIPELINE_STACK])["PRESETS"] == ""


def test_every_presets_ladder_must_fit_a_worker() -> None:
    from stacks import config as limits

    others = {"max_upload_bytes": 64 * 2**20, "max_duration_s": 600}
    # The archive ladder (one 2160p rung at 40 Mbit/s) is the heaviest built-in: 1 GiB piece + 2 x 60 s x
    # 40,000 kbit/s x 2 (VBV) / 8 + 256 MiB = 2424.1 MiB.
    need = math.ceil(limits.worker_disk_bytes(15, 4.0, builtin("archive").ladder_config()) / 2**20)
    assert need == 2425
    DeploymentConfig.model_validate({"transcode_ephemeral_mb": need, **others})
    with pytest.raises(ValueError, match=r"preset 'archive': an EncodeChunk video item .* at least 2425"):
        DeploymentConfig.model_validate({"transcode_ephemeral_mb": need - 1, **others})
    heavy = CUSTOM | {
        "name": "heavy",
        "fit": None,
        "rungs": [{"name": "8k", "short_side": 4320, "maxrate_kbps": 100_000}],
    }
    with pytest.raises(ValueError, match=r"preset 'heavy': an EncodeChunk video item"):
        DeploymentConfig.model_validate({"transcode_ephemeral_mb": 4096, "presets": [heavy], **others})
