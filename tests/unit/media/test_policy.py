"""The upload policy as data and validate()."""

from __future__ import annotations

import pytest

from lambdas.media.errors import NoVideoStream, PolicyViolation, SourceUnreadable, UnsupportedInput
from lambdas.media.policy import ValidationPolicy, validate
from lambdas.media.probe import MediaInfo
from tests.unit.media.conftest import load_info

POLICY = ValidationPolicy()


def with_video(info: MediaInfo, **changes: object) -> MediaInfo:
    assert info.video is not None
    return info.model_copy(update={"video": info.video.model_copy(update=changes)})


@pytest.mark.parametrize(
    "fixture",
    [
        "landscape_h264_aac",
        "rotated90_h264_aac",
        "portrait_h264_noaudio",
        "webm_vp9_opus_ntsc",
        "mpegts_mpeg2_anamorphic_51",
    ],
)
def test_recorded_sources_pass(fixture: str) -> None:
    validate(load_info(fixture), POLICY)


def test_whitelists_are_flat_demuxer_and_decoder_names() -> None:
    assert POLICY.format_whitelist == "mov,mp4,m4a,3gp,3g2,mj2,matroska,webm,avi,mpegts,mpeg,ogg,flv"
    decoders = POLICY.codec_whitelist.split(",")
    assert {"h264", "hevc", "vp9", "libvpx-vp9", "aac", "mp3float", "opus"} <= set(decoders)
    assert "hls" not in POLICY.format_whitelist
    assert "concat" not in POLICY.format_whitelist
    assert len(decoders) == len(set(decoders))
    assert POLICY.max_pixels == 4096 * 4096


def test_container_not_allowed() -> None:
    info = load_info("landscape_h264_aac").model_copy(update={"format_name": "hls"})
    with pytest.raises(UnsupportedInput, match=r"^container:"):
        validate(info, POLICY)


def test_a_narrower_policy_refuses_webm() -> None:
    policy = ValidationPolicy(allowed_formats=("mov,mp4,m4a,3gp,3g2,mj2",))
    assert policy.format_whitelist == "mov,mp4,m4a,3gp,3g2,mj2"
    with pytest.raises(UnsupportedInput, match="matroska"):
        validate(load_info("webm_vp9_opus_ntsc"), policy)


def test_audio_only_is_no_video_stream() -> None:
    with pytest.raises(NoVideoStream, match=r"^video:"):
        validate(load_info("audio_only_m4a"), POLICY)
    validate(load_info("audio_only_m4a"), ValidationPolicy(require_video=False))


def test_video_codec_not_allowed() -> None:
    info = with_video(load_info("landscape_h264_aac"), codec="cinepak")
    with pytest.raises(UnsupportedInput, match=r"^video codec: 'cinepak'"):
        validate(info, POLICY)


def test_audio_codec_not_allowed() -> None:
    info = load_info("landscape_h264_aac")
    info = info.model_copy(update={"audio": (info.audio[0].model_copy(update={"codec": "dts"}),)})
    with pytest.raises(UnsupportedInput, match=r"^audio codec:"):
        validate(info, POLICY)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"size": 6 * 1024**3}, "size"),
        ({"duration": 2 * 3600 + 1}, "duration"),
        ({"duration": 0.01}, "duration"),
    ],
)
def test_format_limits(change: dict[str, object], field: str) -> None:
    info = load_info("landscape_h264_aac").model_copy(update=change)
    with pytest.raises(PolicyViolation, match=rf"^{field}:") as caught:
        validate(info, POLICY)
    assert caught.value.field == field


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"width": 5000, "height": 2000}, "width"),
        ({"width": 2000, "height": 5000}, "height"),
        ({"frame_rate": 240.0}, "frame rate"),
    ],
)
def test_video_limits(change: dict[str, object], field: str) -> None:
    info = with_video(load_info("landscape_h264_aac"), **change)
    with pytest.raises(PolicyViolation, match=rf"^{field}:") as caught:
        validate(info, POLICY)
    assert caught.value.field == field
    assert caught.value.limit is not None
    assert caught.value.actual is not None


def test_limits_apply_to_the_displayed_size() -> None:
    # 4096x2304 stored, rotated 90°: displayed 2304x4096, inside a 4096x4096 box, outside a landscape one.
    info = with_video(load_info("landscape_h264_aac"), width=4096, height=2304, rotation=90)
    validate(info, POLICY)
    with pytest.raises(PolicyViolation, match=r"^height:"):
        validate(info, ValidationPolicy(max_width=4096, max_height=2304))


def test_unknown_duration_is_unreadable() -> None:
    info = load_info("landscape_h264_aac").model_copy(update={"duration": None})
    with pytest.raises(SourceUnreadable, match=r"^duration:"):
        validate(info, POLICY)


def test_messages_are_readable() -> None:
    info = load_info("landscape_h264_aac").model_copy(update={"duration": 3 * 3600.0})
    with pytest.raises(PolicyViolation) as caught:
        validate(info, POLICY)
    assert str(caught.value) == "duration: the video is 3:00:00 long; the limit is 2:00:00."
