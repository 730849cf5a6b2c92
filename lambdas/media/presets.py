"""Output presets: named, versioned specifications of what a job makes (rungs, geometry, outputs), as data.

The built-ins below, plus the deployer's own from the CDK context (`presets`, checked at synth by the same model),
form a deployment's `PresetCatalog`. A job stores the preset it resolved to, version and fit included, so a retry
makes exactly what was asked even after the deployment's presets changed. Changing a preset means raising its
`version`: jobs say which version made them.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from fractions import Fraction
from typing import Annotated, Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError, model_validator

from lambdas.media.ladder import DEFAULT_LADDER, Fit, LadderConfig, Rung

PresetOutput = Literal["hls", "mp4", "thumbnails", "audio", "mp3", "wav16k"]
VIDEO_PRESET_OUTPUTS = frozenset({"hls", "mp4", "thumbnails"})
PRESET_NAME_PATTERN = r"^[a-z0-9][a-z0-9-]{0,31}$"
DEFAULT_PRESET = "web"


class Preset(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: Annotated[str, StringConstraints(pattern=PRESET_NAME_PATTERN)]
    version: Annotated[int, Field(ge=1)]
    description: Annotated[str, StringConstraints(max_length=200)] = ""
    rungs: tuple[Rung, ...] = ()  # largest first; none: an audio-only preset
    fit: Fit | None = None  # box rungs only: "pad" (letterbox, nothing lost) or "crop" (fill the box)
    outputs: Annotated[tuple[PresetOutput, ...], Field(min_length=1)]
    mp4_renditions: tuple[str, ...] | None = None  # None: the middle rung
    audio_bitrate_kbps: Annotated[int, Field(ge=32, le=512)] = 128
    # How much a rung may enlarge the picture (lambdas/media/ladder.py's rule); 1.0: never.
    max_upscale: Annotated[float, Field(ge=1.0, le=4.0)] = 1.0

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        names = [rung.name for rung in self.rungs]
        if len(set(names)) != len(names):
            raise ValueError("rungs: two rungs have the same name")
        if len(set(self.outputs)) != len(self.outputs):
            raise ValueError("outputs: a value is repeated")
        if VIDEO_PRESET_OUTPUTS & set(self.outputs) and not self.rungs:
            raise ValueError("outputs: hls, mp4 and thumbnails need at least one rung")
        boxes = [rung.box is not None for rung in self.rungs]
        if any(boxes) and not all(boxes):
            raise ValueError("rungs: either every rung is a box (width, height) or none is")
        if all(boxes) and self.rungs and self.fit is None:
            raise ValueError("fit: box rungs need a fit, pad or crop")
        if self.fit is not None and not any(boxes):
            raise ValueError("fit: only box rungs (width, height) take a fit")
        shapes = {Fraction(rung.width, rung.height) for rung in self.rungs if rung.width and rung.height}
        if len(shapes) > 1:
            # Players switch between a ladder's rungs mid-stream: the picture must not change shape.
            raise ValueError("rungs: every box rung must have the same shape (width:height)")
        if self.mp4_renditions is not None and not set(self.mp4_renditions) <= set(names):
            raise ValueError("mp4_renditions: every name must be one of the preset's rungs")
        return self

    @property
    def rendition_names(self) -> tuple[str, ...]:
        return tuple(rung.name for rung in self.rungs)

    @property
    def boxed(self) -> bool:
        return bool(self.rungs) and self.rungs[0].box is not None

    def ladder_config(self) -> LadderConfig:
        """The ladder the pipeline plans with (the web preset's is exactly `DEFAULT_LADDER`)."""
        return DEFAULT_LADDER.model_copy(
            update={
                "rungs": self.rungs,
                "fit": self.fit,
                "audio_bitrate_kbps": self.audio_bitrate_kbps,
                "max_upscale": self.max_upscale,
            }
        )

    def with_fit(self, fit: Fit | None) -> Preset:
        """This preset with the caller's fit (None: the preset's own); a fit on a preset without boxes is an error."""
        if fit is None or fit == self.fit:
            return self
        if not self.boxed:
            raise ValueError(f"fit: the {self.name} preset has no fixed frame to fit into")
        return self.model_copy(update={"fit": fit})


def _box(width: int, height: int, maxrate_kbps: int, crf: int) -> Rung:
    return Rung(
        name=f"{width}x{height}",
        short_side=min(width, height),
        width=width,
        height=height,
        maxrate_kbps=maxrate_kbps,
        crf=crf,
    )


BUILTIN_PRESETS: tuple[Preset, ...] = (
    Preset(
        name="web",
        version=1,
        description="Adaptive HLS and DASH up to 1080p, a 720p MP4, thumbnails: the default.",
        rungs=DEFAULT_LADDER.rungs,
        outputs=("hls", "mp4", "thumbnails"),
    ),
    Preset(
        name="mobile",
        version=1,
        description="A light ladder for phones on cellular networks: 720p, 480p, 360p at lower bitrates.",
        rungs=(
            Rung(name="720p", short_side=720, maxrate_kbps=2000, crf=25),
            Rung(name="480p", short_side=480, maxrate_kbps=900, crf=26),
            Rung(name="360p", short_side=360, maxrate_kbps=500, crf=27),
        ),
        outputs=("hls", "thumbnails"),
        audio_bitrate_kbps=96,
    ),
    Preset(
        name="vertical",
        version=1,
        description="Vertical social video, 9:16 at 1080x1920 and 720x1280; fit pad (default) or crop.",
        rungs=(_box(1080, 1920, 6000, 23), _box(720, 1280, 3000, 24)),
        fit="pad",
        outputs=("hls", "mp4", "thumbnails"),
    ),
    Preset(
        name="square",
        version=1,
        description="Square 1:1 feed video at 1080x1080 and 720x720; fit pad (default) or crop.",
        rungs=(_box(1080, 1080, 5000, 23), _box(720, 720, 2500, 24)),
        fit="pad",
        outputs=("hls", "mp4", "thumbnails"),
    ),
    Preset(
        name="archive",
        version=1,
        description="One high-quality progressive MP4 at the source's size (up to 2160p), CRF 18.",
        rungs=(Rung(name="2160p", short_side=2160, maxrate_kbps=40000, crf=18),),
        outputs=("mp4",),
        audio_bitrate_kbps=192,
    ),
    Preset(
        name="audio",
        version=1,
        description="The audio only, as an AAC M4A (add mp3 or wav16k in outputs).",
        outputs=("audio",),
    ),
)


class InvalidPresets(ValueError):
    """The deployer's presets, wrong: every problem, each naming the preset and the field."""

    def __init__(self, problems: Sequence[str]) -> None:
        super().__init__("presets: " + "; ".join(problems))
        self.problems = tuple(problems)


def validate_presets(documents: Sequence[object]) -> tuple[Preset, ...]:
    """The deployer's preset documents as presets, or InvalidPresets naming each wrong one ("presets[1]
    'vertical-hq': rungs[0].width: …"); a name already taken (by a built-in or an earlier one) is wrong too."""
    problems: list[str] = []
    presets: list[Preset] = []
    taken = {preset.name for preset in BUILTIN_PRESETS}
    for index, document in enumerate(documents):
        name = document.get("name") if isinstance(document, dict) else None
        label = f"presets[{index}]" + (f" {name!r}" if isinstance(name, str) else "")
        try:
            preset = Preset.model_validate(document)
        except ValidationError as error:
            problems.extend(f"{label}: {_field_problem(e)}" for e in error.errors())
            continue
        if preset.name in taken:
            kind = "a built-in" if any(p.name == preset.name for p in BUILTIN_PRESETS) else "another"
            problems.append(f"{label}: name: {preset.name!r} is taken by {kind} preset (choose a new name)")
            continue
        taken.add(preset.name)
        presets.append(preset)
    if problems:
        raise InvalidPresets(problems)
    return tuple(presets)


def _field_problem(error: Mapping[str, Any]) -> str:
    where = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in error["loc"]).lstrip(".")
    message = str(error["msg"]).removeprefix("Value error, ")
    # A model-level check names its field itself ("fit: box rungs need a fit").
    return f"{where}: {message}" if where else message


