"""The upload policy as data and validate()."""

from __future__ import annotations

import re
import subprocess
from functools import cache
from pathlib import Path
from typing import NamedTuple

import pytest

from lambdas.media import ffmpeg_args as fa
from lambdas.media.errors import NoVideoStream, PolicyViolation, SourceUnreadable, UnsupportedInput
from lambdas.media.policy import AUDIO_DECODERS, VIDEO_DECODERS, ValidationPolicy, validate
from lambdas.media.probe import MediaInfo, probe_source
from tests.unit.media.conftest import LAYER_BIN, load_info

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
    assert (
        POLICY.format_whitelist
        == "mov,mp4,m4a,3gp,3g2,mj2,matroska,webm,avi,mpegts,mpeg,ogg,flv,asf,dv,mxf,mp3,wav,flac,aac"
    )
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
    info = with_video(load_info("landscape_h264_aac"), codec="rv40")  # RealVideo: not on the list
    with pytest.raises(UnsupportedInput, match=r"^video codec: 'rv40'"):
        validate(info, POLICY)


def test_audio_codec_not_allowed() -> None:
    info = load_info("landscape_h264_aac")
    info = info.model_copy(update={"audio": (info.audio[0].model_copy(update={"codec": "cook"}),)})
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
        ({"frame_rate": 240.5}, "frame rate"),
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


# --- the widened whitelist: every entry on purpose, and tested on a real file ---

# Demuxers that open other files or URLs named inside the upload (playlists, lists, patterns, side files).
REFERENCING_DEMUXERS = {
    "hls", "concat", "image2", "image2pipe", "tee", "subfile", "data", "ffmetadata", "dash", "imf", "vobsub",
}  # fmt: skip
# Decoders whose codec is a sibling of the ffprobe codec_name they are listed under.
SIBLINGS = {"h263": {"h263p"}}
# No encoder in the layer (FFmpeg has none): listed as decoders only, checked against `ffmpeg -decoders`.
DECODE_ONLY = {"svq3", "indeo2", "indeo3", "indeo4", "indeo5", "msmpeg4v1", "vc1", "wmv3"}

needs_layer = pytest.mark.skipif(not (LAYER_BIN / "ffmpeg").is_file(), reason="ffmpeg layer not built")


def test_no_demuxer_that_opens_other_files() -> None:
    names = set(POLICY.format_whitelist.split(","))
    assert not names & REFERENCING_DEMUXERS
    assert not any(n.startswith(("image2", "img")) for n in names)


@cache
def layer_decoders() -> dict[str, str]:
    """Decoder name -> the codec it decodes, from the layer's `ffmpeg -decoders`."""
    out = subprocess.run(
        [str(LAYER_BIN / "ffmpeg"), "-hide_banner", "-decoders"], capture_output=True, text=True, check=True
    ).stdout
    decoders: dict[str, str] = {}
    for line in out.splitlines():
        match = re.match(r"^ [VAS][.F][.S][.X][.B][.D] (\S+)\s+(.*)$", line)
        if match and match.group(1) != "=":
            codec = re.search(r"\(codec (\S+)\)$", match.group(2))
            decoders[match.group(1)] = codec.group(1) if codec else match.group(1)
    return decoders


@needs_layer
@pytest.mark.parametrize(("codec", "decoders"), [*VIDEO_DECODERS.items(), *AUDIO_DECODERS.items()])
def test_every_listed_decoder_is_in_the_layer_and_decodes_that_codec(codec: str, decoders: tuple[str, ...]) -> None:
    available = layer_decoders()
    for decoder in decoders:
        assert decoder in available, f"{decoder!r} (for {codec}) is not a decoder of the layer's ffmpeg"
        assert available[decoder] in {codec, *SIBLINGS.get(codec, ())}, f"{decoder!r} decodes {available[decoder]}"


def test_av1_leaves_out_the_hardware_only_native_decoder() -> None:
    assert VIDEO_DECODERS["av1"] == ("libdav1d", "libaom-av1")


@needs_layer
def test_decode_only_codecs_are_listed_and_have_no_encoder() -> None:
    out = subprocess.run(
        [str(LAYER_BIN / "ffmpeg"), "-hide_banner", "-encoders"], capture_output=True, text=True, check=True
    ).stdout
    encoded = {m.group(1) for m in re.finditer(r"\(codec (\S+)\)$|^ \S{6} (\S+)", out, re.M) if m.group(1)}
    encoded |= {m.group(1) for m in re.finditer(r"^ \S{6} (\S+)", out, re.M)}
    for codec in DECODE_ONLY:
        assert codec in POLICY.allowed_video_codecs
        assert codec not in encoded  # else it belongs in REAL_FILES below
        assert all(d in layer_decoders() for d in VIDEO_DECODERS[codec])


class Case(NamedTuple):
    suffix: str  # the muxer is chosen by it
    format_name: str  # what ffprobe then reports
    video: str  # ffprobe codec_name
    audio: str | None
    args: tuple[str, ...]  # encoder options
    size: str = "176x144"
    rate: int = 25


