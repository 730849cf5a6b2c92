"""picture_filters on VideoStream values; and on the layer's real ffmpeg, that interlaced, HDR, BT.601, 10-bit
and full-range sources come out of a chunk encode progressive, SDR, BT.709, 8-bit and limited range, and
that stills are upright JFIF JPEGs, from an ordinary MPEG-TS too."""

from __future__ import annotations

import re
import subprocess
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest

from lambdas.media import ffmpeg_args as fa
from lambdas.media.ladder import Rendition, plan_ladder
from lambdas.media.picture import (
    colour_filters,
    deinterlace_filters,
    picture_filters,
    source_matrix,
    upright_filters,
)
from lambdas.media.policy import ValidationPolicy
from lambdas.media.probe import MediaInfo, VideoStream, probe_source
from lambdas.media.runner import run
from lambdas.media.storyboard import plan_sprite, thumbnail_times
from tests.media_tools import ffprobe_json
from tests.unit.media.conftest import LAYER_BIN

POLICY = ValidationPolicy()
WHITELIST = POLICY.format_whitelist

SD_TO_709 = "colorspace=ispace=smpte170m:iprimaries=bt709:itrc=bt709:all=bt709:range=tv:fast=1"


def stream(**fields: object) -> VideoStream:
    """A progressive 8-bit BT.709 HD picture, with `fields` changed."""
    base: dict[str, object] = {
        "index": 0,
        "codec": "h264",
        "width": 1920,
        "height": 1080,
        "pix_fmt": "yuv420p",
        "field_order": "progressive",
        "color_space": "bt709",
        "color_transfer": "bt709",
        "color_primaries": "bt709",
        "color_range": "tv",
        "bit_depth": 8,
    }
    return VideoStream.model_validate(base | fields)


# --- the filters, as data ---


def test_a_progressive_bt709_8bit_picture_needs_nothing() -> None:
    assert picture_filters(stream()) == []
    assert picture_filters(stream(color_space=None, color_transfer=None, color_primaries=None, color_range=None)) == []


@pytest.mark.parametrize(
    ("rotation", "filters"),
    [(0, []), (90, ["transpose=clock"]), (180, ["hflip", "vflip"]), (270, ["transpose=cclock"])],
)
def test_the_display_rotation_is_applied_to_the_pixels(rotation: int, filters: list[str]) -> None:
    # Clockwise, as a player would turn it: 90 is transpose=clock, as ffmpeg's own autorotation does.
    assert upright_filters(stream(rotation=rotation)) == filters
    assert picture_filters(stream(rotation=rotation)) == filters


@pytest.mark.parametrize(
    ("field_order", "filters"),
    [
        ("tt", ["bwdif=mode=send_frame:parity=tff:deint=all"]),
        ("bb", ["bwdif=mode=send_frame:parity=bff:deint=all"]),
        ("tb", ["bwdif=mode=send_frame:parity=auto:deint=all"]),  # ambiguous: each frame's own flag
        ("bt", ["bwdif=mode=send_frame:parity=auto:deint=all"]),
        ("progressive", []),
        (None, []),
    ],
)
def test_interlaced_pictures_are_deinterlaced_frame_for_frame(field_order: str | None, filters: list[str]) -> None:
    assert deinterlace_filters(stream(field_order=field_order)) == filters


def test_the_order_deinterlace_colour_rotate() -> None:
    video = stream(field_order="tt", rotation=90, width=720, height=576, color_space=None)
    assert picture_filters(video) == [
        "bwdif=mode=send_frame:parity=tff:deint=all",  # on the source's fields, before anything mixes them
        SD_TO_709,
        "format=yuv420p",
        "transpose=clock",  # on the 8-bit 4:2:0 picture: the cheapest to turn
    ]