def parse_presets(document: str | Sequence[object]) -> tuple[Preset, ...]:
    """The deployer's presets: a JSON text (the functions' PRESETS) or the already-parsed list of documents."""
    values = json.loads(document) if isinstance(document, str) and document.strip() else document or []
    if not isinstance(values, list):
        raise InvalidPresets(["must be a list of preset documents"])
    return validate_presets(values)


def presets_document(presets: Iterable[Preset]) -> str:
    """The deployer's presets as the functions' PRESETS variable: compact JSON, defaults left out."""
    return json.dumps(
        [preset.model_dump(mode="json", exclude_defaults=True) for preset in presets], separators=(",", ":")
    )


class PresetCatalog:
    """The presets one deployment offers: the built-ins and the deployer's own (new names only)."""

    def __init__(self, extra: Iterable[Preset] = ()) -> None:
        self._presets: dict[str, Preset] = {preset.name: preset for preset in BUILTIN_PRESETS}
        for preset in extra:
            if preset.name in self._presets:
                kind = "a built-in" if any(p.name == preset.name for p in BUILTIN_PRESETS) else "another"
                raise ValueError(f"preset {preset.name!r}: the name is taken by {kind} preset")
            self._presets[preset.name] = preset

    def all(self) -> tuple[Preset, ...]:
        return tuple(self._presets.values())

    def get(self, name: str) -> Preset | None:
        return self._presets.get(name)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self._presets)


def builtin(name: str) -> Preset:
    for preset in BUILTIN_PRESETS:
        if preset.name == name:
            return preset
    raise KeyError(name)
