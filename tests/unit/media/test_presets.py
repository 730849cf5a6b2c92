"""Presets: what each built-in makes of each source shape (the no-upscaling rule), and the deployer's documents."""

from __future__ import annotations

import json

import pytest

from lambdas.media.ladder import DEFAULT_LADDER, Rendition, plan_ladder
from lambdas.media.presets import (
    BUILTIN_PRESETS,
    InvalidPresets,
    PresetCatalog,
    builtin,
    parse_presets,
    presets_document,
    validate_presets,
)
from lambdas.media.probe import MediaInfo
from tests.unit.media.conftest import load_info


def source(width: int, height: int, *, sar: str | None = "1:1", rotation: int = 0) -> MediaInfo:
    base = load_info("landscape_h264_aac")
    assert base.video is not None
    video = base.video.model_copy(
        update={"width": width, "height": height, "sample_aspect": sar, "rotation": rotation, "frame_rate": 30.0}
    )
    return base.model_copy(update={"video": video, "duration": 60.0})


def planned(preset: str, info: MediaInfo, fit: str | None = None) -> list[tuple[str, int, int]]:
    ladder = builtin(preset).with_fit(fit).ladder_config()  # type: ignore[arg-type]
    return [(r.name, r.width, r.height) for r in plan_ladder(info, config=ladder)]


def test_web_is_exactly_the_ladder_before_presets() -> None:
    assert builtin("web").ladder_config() == DEFAULT_LADDER
    assert planned("web", source(1920, 1080)) == [
        ("1080p", 1920, 1080),
        ("720p", 1280, 720),
        ("480p", 854, 480),
        ("360p", 640, 360),
    ]


@pytest.mark.parametrize(
    ("size", "fit", "expected"),
    [
        # A portrait source as tall as the frames fills both, either way.
        ((1080, 1920), "pad", [("1080x1920", 1080, 1920), ("720x1280", 720, 1280)]),
        ((1080, 1920), "crop", [("1080x1920", 1080, 1920), ("720x1280", 720, 1280)]),
        # A 1080p landscape padded: its 1920 columns fill 1080 of the frame's width, no enlargement.
        ((1920, 1080), "pad", [("1080x1920", 1080, 1920), ("720x1280", 720, 1280)]),
        # Cropped, its 1080 lines would have to fill 1920 (x1.78) or 1280 (x1.19): only the smallest frame.
        ((1920, 1080), "crop", [("720x1280", 720, 1280)]),
        # A 720x1280 phone video fills the 720x1280 frame exactly; 1080x1920 would enlarge it.
        ((720, 1280), "pad", [("720x1280", 720, 1280)]),
        # Too small for any frame: the smallest one anyway (a vertical preset's promise).
        ((360, 640), "pad", [("720x1280", 720, 1280)]),
        ((321, 241), "crop", [("720x1280", 720, 1280)]),
    ],
)
def test_vertical(size: tuple[int, int], fit: str, expected: list[tuple[str, int, int]]) -> None:
    assert planned("vertical", source(*size), fit) == expected


def test_square_from_every_shape() -> None:
    assert planned("square", source(1920, 1080)) == [("1080x1080", 1080, 1080), ("720x720", 720, 720)]
    assert planned("square", source(1080, 1920), "crop") == [("1080x1080", 1080, 1080), ("720x720", 720, 720)]
    assert planned("square", source(1280, 720), "crop") == [("720x720", 720, 720)]
    # DVD 16:9 anamorphic (720x480 at 32:27, shown 853x480): 480 lines fill neither square when cropped...
    dvd = source(720, 480, sar="32:27")
    assert planned("square", dvd, "crop") == [("720x720", 720, 720)]
    # ... and padded, the 853 shown columns fill 720 of the 720x720 frame's width: no enlargement.
    assert planned("square", dvd, "pad") == [("720x720", 720, 720)]


def test_box_renditions_carry_their_geometry_and_filters() -> None:
    (top, _) = plan_ladder(source(1920, 1080), config=builtin("vertical").ladder_config())
    assert top.geometry is not None
    assert top.geometry.picture is not None
    assert top.scale_filters() == ["scale=1080:608", "setsar=1", "pad=1080:1920:0:656:black"]
    (only,) = plan_ladder(source(1920, 1080), config=builtin("vertical").with_fit("crop").ladder_config())
    assert only.scale_filters() == ["crop=606:1080:656:0", "scale=720:1280", "setsar=1"]
    # A rung sized by its short side is scaled as before.
    (hd, *_) = plan_ladder(source(1920, 1080))
    assert hd.geometry is None
    assert hd.scale_filters() == ["scale=1920:1080", "setsar=1"]


def test_a_rotated_phone_video_is_portrait_for_the_vertical_frames() -> None:
    assert planned("vertical", source(1920, 1080, rotation=90), "crop") == [
        ("1080x1920", 1080, 1920),
        ("720x1280", 720, 1280),
    ]