@pytest.mark.parametrize(("hdr", "transfer"), [("smpte2084", "smpte2084"), ("arib-std-b67", "arib-std-b67")])
def test_hdr_is_tone_mapped_to_sdr_bt709(hdr: str, transfer: str) -> None:
    video = stream(
        pix_fmt="yuv420p10le", bit_depth=10, color_transfer=hdr, color_primaries="bt2020", color_space="bt2020nc"
    )
    assert video.hdr is not None
    assert colour_filters(video) == [
        f"zscale=tin={transfer}:pin=bt2020:min=bt2020nc:t=linear:p=bt709:npl=100:f=spline36",
        "format=gbrpf32le",
        "tonemap=tonemap=mobius:desat=0",
        "zscale=tin=linear:pin=bt709:t=bt709:p=bt709:m=bt709:r=tv:f=spline36",
        "format=yuv420p",
    ]


def test_hdr_with_untagged_primaries_and_matrix_is_taken_for_bt2020() -> None:
    video = stream(pix_fmt="yuv420p10le", color_transfer="smpte2084", color_primaries=None, color_space=None)
    assert colour_filters(video)[0].startswith("zscale=tin=smpte2084:pin=bt2020:min=bt2020nc:")


def test_every_zscale_is_told_its_input() -> None:
    # zimg cannot convert from "unspecified", and ffmpeg 6.0 hangs when it fails: every conversion it is
    # asked for names what it converts from.
    videos = [
        stream(pix_fmt="yuv420p10le", color_transfer="smpte2084", color_primaries=None, color_space=None),
        stream(pix_fmt="yuv420p10le", color_transfer="arib-std-b67", color_primaries="bt2020"),
        stream(pix_fmt="yuv420p10le", color_transfer="bt2020-10", color_primaries="bt2020", color_space="bt2020nc"),
        stream(pix_fmt="yuv420p10le", color_transfer=None, color_primaries="smpte432", color_space="bt709"),
        stream(color_space="bt2020c"),
    ]
    for video in videos:
        scalers = [f for f in colour_filters(video) if f.startswith("zscale=")]
        assert scalers
        for scaler in scalers:
            options = dict(kv.split("=") for kv in scaler.removeprefix("zscale=").split(":"))
            for out, given in (("t", "tin"), ("p", "pin"), ("m", "min")):
                if out in options and not options.get(given) and not (out == "m" and options.get("tin") == "linear"):
                    raise AssertionError(f"{scaler}: {out} without {given}")


@pytest.mark.parametrize(
    ("width", "height", "tagged", "matrix"),
    [
        (720, 576, None, "smpte170m"),  # untagged SD: BT.601, as players assume
        (720, 480, None, "smpte170m"),
        (400, 170, None, "smpte170m"),
        (1024, 576, None, "smpte170m"),
        (1280, 720, None, "bt709"),
        (1280, 544, None, "bt709"),  # HD letterboxed: 1280 wide is HD whatever its height
        (720, 1280, None, "bt709"),  # portrait HD
        (720, 576, "bt709", "bt709"),  # tags win
        (1920, 1080, "bt470bg", "bt470bg"),
        (1920, 1080, "unknown", "bt709"),
    ],
)
def test_the_source_matrix(width: int, height: int, tagged: str | None, matrix: str) -> None:
    assert source_matrix(stream(width=width, height=height, color_space=tagged)) == matrix


def test_bt601_becomes_bt709() -> None:
    assert colour_filters(stream(width=720, height=576, color_space=None)) == [SD_TO_709, "format=yuv420p"]
    assert colour_filters(stream(color_space="smpte170m")) == [SD_TO_709, "format=yuv420p"]
    pal = colour_filters(stream(color_space="bt470bg"))
    assert pal[0].startswith("colorspace=ispace=bt470bg:")


def test_full_range_becomes_limited_range_with_its_range_read_from_the_frames() -> None:
    # The frames say it themselves (a forced input range met ffmpeg's own yuvj conversion and halved contrast).
    for video in (stream(color_range="pc"), stream(pix_fmt="yuvj420p", color_range=None)):
        assert colour_filters(video) == [
            "colorspace=ispace=bt709:iprimaries=bt709:itrc=bt709:all=bt709:range=tv:fast=1",
            "format=yuv420p",
        ]


