"""What a request asks a job to make, resolved against the deployment's presets: one place for uploads and clips.

Every refusal is a 422 naming the field, before anything is created.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from lambdas.api.errors import InvalidInput
from lambdas.api.models import OutputRequest
from lambdas.jobs.model import AUDIO_OUTPUTS, VIDEO_OUTPUTS, Job, OutputKind
from lambdas.media.presets import DEFAULT_PRESET, Preset, PresetCatalog


class OutputSpec(BaseModel):
    """The job fields a request resolves to (`Job.new` keywords)."""

    model_config = ConfigDict(frozen=True)

    preset: Preset
    requested_renditions: tuple[str, ...]
    requested_outputs: tuple[OutputKind, ...]
    mp4_renditions: tuple[str, ...] | None
    loudnorm: bool
    private: bool

    def new_job(self, **fields: Any) -> Job:
        """`Job.new` with what this spec resolved to, and the job's other fields (owner, source, now…)."""
        return Job.new(
            requested_renditions=self.requested_renditions,
            requested_outputs=self.requested_outputs,
            preset=self.preset,
            mp4_renditions=self.mp4_renditions,
            loudnorm=self.loudnorm,
            private=self.private,
            **fields,
        )


def resolve_outputs(
    request: OutputRequest, catalog: PresetCatalog, *, audio_file: bool = False, private_supported: bool = True
) -> OutputSpec:
    """The preset (fit applied), rungs, outputs and options a request asks for, or InvalidInput naming the field.

    `audio_file`: the upload's name says it holds sound only (mp3, wav…), so only audio outputs can be made.
    """
    name = request.preset or DEFAULT_PRESET
    found = catalog.get(name)
    if found is None:
        raise InvalidInput(
            f"preset: unknown preset {name!r}; this deployment has {', '.join(catalog.names)}", field="preset"
        )
    try:
        preset = found.with_fit(request.fit)
    except ValueError as refused:
        raise InvalidInput(str(refused), field="fit") from None
    outputs = tuple(OutputKind(kind) for kind in (request.outputs or preset.outputs))
    wants_video = bool(VIDEO_OUTPUTS & set(outputs))
    if audio_file and wants_video:
        asked = ", ".join(sorted(kind.value for kind in VIDEO_OUTPUTS & set(outputs)))
        raise InvalidInput(
            f"outputs: an audio file has no picture, so it cannot make {asked}; ask for audio, mp3 or wav16k "
            "(or the audio preset)",
            field="outputs",
        )
    if wants_video and not preset.rungs:
        raise InvalidInput(
            f"outputs: the {preset.name} preset makes no video; ask for audio, mp3 or wav16k, or another preset",
            field="outputs",
        )
    if request.loudnorm and not AUDIO_OUTPUTS & set(outputs):
        raise InvalidInput(
            "loudnorm: normalises the audio downloads; add audio, mp3 or wav16k to outputs", field="loudnorm"
        )
    renditions = _renditions(request, preset, wants_video=wants_video)
    mp4 = _mp4_renditions(request, preset, renditions, outputs)
    if request.private and not private_supported:
        raise InvalidInput(
            "private: this deployment has no key to sign private playback URLs (see private_playback in the README)",
            field="private",
        )
    return OutputSpec(
        preset=preset,
        requested_renditions=renditions,
        requested_outputs=outputs,
        mp4_renditions=mp4,
        loudnorm=request.loudnorm,
        private=request.private,
    )


def _renditions(request: OutputRequest, preset: Preset, *, wants_video: bool) -> tuple[str, ...]:
    if not wants_video:
        if request.renditions is not None:
            raise InvalidInput("renditions: only video outputs (hls, mp4) have renditions", field="renditions")
        return ()
    offered = preset.rendition_names
    if request.renditions is None:
        return offered
    unknown = [r for r in request.renditions if r not in offered]
    if unknown:
        raise InvalidInput(
            f"renditions: {', '.join(unknown)} not in the {preset.name} preset ({', '.join(offered)})",
            field="renditions",
        )
    return tuple(r for r in offered if r in request.renditions)  # largest first


def _mp4_renditions(
    request: OutputRequest, preset: Preset, renditions: tuple[str, ...], outputs: tuple[OutputKind, ...]
) -> tuple[str, ...] | None:
    if request.mp4_renditions is None:
        kept = tuple(r for r in renditions if r in (preset.mp4_renditions or ()))
        return kept or None
    if OutputKind.MP4 not in outputs:
        raise InvalidInput("mp4_renditions: add mp4 to outputs to get MP4 downloads", field="mp4_renditions")
    missing = [r for r in request.mp4_renditions if r not in renditions]
    if missing:
        raise InvalidInput(
            f"mp4_renditions: {', '.join(missing)} not among the renditions made ({', '.join(renditions)})",
            field="mp4_renditions",
        )
    return tuple(r for r in renditions if r in request.mp4_renditions)
