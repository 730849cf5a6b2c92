"""Thumbnail times, the sprite-sheet plan and its WebVTT."""

from __future__ import annotations

import pytest

from lambdas.media.storyboard import plan_sprite, storyboard_vtt, thumbnail_times
from tests.unit.media.conftest import load_info

INFO = load_info("landscape_h264_aac").model_copy(update={"duration": 10.0})


def test_thumbnail_times_avoid_the_first_and_last_frames() -> None:
    assert thumbnail_times(10.0, 3) == [2.5, 5.0, 7.5]
    assert thumbnail_times(1.0, 2) == [0.333, 0.667]
    assert thumbnail_times(None, 2) == [0.0]  # unknown length: the first frame, once
    assert thumbnail_times(10.0, 0) == []
    assert thumbnail_times(None, 0) == []


def test_sprite_plan() -> None:
    plan = plan_sprite(INFO, interval=2, columns=3, rows=2, tile_width=160)
    assert (plan.tile_height, plan.count, plan.per_sheet, plan.sheets) == (120, 5, 6, 1)
    assert plan_sprite(INFO, interval=1, columns=3, rows=2).sheets == 2  # 10 tiles, 6 a sheet


def test_sprite_tiles_follow_the_displayed_shape() -> None:
    portrait = plan_sprite(load_info("rotated90_h264_aac"), tile_width=160)
    assert portrait.tile_height == 214  # 240x320 as shown: 160 x 213.3, rounded to even
    anamorphic = plan_sprite(load_info("mpegts_mpeg2_anamorphic_51"), tile_width=160)
    assert anamorphic.tile_height == 90  # 853x480 as shown, not 720x480 as stored


def test_sprite_needs_a_video_stream() -> None:
    with pytest.raises(ValueError, match="video stream"):
        plan_sprite(load_info("audio_only_m4a"))


def test_storyboard_vtt() -> None:
    plan = plan_sprite(INFO.model_copy(update={"duration": 25.0}), interval=5, columns=2, rows=2, tile_width=100)
    assert plan.sheets == 2
    vtt = storyboard_vtt(plan, 25.0, sheet_url="sb/{:03d}.jpg")
    assert vtt.splitlines()[:8] == [
        "WEBVTT",
        "",
        "00:00:00.000 --> 00:00:05.000",
        "sb/000.jpg#xywh=0,0,100,76",
        "",
        "00:00:05.000 --> 00:00:10.000",
        "sb/000.jpg#xywh=100,0,100,76",
        "",
    ]
    assert "sb/000.jpg#xywh=100,76,100,76" in vtt
    assert vtt.rstrip().splitlines()[-2:] == ["00:00:20.000 --> 00:00:25.000", "sb/001.jpg#xywh=0,0,100,76"]


def test_storyboard_cues_end_with_the_video() -> None:
    plan = plan_sprite(INFO.model_copy(update={"duration": 12.5}), interval=5, columns=2, rows=2, tile_width=100)
    cues = [line for line in storyboard_vtt(plan, 12.5).splitlines() if "-->" in line]
    assert cues == [
        "00:00:00.000 --> 00:00:05.000",
        "00:00:05.000 --> 00:00:10.000",
        "00:00:10.000 --> 00:00:12.500",  # the last tile is cut short, not padded past the end
    ]
    assert "sprite_000.jpg#xywh=" in storyboard_vtt(plan, 12.5)  # the default sheet names


def test_vtt_timestamps_past_an_hour() -> None:
    plan = plan_sprite(INFO.model_copy(update={"duration": 3725.0}), interval=10, columns=10, rows=10)
    assert "01:02:00.000 --> 01:02:05.000" in storyboard_vtt(plan, 3725.0)