@pytest.mark.parametrize("pix_fmt", ["yuv420p10le", "yuv422p10le", "yuv444p", "yuv422p"])
def test_other_sdr_bt709_pictures_only_lose_bits_and_chroma(pix_fmt: str) -> None:
    assert colour_filters(stream(pix_fmt=pix_fmt)) == ["format=yuv420p"]


def test_sdr_wide_gamut_is_converted_in_linear_light() -> None:
    video = stream(pix_fmt="yuv420p10le", color_primaries="bt2020", color_space="bt2020nc", color_transfer="bt2020-10")
    assert colour_filters(video) == [
        "zscale=tin=bt2020-10:pin=bt2020:min=bt2020nc:t=bt709:p=bt709:m=bt709:r=tv:f=spline36",
        "format=yuv420p",
    ]


def test_rgb_is_made_bt709() -> None:
    assert colour_filters(stream(pix_fmt="rgb24", color_space="gbr")) == [
        "scale=out_color_matrix=bt709:out_range=tv",
        "format=yuv420p",
    ]


def test_recorded_sources() -> None:
    from tests.unit.media.conftest import load_info

    def video(name: str) -> VideoStream:
        found = load_info(name).video
        assert found is not None
        return found

    assert deinterlace_filters(video("interlaced_tff_mpeg2_ts")) == ["bwdif=mode=send_frame:parity=tff:deint=all"]
    assert colour_filters(video("hdr_pq_hevc10_mp4"))[0].startswith("zscale=tin=smpte2084:")
    assert colour_filters(video("hdr_hlg_hevc10_mp4"))[0].startswith("zscale=tin=arib-std-b67:")
    assert upright_filters(video("rotated90_h264_aac")) == ["transpose=cclock"]  # stored as 270 clockwise
    assert picture_filters(video("webm_vp9_30fps"))[0] == SD_TO_709  # 160x120, untagged matrix


# --- how the builders use them ---


def test_the_chunk_deinterlaces_first_and_converts_after_the_frame_rate() -> None:
    info = MediaInfo(
        format_name="mpegts",
        video=stream(field_order="tt", width=720, height=576, color_space=None, rotation=90),
    )
    chain = fa.chunk_filters(info, rate=Fraction(25), start=10.0, frames=50)
    assert chain[0] == "bwdif=mode=send_frame:parity=tff:deint=all"
    assert [f.split("=")[0] for f in chain[1:4]] == ["trim", "setpts", "fps"]
    assert chain[4:] == [SD_TO_709, "format=yuv420p", "transpose=clock"]


def test_every_rung_is_tagged_bt709_limited_range() -> None:
    (rendition, *_) = plan_ladder(MediaInfo(format_name="mov", video=stream()))
    argv = fa.chunk_argv(
        Path("/p.mkv"), MediaInfo(format_name="mov", video=stream()), POLICY, [rendition], [Path("/o.mp4")],
        rate=Fraction(30), segment_frames=60, start=0.0, frames=60,
    )  # fmt: skip
    tags = {argv[i]: argv[i + 1] for i in range(len(argv) - 1) if argv[i].startswith("-color")}
    assert tags == {"-color_primaries": "bt709", "-color_trc": "bt709", "-colorspace": "bt709", "-color_range": "tv"}


def test_every_input_is_decoded_unrotated() -> None:
    info = MediaInfo(format_name="mov", video=stream(rotation=90))
    argv = fa.thumbnails_argv(Path("/s"), info, POLICY, Path("/o"), [1.0, 2.0])
    heads = " ".join(argv).split(" -i ")[:-1]
    assert len(heads) == 2
    assert all("-autorotate 0 " in head for head in heads)