def test_archive_is_one_rendition_at_the_source_size_and_never_enlarged() -> None:
    assert planned("archive", source(3840, 2160)) == [("2160p", 3840, 2160)]
    assert planned("archive", source(1280, 720)) == [("720p", 1280, 720)]  # its own size, named for it
    assert planned("archive", source(721, 405)) == [("404p", 720, 404)]


def test_mobile_never_goes_above_720p() -> None:
    assert [r[0] for r in planned("mobile", source(3840, 2160))] == ["720p", "480p", "360p"]


def test_a_deployers_max_upscale_allows_that_much_enlargement_and_no_more() -> None:
    (preset,) = validate_presets(
        [
            {
                "name": "vertical-up",
                "version": 1,
                "rungs": [
                    {"name": "big", "width": 1080, "height": 1920, "maxrate_kbps": 6000},
                    {"name": "small", "width": 720, "height": 1280, "maxrate_kbps": 3000},
                ],
                "fit": "pad",
                "outputs": ["hls"],
                "max_upscale": 1.5,
            }
        ]
    )
    sizes = [r.name for r in plan_ladder(source(720, 1280), config=preset.ladder_config())]
    assert sizes == ["big", "small"]  # 720 -> 1080 is x1.5
    sizes = [r.name for r in plan_ladder(source(700, 1244), config=preset.ladder_config())]
    assert sizes == ["small"]  # x1.54 for the big one: too much


def test_every_builtin_is_valid_and_its_outputs_fit_its_rungs() -> None:
    names = [p.name for p in BUILTIN_PRESETS]
    assert names == ["web", "mobile", "vertical", "square", "archive", "audio"]
    assert builtin("audio").rungs == ()
    assert builtin("archive").outputs == ("mp4",)


def document(**changes: object) -> dict[str, object]:
    base: dict[str, object] = {
        "name": "reels",
        "version": 2,
        "rungs": [{"name": "hd", "width": 1080, "height": 1920, "maxrate_kbps": 5000}],
        "fit": "crop",
        "outputs": ["hls", "mp4"],
    }
    return base | changes


def test_a_deployers_document_may_leave_a_box_rungs_short_side_out() -> None:
    (preset,) = validate_presets([document()])
    assert preset.rungs[0].short_side == 1080
    assert parse_presets(json.dumps([document()])) == (preset,)
    assert parse_presets("") == ()


@pytest.mark.parametrize(
    ("documents", "message"),
    [
        ([document(rungs=[{"name": "hd", "width": 1081, "height": 1920, "maxrate_kbps": 5000}])],
         r"presets\[0\] 'reels': rungs\[0\]\.width: Input should be a multiple of 2"),
        ([document(fit=None)], r"presets\[0\] 'reels': fit: box rungs need a fit"),
        ([document(outputs=["hls", "dash"])], r"presets\[0\] 'reels': outputs\[1\]: Input should be"),
        ([document(name="web")], r"presets\[0\] 'web': name: 'web' is taken by a built-in preset"),
        ([document(), document(version=3)], r"presets\[1\] 'reels': name: 'reels' is taken by another preset"),
        ([document(name="Bad Name")], r"presets\[0\] 'Bad Name': name: String should match pattern"),
        ([document(rungs=[{"name": "a", "width": 1080, "height": 1920, "maxrate_kbps": 5000},
                          {"name": "b", "width": 720, "height": 720, "maxrate_kbps": 2000}])],
         r"rungs: every box rung must have the same shape"),
        ([document(mp4_renditions=["4k"])], r"mp4_renditions: every name must be one of the preset's rungs"),
        ([{"version": 1}], r"presets\[0\]: name: Field required"),
    ],
)  # fmt: skip
def test_a_wrong_document_is_refused_naming_the_preset_and_the_field(documents: list[object], message: str) -> None:
    with pytest.raises(InvalidPresets, match=message):
        validate_presets(documents)


def test_every_problem_is_named_at_once() -> None:
    with pytest.raises(InvalidPresets) as raised:
        validate_presets([document(name="web"), document(name="ok", version=0)])
    assert len(raised.value.problems) == 2


def test_the_environment_document_round_trips_and_leaves_defaults_out() -> None:
    presets = validate_presets([document(), document(name="other", description="x" * 10)])
    text = presets_document(presets)
    assert parse_presets(text) == presets
    assert "crf" not in text  # defaults left out: the environment is small
    catalog = PresetCatalog(presets)
    assert catalog.names[: len(BUILTIN_PRESETS)] == tuple(p.name for p in BUILTIN_PRESETS)
    assert catalog.get("reels") == presets[0]


def _names(renditions: list[Rendition]) -> list[str]:
    return [r.name for r in renditions]


def test_requested_names_narrow_a_box_ladder() -> None:
    ladder = builtin("vertical").ladder_config()
    assert _names(plan_ladder(source(1080, 1920), ["720x1280"], config=ladder)) == ["720x1280"]