MOV = "mov,mp4,m4a,3gp,3g2,mj2"
MKV = "matroska,webm"
X264 = ("-c:v", "libx264", "-preset", "ultrafast")
AV1 = ("-c:v", "libaom-av1", "-cpu-used", "8", "-crf", "50")
DNXHD = ("-c:v", "dnxhd", "-b:v", "36M", "-pix_fmt", "yuv422p", "-c:a", "pcm_s16le")
DV = ("-c:v", "dvvideo", "-pix_fmt", "yuv420p", "-c:a", "pcm_s16le", "-ac", "2")
EXPERIMENTAL = ("-strict", "-2", "-ac", "2")

REAL_FILES: dict[str, Case] = {
    "av1 + aac in mp4": Case("mp4", MOV, "av1", "aac", (*AV1, "-c:a", "aac")),
    "av1 + opus in webm": Case("webm", MKV, "av1", "opus", (*AV1, "-c:a", "libopus")),
    "hevc 10-bit in mp4": Case(
        "mp4", MOV, "hevc", "aac", ("-c:v", "libx265", "-pix_fmt", "yuv420p10le", "-x265-params", "log-level=error")
    ),
    "vp8 + vorbis in webm": Case("webm", MKV, "vp8", "vorbis", ("-c:v", "libvpx", "-c:a", "libvorbis")),
    "theora + vorbis in ogg": Case("ogv", "ogg", "theora", "vorbis", ("-c:v", "libtheora", "-c:a", "libvorbis")),
    "flv1 + mp3 in flv": Case("flv", "flv", "flv1", "mp3", ("-c:v", "flv", "-c:a", "libmp3lame", "-ar", "44100")),
    "wmv2 + wmav2 in asf (.wmv)": Case("wmv", "asf", "wmv2", "wmav2", ("-c:v", "wmv2", "-c:a", "wmav2")),
    "wmv1 + wmav1 in asf": Case("asf", "asf", "wmv1", "wmav1", ("-c:v", "wmv1", "-c:a", "wmav1")),
    "msmpeg4v2 + pcm_u8 in avi": Case("avi", "avi", "msmpeg4v2", "pcm_u8", ("-c:v", "msmpeg4v2", "-c:a", "pcm_u8")),
    "msmpeg4v3 + adpcm_ms in avi": Case("avi", "avi", "msmpeg4v3", "adpcm_ms", ("-c:v", "msmpeg4", "-c:a", "adpcm_ms")),
    "xvid + adpcm_ima_wav in avi": Case(
        "avi", "avi", "mpeg4", "adpcm_ima_wav", ("-c:v", "mpeg4", "-vtag", "XVID", "-c:a", "adpcm_ima_wav")
    ),
    "cinepak + pcm_s16le in avi": Case("avi", "avi", "cinepak", "pcm_s16le", ("-c:v", "cinepak", "-c:a", "pcm_s16le")),
    "cinepak + pcm_s24be in mov": Case("mov", MOV, "cinepak", "pcm_s24be", ("-c:v", "cinepak", "-c:a", "pcm_s24be")),
    "svq1 + pcm_alaw in mov": Case("mov", MOV, "svq1", "pcm_alaw", ("-c:v", "svq1", "-c:a", "pcm_alaw", "-ar", "8000")),
    "rawvideo + pcm_s32le in avi": Case(
        "avi", "avi", "rawvideo", "pcm_s32le", ("-c:v", "rawvideo", "-pix_fmt", "yuv420p", "-c:a", "pcm_s32le")
    ),
    "rawvideo uyvy + pcm_mulaw in mov": Case(
        "mov",
        MOV,
        "rawvideo",
        "pcm_mulaw",
        ("-c:v", "rawvideo", "-pix_fmt", "uyvy422", "-c:a", "pcm_mulaw", "-ar", "8000"),
    ),
    "mjpeg + pcm_s16be in mov": Case(
        "mov", MOV, "mjpeg", "pcm_s16be", ("-c:v", "mjpeg", "-pix_fmt", "yuvj420p", "-c:a", "pcm_s16be")
    ),
    "prores 422 + pcm_s24le in mov": Case(
        "mov", MOV, "prores", "pcm_s24le", ("-c:v", "prores_ks", "-c:a", "pcm_s24le")
    ),
    "dnxhd in mov": Case("mov", MOV, "dnxhd", "pcm_s16le", DNXHD, size="1920x1080"),
    "dnxhd in mxf": Case("mxf", "mxf", "dnxhd", "pcm_s16le", DNXHD, size="1920x1080"),
    "mpeg2 in mxf": Case(
        "mxf", "mxf", "mpeg2video", "pcm_s16le", ("-c:v", "mpeg2video", "-c:a", "pcm_s16le"), "720x576"
    ),
    "raw dv from a camcorder": Case("dv", "dv", "dvvideo", "pcm_s16le", DV, size="720x576"),
    "dv in avi": Case("avi", "avi", "dvvideo", "pcm_s16le", DV, size="720x576"),
    "h263 + amr_nb in 3gp (phone)": Case(
        "3gp", MOV, "h263", "amr_nb", ("-c:v", "h263", "-c:a", "libopencore_amrnb", "-ar", "8000", "-ac", "1")
    ),
    "mpeg4 + amr_wb in 3gp (phone)": Case(
        "3gp", MOV, "mpeg4", "amr_wb", ("-c:v", "mpeg4", "-c:a", "libvo_amrwbenc", "-ar", "16000", "-ac", "1")
    ),
    "h264 + dts in mkv": Case("mkv", MKV, "h264", "dts", (*X264, "-c:a", "dca", *EXPERIMENTAL)),
    "h264 + truehd in mkv": Case("mkv", MKV, "h264", "truehd", (*X264, "-c:a", "truehd", *EXPERIMENTAL)),
    "h264 + pcm_f32le in mov": Case("mov", MOV, "h264", "pcm_f32le", (*X264, "-c:a", "pcm_f32le")),
    "h264 240 fps in mp4 (high-speed phone)": Case("mp4", MOV, "h264", None, (*X264, "-an"), "160x120", 240),
}