def test_stills_are_made_viewable_then_jfif() -> None:
    info = MediaInfo(format_name="mov", duration=10.0, video=stream(width=1920, height=1080, rotation=90))
    argv = fa.poster_argv(Path("/s"), info, POLICY, Path("/p.jpg"), at=1.0)
    assert argv[argv.index("-vf") + 1] == (
        "transpose=clock,scale=1080:1920:in_color_matrix=bt709:in_range=tv:out_color_matrix=bt601:out_range=pc,"
        "setsar=1,format=yuvj420p"
    )
    sprite = fa.sprite_argv(Path("/s"), info, POLICY, plan_sprite(info, interval=2), Path("/o"))
    assert sprite[sprite.index("-vf") + 1].startswith("fps=1/2,transpose=clock,scale=160:284:")


@pytest.mark.parametrize(
    ("video", "width", "size"),
    [
        (stream(), 1280, (1280, 720)),
        (stream(width=320, height=240), 1280, (320, 240)),  # never upscaled
        (stream(rotation=90), 1280, (1080, 1920)),
        (stream(rotation=90), 640, (640, 1138)),
        (stream(width=720, height=480, sample_aspect="32:27"), 1280, (852, 480)),  # anamorphic: as shown
        (stream(width=400, height=170), 640, (400, 170)),
    ],
)
def test_still_size_is_the_picture_as_shown(video: VideoStream, width: int, size: tuple[int, int]) -> None:
    assert fa.still_size(video, width) == size


def test_mpegts_stills_decode_from_well_before_their_instant() -> None:
    ts = MediaInfo(format_name="mpegts", duration=60.0, video=stream())
    mp4 = ts.model_copy(update={"format_name": "mov,mp4,m4a,3gp,3g2,mj2"})
    assert fa.still_seek(30.0, mp4) == (30.0, None)  # indexed: straight to the keyframe before it
    assert fa.still_seek(30.0, ts) == (30.0 - fa.STILL_PREROLL_S, fa.STILL_PREROLL_S)
    assert fa.still_seek(5.0, ts) == (None, 5.0)  # from the start
    assert fa.still_seek(0.0, ts) == (None, None)
    argv = fa.thumbnails_argv(Path("/s"), ts, POLICY, Path("/o"), [5.0, 30.0])
    assert argv.count("-ss") == 3  # one input seek (30 s), an output seek each
    assert argv[argv.index("-map") + 2 : argv.index("-map") + 4] == ["-ss", "5.000"]


# --- on the layer's real ffmpeg ---

real = pytest.mark.usefixtures("layer_path")  # the layer's bin/ on PATH; skipped where it is not built


def ffmpeg(*args: str) -> None:
    subprocess.run(
        ["timeout", "-s", "KILL", "60", str(LAYER_BIN / "ffmpeg"), "-hide_banner", "-v", "error", "-y", *args],
        check=True,
    )


def lavfi(out: Path, graph: str, *codec: str) -> Path:
    ffmpeg("-f", "lavfi", "-i", graph, *codec, str(out))
    return out


BT709_CARD = "testsrc2=size=320x240:rate=25:duration=0.4,format=yuv420p"
TAG_709 = ("-colorspace", "bt709", "-color_primaries", "bt709", "-color_trc", "bt709", "-color_range", "tv")


def hdr_card(transfer: str) -> str:
    """The BT.709 card as an HDR grade would carry it (BT.2408): SDR white at 203 cd/m², BT.2020, 10-bit."""
    return (
        f"{BT709_CARD},setparams=range=tv:color_primaries=bt709:color_trc=bt709:colorspace=bt709,"
        "zscale=tin=bt709:pin=bt709:min=bt709:t=linear:p=bt2020:npl=203:f=spline36,format=gbrpf32le,"
        f"zscale=tin=linear:pin=bt2020:t={transfer}:p=bt2020:m=bt2020nc:r=tv:npl=203:f=spline36,format=yuv420p10le"
    )


def x265(transfer: str) -> tuple[str, ...]:
    params = f"log-level=error:colorprim=bt2020:transfer={transfer}:colormatrix=bt2020nc"
    return (
        "-c:v", "libx265", "-preset", "ultrafast", "-crf", "12", "-x265-params", params,
        "-color_primaries", "bt2020", "-color_trc", transfer, "-colorspace", "bt2020nc",
    )  # fmt: skip


