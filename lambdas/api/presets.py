"""GET /presets: the deployment's presets (built-in and the deployer's own) as a client chooses among them."""

from __future__ import annotations

from collections.abc import Callable

from aws_lambda_powertools.event_handler import APIGatewayRestResolver
from pydantic import Field

from lambdas.api.error_responses import documented
from lambdas.api.models import _Response
from lambdas.media.ladder import Fit
from lambdas.media.presets import Preset, PresetCatalog, PresetOutput


class PresetRungView(_Response):
    name: str
    width: int | None = Field(None, description="A fixed frame's width (box rungs); null: sized by short_side")
    height: int | None = None
    short_side: int = Field(description="The picture's shorter side (the frame's, for a box rung)")
    maxrate_kbps: int
    crf: int


class PresetView(_Response):
    name: str
    version: int
    description: str
    rungs: list[PresetRungView] = Field(description="Largest first; empty for an audio-only preset")
    fit: Fit | None = Field(
        None, description="How the picture goes into box rungs: pad or crop (a request may change it)"
    )
    outputs: list[PresetOutput]
    mp4_renditions: list[str] | None = Field(None, description="Rungs with an MP4 download; null: the middle one")
    audio_bitrate_kbps: int
    max_upscale: float = Field(1.0, description="How far the picture may be enlarged to fill a rung")


class PresetList(_Response):
    presets: list[PresetView]


def preset_view(preset: Preset) -> PresetView:
    return PresetView(
        name=preset.name,
        version=preset.version,
        description=preset.description,
        rungs=[
            PresetRungView(
                name=rung.name,
                width=rung.width,
                height=rung.height,
                short_side=rung.short_side,
                maxrate_kbps=rung.maxrate_kbps,
                crf=rung.crf,
            )
            for rung in preset.rungs
        ],
        fit=preset.fit,
        outputs=list(preset.outputs),
        mp4_renditions=list(preset.mp4_renditions) if preset.mp4_renditions is not None else None,
        audio_bitrate_kbps=preset.audio_bitrate_kbps,
        max_upscale=preset.ladder_config().max_upscale,
    )


def add_preset_routes(app: APIGatewayRestResolver, catalog: Callable[[], PresetCatalog]) -> None:
    @app.get(
        "/presets",
        summary="The output presets this deployment offers",
        description="Name one in POST /uploads (`preset`, and `fit` for a vertical or square one). A preset's "
        "`version` changes when the deployer changes it; a job keeps the version it was made with.",
        responses=documented(200, "The presets"),
        tags=["presets"],
        operation_id="list_presets",
    )
    def list_presets() -> PresetList:
        return PresetList(presets=[preset_view(preset) for preset in catalog().all()])
