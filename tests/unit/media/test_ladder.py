"""plan_ladder: rung selection, orientation, even sizes, bitrate caps, GOP."""

from __future__ import annotations

import pytest

from lambdas.media.errors import NoVideoStream, PolicyViolation
from lambdas.media.ladder import DEFAULT_LADDER, LadderConfig, Rendition, plan_ladder
from lambdas.media.probe import MediaInfo
from tests.unit.media.conftest import load_info


def source(
    width: int,
    height: int,
    *,
    fps: float | None = 30.0,
    rotation: int = 0,
    audio: bool = True,
    sar: str | None = "1:1",
) -> MediaInfo:
    base = load_info("landscape_h264_aac" if audio else "portrait_h264_noaudio")
    assert base.video is not None
    video = base.video.model_copy(
        update={
            "width": width,
            "height": height,
            "frame_rate": fps,
            "rotation": rotation,
            "sample_aspect": sar,
        }
    )
    return base.model_copy(update={"video": video, "duration": 60.0})


def sizes(renditions: list[Rendition]) -> list[tuple[str, int, int]]:
    return [(r.name, r.width, r.height) for r in renditions]


def test_full_hd_gets_the_whole_ladder() -> None:
    ladder = plan_ladder(source(1920, 1080))
    assert sizes(ladder) == [
        ("1080p", 1920, 1080),
        ("720p", 1280, 720),
        ("480p", 854, 480),
        ("360p", 640, 360),
    ]
    assert [(r.maxrate_kbps, r.bufsize_kbps) for r in ladder] == [
        (6000, 12000),
        (3500, 7000),
        (1500, 3000),
        (800, 1600),
    ]
    assert all(r.crf <= 25 for r in ladder)
    assert all((r.audio, r.audio_bitrate_kbps, r.audio_channels) == (True, 128, 2) for r in ladder)


def test_4k_tops_out_at_1080p() -> None:
    assert plan_ladder(source(3840, 2160))[0].name == "1080p"


def test_portrait_gets_portrait_rungs() -> None:
    assert sizes(plan_ladder(source(1080, 1920))) == [
        ("1080p", 1080, 1920),
        ("720p", 720, 1280),
        ("480p", 480, 854),
        ("360p", 360, 640),
    ]


def test_rotated_landscape_pixels_get_portrait_rungs() -> None:
    ladder = plan_ladder(source(1920, 1080, rotation=90))
    assert (ladder[0].width, ladder[0].height) == (1080, 1920)
    assert plan_ladder(source(1920, 1080, rotation=180))[0].width == 1920


def test_square_gets_square_rungs() -> None:
    assert sizes(plan_ladder(source(1080, 1080)))[-2:] == [("480p", 480, 480), ("360p", 360, 360)]


def test_never_upscale() -> None:
    assert sizes(plan_ladder(source(640, 360))) == [("360p", 640, 360)]
    assert [r.name for r in plan_ladder(source(1280, 720))] == ["720p", "480p", "360p"]
    assert [r.name for r in plan_ladder(source(1000, 700))] == ["480p", "360p"]


def test_smaller_than_the_smallest_rung_gets_one_rung_at_source_size() -> None:
    ladder = plan_ladder(source(320, 240))
    assert sizes(ladder) == [("240p", 320, 240)]
    assert 200 <= ladder[0].maxrate_kbps < 800
    assert sizes(plan_ladder(source(321, 241))) == [("240p", 320, 240)]  # odd sizes rounded down to even


def test_anamorphic_source_keeps_its_display_aspect() -> None:
    ladder = plan_ladder(source(720, 480, sar="32:27"))  # DVD 16:9
    assert sizes(ladder) == [("480p", 854, 480), ("360p", 640, 360)]


@pytest.mark.parametrize(
    ("w", "h"),
    [
        (1920, 1080),
        (1080, 1920),
        (1440, 1080),
        (2560, 1080),
        (1918, 1078),
        (3840, 1634),
        (853, 480),
        (1079, 1921),
    ],
)
def test_sizes_are_even_and_keep_the_aspect(w: int, h: int) -> None:
    for r in plan_ladder(source(w, h)):
        assert r.width % 2 == 0
        assert r.height % 2 == 0
        assert r.width / r.height == pytest.approx(w / h, rel=0.01)
        assert min(r.width, r.height) <= min(w, h)


def test_gop_is_frame_rate_times_segment() -> None:
    assert {r.gop_frames for r in plan_ladder(source(1280, 720, fps=30), segment_seconds=4)} == {120}
    ntsc = plan_ladder(source(1280, 720, fps=29.97), segment_seconds=2)[0]
    assert (ntsc.gop_frames, ntsc.frame_rate, ntsc.fps_filter) == (60, 29.97, None)
    unknown = plan_ladder(source(1280, 720, fps=None), segment_seconds=4)[0]
    assert unknown.gop_frames == 120


def test_high_frame_rates_are_halved_to_the_cap() -> None:
    fast = plan_ladder(source(1280, 720, fps=119.88), segment_seconds=4)[0]
    assert (fast.frame_rate, fast.fps_filter, fast.gop_frames) == (59.94, 59.94, 240)


def test_requested_rungs() -> None:
    assert [r.name for r in plan_ladder(source(1920, 1080), requested=["720p", "360p"])] == ["720p", "360p"]
    # 1080p cannot be made from 720p: fall back to the largest rung that fits.
    assert [r.name for r in plan_ladder(source(1280, 720), requested=["1080p"])] == ["720p"]
    with pytest.raises(PolicyViolation, match=r"^renditions:"):
        plan_ladder(source(1920, 1080), requested=["8k"])


def test_no_audio_means_no_audio_rendition() -> None:
    assert not any(r.audio for r in plan_ladder(source(640, 360, audio=False)))


def test_no_video() -> None:
    with pytest.raises(NoVideoStream):
        plan_ladder(load_info("audio_only_m4a"))


def test_ladder_is_data() -> None:
    custom = LadderConfig(rungs=DEFAULT_LADDER.rungs[1:2], bufsize_factor=1.5)
    assert [(r.name, r.bufsize_kbps) for r in plan_ladder(source(1920, 1080), config=custom)] == [("720p", 5250)]