def make_source(tmp_path: Path, case: Case) -> Path:
    """0.4 s made with the layer's ffmpeg, then stored as the pipeline stores an upload: `source`, no extension."""
    made = tmp_path / f"made.{case.suffix}"
    argv = [str(LAYER_BIN / "ffmpeg"), "-hide_banner", "-v", "error", "-y"]
    argv += ["-f", "lavfi", "-i", f"testsrc2=size={case.size}:rate={case.rate}:duration=0.4"]
    argv += ["-f", "lavfi", "-i", "sine=f=440:sample_rate=48000:duration=0.4"]
    subprocess.run([*argv, *case.args, "-shortest", str(made)], check=True)
    source = tmp_path / "job" / "source"
    source.parent.mkdir()
    made.rename(source)
    return source


@needs_layer
@pytest.mark.usefixtures("layer_path")
@pytest.mark.parametrize("case", REAL_FILES)
def test_real_file_is_probed_accepted_and_decoded_inside_the_whitelists(tmp_path: Path, case: str) -> None:
    expected = REAL_FILES[case]
    source = make_source(tmp_path, expected)
    info = probe_source(source, POLICY.format_whitelist)
    assert info.format_name == expected.format_name
    assert info.video is not None
    assert info.video.codec == expected.video
    assert [a.codec for a in info.audio] == ([expected.audio] if expected.audio else [])
    validate(info, POLICY)
    # The hardened input every later ffmpeg run uses: only whitelisted demuxers and decoders may open.
    argv = [str(LAYER_BIN / "ffmpeg"), "-hide_banner", "-nostdin", "-v", "error"]
    argv += [*fa.input_args(source, info, POLICY), "-map", "0", "-f", "null", "-"]
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert "not on whitelist" not in done.stderr


@needs_layer
def test_every_accepted_codec_and_container_has_a_real_file() -> None:
    video = {c.video for c in REAL_FILES.values()} | DECODE_ONLY
    audio = {c.audio for c in REAL_FILES.values()}
    formats = {c.format_name for c in REAL_FILES.values()}
    # Listed before this change and covered elsewhere (test_real_ffmpeg.py, recorded fixtures).
    covered_elsewhere_video = {"vp9", "mpeg1video", "h264"}
    covered_elsewhere_audio = {"aac", "opus", "mp2", "ac3", "eac3", "flac", "alac", "pcm_s16le"}
    assert set(POLICY.allowed_video_codecs) - video <= covered_elsewhere_video
    assert set(POLICY.allowed_audio_codecs) - audio <= covered_elsewhere_audio
    # The sound-only containers have their files in test_audio_files.py.
    assert set(POLICY.allowed_formats) - formats <= {"mpegts", "mpeg", "mp3", "wav", "flac", "aac"}


# --- frame rate: the limit applies to the measured rate ---


def test_240_fps_is_accepted_and_300_is_refused() -> None:
    validate(load_info("mp4_h264_240fps"), POLICY)
    with pytest.raises(PolicyViolation, match=r"^frame rate: 300 frames per second; the limit is 240\.$"):
        validate(load_info("mp4_h264_300fps"), POLICY)


@pytest.mark.parametrize(
    "fixture", ["vfr_four_rates_mkv", "vfr_30_then_24_avi", "vfr_30_then_24_webm", "avi_vp9_187fps"]
)
def test_a_claimed_time_base_is_not_refused_as_a_frame_rate(fixture: str) -> None:
    info = load_info(fixture)
    assert info.video is not None
    assert info.video.frame_rate is not None
    assert info.video.frame_rate < 240
    validate(info, POLICY)


def test_every_accepted_container_has_the_file_extensions_the_api_accepts() -> None:
    from lambdas.api.models import VIDEO_EXTENSIONS
    from lambdas.media.policy import AUDIO_CONTAINERS, FILE_EXTENSIONS

    assert set(FILE_EXTENSIONS) | set(AUDIO_CONTAINERS) == set(ValidationPolicy().allowed_formats)
    assert {"wmv", "asf", "mxf", "dv", "3g2", "ogg", "mov", "mp4", "ts"} <= VIDEO_EXTENSIONS