def interlaced(out: Path, size: str, rate: str, top: bool, *codec: str) -> Path:
    """Real interlaced motion: a progressive field-rate card woven two fields to a frame."""
    weave = "interleave_top,setfield=tff" if top else "interleave_bottom,setfield=bff"
    return lavfi(out, f"testsrc2=size={size}:rate={rate}:duration=0.4,tinterlace=mode={weave}", *codec)


@pytest.fixture(scope="module")
def sources(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    if not (LAYER_BIN / "ffmpeg").is_file():
        pytest.skip("ffmpeg layer not built: python layers/ffmpeg/build.py")
    d = tmp_path_factory.mktemp("pictures")
    h264 = ("-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p")
    return {
        "mpeg2_tff": interlaced(
            d / "tff.ts", "720x576", "50", True, "-c:v", "mpeg2video", "-flags", "+ildct+ilme", "-top", "1",
            "-b:v", "8M", "-f", "mpegts",
        ),
        "h264_bff": interlaced(
            d / "bff.mp4", "720x480", "60000/1001", False, *h264, "-flags", "+ildct+ilme", "-top", "0",
            "-x264opts", "bff=1",
        ),
        "pq": lavfi(d / "pq.mp4", hdr_card("smpte2084"), *x265("smpte2084")),
        "hlg": lavfi(d / "hlg.mp4", hdr_card("arib-std-b67"), *x265("arib-std-b67")),
        "sdr": lavfi(d / "sdr.mp4", BT709_CARD, *h264, "-qp", "0", *TAG_709),
        "sd601": lavfi(d / "sd601.mp4", BT709_CARD, *h264, "-qp", "0"),  # untagged SD: BT.601
        "hevc10": lavfi(
            d / "hevc10.mp4", f"{BT709_CARD},format=yuv420p10le", "-c:v", "libx265", "-preset", "ultrafast",
            "-x265-params", "log-level=error", *TAG_709,
        ),
        "levels_full": lavfi(
            d / "full.avi",
            "color=black:size=64x64:rate=25:duration=0.2,drawbox=x=32:y=0:w=32:h=64:color=white:t=fill",
            "-c:v", "mjpeg", "-pix_fmt", "yuvj422p",
        ),
        # An ordinary MPEG-TS: H.264/AAC, 400x170, x264's default GOP (one keyframe in the whole clip).
        "mpegts": _mpegts(d / "ordinary.ts"),
    }  # fmt: skip


def _mpegts(out: Path) -> Path:
    card = "testsrc2=size=400x170:rate=25:duration=3,drawbox=x=0:y=0:w=40:h=170:color=black:t=fill"
    card += ",drawbox=x=360:y=0:w=40:h=170:color=white:t=fill"
    ffmpeg(
        "-f", "lavfi", "-i", card, "-f", "lavfi", "-i", "sine=frequency=440:duration=3",
        "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac", "-f", "mpegts", str(out),
    )  # fmt: skip
    return out


def job(tmp_path: Path, clip: Path) -> tuple[Path, MediaInfo]:
    source = tmp_path / "job" / "source"
    source.parent.mkdir(parents=True, exist_ok=True)
    source.write_bytes(clip.read_bytes())
    return source, probe_source(source, WHITELIST)


def encode(tmp_path: Path, clip: Path, *, info: MediaInfo | None = None) -> Path:
    """The clip cut into its piece and encoded whole, at its own size, as one chunk."""
    source, probed = job(tmp_path, clip)
    info = info or probed
    assert info.video is not None
    (rendition, *_) = plan_ladder(info, segment_seconds=0.4)
    rendition = rendition.model_copy(update={"crf": 12})  # the picture as converted, not the encoder's losses
    rate = Fraction(info.video.frame_rate or 25).limit_denominator(1001)
    piece = source.with_name("piece.mkv")
    run(fa.video_piece_argv(source, info, POLICY, piece, seek=0, end=None), cwd=source.parent, timeout=30)
    return chunk(piece, info, rendition, rate, source.with_name("out.mp4"))


def chunk(piece: Path, info: MediaInfo, rendition: Rendition, rate: Fraction, out: Path) -> Path:
    argv = fa.chunk_argv(
        piece, info, POLICY, [rendition], [out], rate=rate, segment_frames=round(rate * Fraction(2, 5)),
        start=info.start_time, frames=None,
    )  # fmt: skip
    run(argv, cwd=piece.parent, timeout=60)
    return out


def video_stream(path: Path) -> dict[str, Any]:
    found: dict[str, Any] = ffprobe_json(path, "-show_streams", "-select_streams", "v:0")["streams"][0]
    return found


def stats(path: Path, *, filters: str = "") -> dict[str, float]:
    """signalstats averaged over the frames: YAVG, YLOW/YHIGH (10th/90th percentile), SATAVG."""
    chain = f"{filters}," if filters else ""
    result = subprocess.run(
        ["timeout", "-s", "KILL", "60", str(LAYER_BIN / "ffmpeg"), "-v", "error", "-i", str(path), "-vf",
         f"{chain}signalstats,metadata=print:file=-", "-f", "null", "-"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    found: dict[str, list[float]] = {}
    for key, value in re.findall(r"lavfi\.signalstats\.(\w+)=(\S+)", result.stdout):
        found.setdefault(key, []).append(float(value))
    return {key: sum(v) / len(v) for key, v in found.items()}


def rgb_psnr(encoded: Path, reference: str | Path, *, ref_filters: str = "null", enc_filters: str = "null") -> float:
    """PSNR in RGB, each side decoded by its own tags (the untagged as BT.601): the colours a player shows."""
    ref = ["-f", "lavfi", "-i", reference] if isinstance(reference, str) else ["-i", str(reference)]
    graph = (
        f"[0:v]{enc_filters},setpts=PTS-STARTPTS,format=gbrp[e];[1:v]{ref_filters},setpts=PTS-STARTPTS,"
        "format=gbrp[r];[e][r]psnr=shortest=1"
    )
    result = subprocess.run(
        ["timeout", "-s", "KILL", "60", str(LAYER_BIN / "ffmpeg"), "-hide_banner", "-i", str(encoded), *ref,
         "-lavfi", graph, "-f", "null", "-"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    (average,) = re.findall(r"PSNR r:\S+ g:\S+ b:\S+ average:(\S+)", result.stderr)
    return float(average)


def vui(path: Path) -> dict[str, int]:
    """The colour fields of the H.264 SPS VUI, as the bitstream has them."""
    result = subprocess.run(
        ["timeout", "-s", "KILL", "60", str(LAYER_BIN / "ffmpeg"), "-hide_banner", "-i", str(path), "-c", "copy",
         "-bsf:v", "trace_headers", "-frames:v", "1", "-f", "null", "-"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    names = "video_full_range_flag|colour_primaries|transfer_characteristics|matrix_coefficients"
    return {k: int(v) for k, v in re.findall(rf"\d+\s+({names})\s+\S+ = (\d+)", result.stderr)}


BT709_VUI = {"video_full_range_flag": 0, "colour_primaries": 1, "transfer_characteristics": 1, "matrix_coefficients": 1}


@real
@pytest.mark.parametrize(
    ("clip", "size", "field_rate"), [("mpeg2_tff", "720x576", "50"), ("h264_bff", "720x480", "60000/1001")]
)
def test_interlaced_sources_come_out_progressive_with_their_own_parity(
    tmp_path: Path, sources: dict[str, Path], clip: str, size: str, field_rate: str
) -> None:
    _, info = job(tmp_path, sources[clip])
    assert info.video is not None
    assert info.video.interlaced
    out = encode(tmp_path / "right", sources[clip])
    stream = video_stream(out)
    assert stream.get("field_order", "progressive") == "progressive"
    idet = subprocess.run(
        [str(LAYER_BIN / "ffmpeg"), "-hide_banner", "-i", str(out), "-vf", "idet", "-f", "null", "-"],
        capture_output=True,
        text=True,
        check=True,
    ).stderr
    tff, bff, progressive = (
        int(n) for n in re.findall(r"Multi frame detection: TFF:\s*(\d+) BFF:\s*(\d+) Progressive:\s*(\d+)", idet)[0]
    )
    assert progressive > tff + bff  # idet's first frames have no history: the source scores 0 progressive
    # Each frame is the first field's instant, whole: against the progressive card at the field rate (every
    # other picture). The wrong parity weaves the fields in the wrong order, and scores far lower.
    scaled = f"{stream['width']}:{stream['height']}"
    reference = f"testsrc2=size={size}:rate={field_rate}:duration=0.4,select='not(mod(n\\,2))',scale={scaled}"
    flipped = info.video.model_copy(update={"field_order": "bb" if info.video.top_field_first else "tt"})
    wrong = encode(tmp_path / "wrong", sources[clip], info=info.model_copy(update={"video": flipped}))
    right_db, wrong_db = rgb_psnr(out, reference), rgb_psnr(wrong, reference)
    assert right_db > 30
    assert right_db > wrong_db + 5
    assert vui(out) == BT709_VUI


@real
@pytest.mark.parametrize("clip", ["pq", "hlg"])
def test_hdr_is_tone_mapped_to_sdr_that_looks_like_the_sdr_grade(
    tmp_path: Path, sources: dict[str, Path], clip: str
) -> None:
    _, info = job(tmp_path, sources[clip])
    assert info.video is not None
    assert info.video.hdr == ("pq" if clip == "pq" else "hlg")
    out = encode(tmp_path, sources[clip])
    stream = video_stream(out)
    assert (stream["pix_fmt"], stream["profile"]) == ("yuv420p", "High")
    assert (stream["color_primaries"], stream["color_transfer"], stream["color_space"]) == ("bt709",) * 3
    assert stream["color_range"] == "tv"
    assert vui(out) == BT709_VUI
    sdr, mapped = stats(sources["sdr"]), stats(out)
    washed_out = stats(sources[clip], filters="format=yuv420p")  # the HDR signal shown as if it were SDR
    contrast = {name: s["YHIGH"] - s["YLOW"] for name, s in (("sdr", sdr), ("mapped", mapped), ("raw", washed_out))}
    # As bright as the SDR grade within 10 %, as contrasty within 15 %, nearly as colourful; the signal
    # shown untouched is flat (a third less contrast).
    assert mapped["YAVG"] == pytest.approx(sdr["YAVG"], rel=0.10)
    assert contrast["mapped"] == pytest.approx(contrast["sdr"], rel=0.15)
    assert mapped["SATAVG"] > 0.8 * sdr["SATAVG"]
    assert contrast["raw"] < 0.75 * contrast["sdr"]


@real
def test_bt601_is_converted_so_players_show_the_same_colours(tmp_path: Path, sources: dict[str, Path]) -> None:
    out = encode(tmp_path, sources["sd601"])
    assert video_stream(out)["color_space"] == "bt709"
    assert vui(out) == BT709_VUI
    # Shown by its tag, the output has the untagged source's colours (BT.601, as players show it) ...
    assert rgb_psnr(out, sources["sd601"]) > 35
    # ... which the source's own pixels, merely tagged BT.709, would not.
    as_709 = "setparams=colorspace=bt709:color_primaries=bt709:color_trc=bt709"
    assert rgb_psnr(sources["sd601"], sources["sd601"], enc_filters=as_709) < 30


@real
def test_10bit_sdr_becomes_8bit_high_profile(tmp_path: Path, sources: dict[str, Path]) -> None:
    out = encode(tmp_path, sources["hevc10"])
    stream = video_stream(out)
    assert (stream["pix_fmt"], stream["profile"], stream["color_space"]) == ("yuv420p", "High", "bt709")
    assert rgb_psnr(out, sources["hevc10"]) > 35


@real
def test_full_range_becomes_limited_range(tmp_path: Path, sources: dict[str, Path]) -> None:
    assert stats(sources["levels_full"], filters="format=yuvj420p")["YMIN"] == 0
    out = encode(tmp_path, sources["levels_full"])
    levels = stats(out)
    assert (levels["YMIN"], levels["YMAX"]) == pytest.approx((16, 235), abs=2)  # black and white, not crushed
    assert vui(out) == BT709_VUI


@real
def test_an_ordinary_mpegts_gets_all_its_stills_as_jfif(tmp_path: Path, sources: dict[str, Path]) -> None:
    # Before: its one keyframe is at the start, the demuxer's seek lands past it, and nothing decodes: exit 0,
    # no poster, no thumbnail, the job failed uploading them.
    source, info = job(tmp_path, sources["mpegts"])
    assert info.demuxer == "mpegts"
    out = tmp_path / "stills"
    out.mkdir()
    times = thumbnail_times(info.duration, 3)
    plan = plan_sprite(info, interval=1.0, columns=3, rows=1, tile_width=160)
    run(fa.poster_argv(source, info, POLICY, out / "poster.jpg", at=1.5), cwd=source.parent, timeout=30)
    run(fa.thumbnails_argv(source, info, POLICY, out, times), cwd=source.parent, timeout=30)
    run(fa.sprite_argv(source, info, POLICY, plan, out, keyframes_only=False), cwd=source.parent, timeout=30)
    names = sorted(p.name for p in out.iterdir())
    assert names == ["poster.jpg", "sprite_000.jpg", "thumb_00000.jpg", "thumb_00001.jpg", "thumb_00002.jpg"]
    for name in names:
        still = video_stream(out / name)
        assert (still["codec_name"], still["pix_fmt"], still["color_range"]) == ("mjpeg", "yuvj420p", "pc")
        if name != "sprite_000.jpg":
            assert (still["width"], still["height"]) == (400, 170)
            # Full range: the black and white bars are 0 and 255 (a limited-range JPEG shows them grey).
            levels = stats(out / name)
            assert levels["YMIN"] <= 2
            assert levels["YMAX"] >= 250
    # The frame asked for, in the colours a player shows the source in.
    # (Give or take a frame: ffmpeg's timeline starts where the first stream does, here the audio's priming.)
    scores = [
        rgb_psnr(out / "poster.jpg", source, ref_filters=f"trim=start={t},trim=end_frame=1") for t in (1.46, 1.5, 1.54)
    ]
    assert max(scores) > 30


@real
def test_stills_of_hdr_are_tone_mapped_too(tmp_path: Path, sources: dict[str, Path]) -> None:
    source, info = job(tmp_path, sources["pq"])
    poster = tmp_path / "poster.jpg"
    run(fa.poster_argv(source, info, POLICY, poster, at=0.0), cwd=source.parent, timeout=30)
    sdr = tmp_path / "sdr.jpg"
    sdr_source, sdr_info = job(tmp_path / "sdr", sources["sdr"])
    run(fa.poster_argv(sdr_source, sdr_info, POLICY, sdr, at=0.0), cwd=sdr_source.parent, timeout=30)
    assert stats(poster)["YAVG"] == pytest.approx(stats(sdr)["YAVG"], rel=0.10)


@real
def test_an_odd_sized_sd_picture_is_converted_too(tmp_path: Path) -> None:
    """colorspace and zscale refuse odd 4:2:0 sizes ("Invalid odd size (720x405)", a real Kivy example video):
    swscale converts the matrix instead."""
    assert colour_filters(stream(width=720, height=405, color_space=None))[0].startswith("scale=in_color_matrix=bt601")
    clip = lavfi(tmp_path / "odd.mpg", "testsrc2=size=720x405:rate=25:duration=0.4", "-c:v", "mpeg2video", "-f", "mpeg")
    out = video_stream(encode(tmp_path, clip))
    assert (out["height"], out["color_space"], out["color_range"]) == (360, "bt709", "tv")
