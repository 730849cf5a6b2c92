"""Box rungs: a picture fitted (pad) or cropped into a fixed frame, for every source shape, and what ffmpeg makes."""

from __future__ import annotations

import re
import subprocess
from fractions import Fraction
from pathlib import Path

import pytest

from lambdas.media.geometry import BoxFit, Rect, box_fit, displayed_size, fit_filters, upright_size
from lambdas.media.probe import VideoStream
from tests.unit.media.conftest import LAYER_BIN

needs_ffmpeg = pytest.mark.skipif(not (LAYER_BIN / "ffmpeg").is_file(), reason="ffmpeg layer not built")


def video(width: int, height: int, *, sar: str | None = None, rotation: int = 0) -> VideoStream:
    return VideoStream(index=0, codec="h264", width=width, height=height, sample_aspect=sar, rotation=rotation)


def test_landscape_into_a_vertical_frame_padded_is_letterboxed_and_centred() -> None:
    fit = box_fit(video(1920, 1080), 1080, 1920, "pad")
    assert fit.picture == Rect(width=1080, height=608, x=0, y=656)
    assert fit.crop is None
    assert fit.upscale == pytest.approx(608 / 1080)


def test_landscape_into_a_vertical_frame_cropped_keeps_the_centre_at_full_height() -> None:
    fit = box_fit(video(1920, 1080), 1080, 1920, "crop")
    # 9:16 of a 1080-line picture is 607.5 wide: 606 (even, never wider than the source's share), centred.
    assert fit.crop == Rect(width=606, height=1080, x=656, y=0)
    assert fit.upscale == pytest.approx(1920 / 1080)  # a 1080p landscape has only 1080 lines for 1920


def test_portrait_into_a_square_frame() -> None:
    padded = box_fit(video(1080, 1920), 1080, 1080, "pad")
    assert padded.picture == Rect(width=608, height=1080, x=236, y=0)
    cropped = box_fit(video(1080, 1920), 1080, 1080, "crop")
    assert cropped.crop == Rect(width=1080, height=1080, x=0, y=420)
    assert cropped.upscale == pytest.approx(1.0)


def test_the_same_shape_fills_the_frame_either_way() -> None:
    for fit in ("pad", "crop"):
        geometry = box_fit(video(720, 1280), 720, 1280, fit)
        assert geometry.upscale == pytest.approx(1.0)
    assert box_fit(video(720, 1280), 720, 1280, "pad").picture == Rect(width=720, height=1280)
    assert box_fit(video(720, 1280), 720, 1280, "crop").crop == Rect(width=720, height=1280)


def test_odd_sizes_give_even_sizes_and_offsets() -> None:
    for width, height in [(321, 241), (1001, 563), (99, 177), (640, 361)]:
        for box in [(1080, 1920), (720, 720), (1280, 720)]:
            for fit in ("pad", "crop"):
                geometry = box_fit(video(width, height), *box, fit)
                rect = geometry.picture or geometry.crop
                assert rect is not None
                assert all(v % 2 == 0 for v in (rect.width, rect.height, rect.x, rect.y)), (width, height, box, fit)
                if geometry.picture is not None:  # inside the frame
                    assert rect.x + rect.width <= box[0]
                    assert rect.y + rect.height <= box[1]
                else:  # inside the source
                    assert rect.x + rect.width <= width
                    assert rect.y + rect.height <= height


def test_anamorphic_pixels_are_fitted_as_shown() -> None:
    dvd = video(720, 480, sar="32:27")  # 16:9 DVD: shown 853.3 x 480
    assert displayed_size(dvd) == (Fraction(2560, 3), Fraction(480))
    padded = box_fit(dvd, 720, 720, "pad")
    assert padded.picture == Rect(width=720, height=406, x=0, y=156)  # 720 / (16/9) = 405: a 16:9 picture
    cropped = box_fit(dvd, 720, 720, "crop")
    # A square of the shown picture is 480 shown pixels wide: 480 / (32/27) = 405 stored ones -> 404.
    assert cropped.crop == Rect(width=404, height=480, x=158, y=0)
    assert cropped.upscale == pytest.approx(720 / 480)


def test_rotation_is_applied_before_fitting() -> None:
    phone = video(1920, 1080, rotation=90)  # stored landscape, shown portrait
    assert upright_size(phone) == (1080, 1920)
    assert box_fit(phone, 1080, 1920, "crop").crop == Rect(width=1080, height=1920)
    assert box_fit(phone, 1080, 1080, "crop").crop == Rect(width=1080, height=1080, x=0, y=420)


def test_filters() -> None:
    assert fit_filters(None, 1280, 720) == ["scale=1280:720", "setsar=1"]
    pad = BoxFit(width=1080, height=1920, fit="pad", picture=Rect(width=1080, height=608, x=0, y=656), upscale=1)
    assert fit_filters(pad, 1080, 1920) == ["scale=1080:608", "setsar=1", "pad=1080:1920:0:656:black"]
    crop = BoxFit(width=1080, height=1080, fit="crop", crop=Rect(width=606, height=1080, x=656), upscale=1)
    assert fit_filters(crop, 1080, 1080, flags="bicubic") == [
        "crop=606:1080:656:0",
        "scale=1080:1080:flags=bicubic",
        "setsar=1",
    ]


def _rows_luma(path: Path, rows: str) -> float:
    """Mean luma of a band of the frame (`rows`: a crop filter's w:h:x:y)."""
    result = subprocess.run(
        [str(LAYER_BIN / "ffmpeg"), "-v", "error", "-i", str(path), "-vf",
         f"crop={rows},signalstats,metadata=print:key=lavfi.signalstats.YAVG:file=-", "-f", "null", "-"],
        capture_output=True, text=True, check=True, env={"GCONV_PATH": "/nonexistent"},
    )  # fmt: skip
    return float(re.findall(r"YAVG=(\S+)", result.stdout)[0])


def _render(tmp_path: Path, stream: VideoStream, geometry: BoxFit, name: str) -> Path:
    """A white picture with a black band over its left sixth (stored `stream.width` x `stream.height`, its
    pixel aspect set), through the fit's filters, as one PNG."""
    band = stream.width // 6
    card = (
        f"color=white:size={stream.width}x{stream.height}:duration=0.04,format=yuv420p,"
        f"drawbox=x=0:y=0:w={band}:h=ih:color=black:t=fill,setsar={(stream.sample_aspect or '1:1').replace(':', '/')}"
    )
    out = tmp_path / f"{name}.png"
    chain = ",".join(fit_filters(geometry, geometry.width, geometry.height))
    subprocess.run(
        [str(LAYER_BIN / "ffmpeg"), "-v", "error", "-y", "-f", "lavfi", "-i", card, "-vf", chain,
         "-frames:v", "1", str(out)],
        check=True, env={"GCONV_PATH": "/nonexistent"},
    )  # fmt: skip
    return out


@needs_ffmpeg
@pytest.mark.parametrize("sar", [None, "4:3"])
def test_ffmpeg_pads_with_black_bars_and_crops_the_sides_away(tmp_path: Path, sar: str | None) -> None:
    # 320x180 square pixels, or 240x180 stored at 4:3 pixels: both shown as 320x180 (16:9).
    stream = video(320, 180) if sar is None else video(240, 180, sar=sar)
    padded = box_fit(stream, 180, 320, "pad")
    assert padded.picture == Rect(width=180, height=102, x=0, y=108)
    out = _render(tmp_path, stream, padded, "pad")
    probe = subprocess.run(
        [str(LAYER_BIN / "ffprobe"), "-v", "error", "-show_entries", "stream=width,height,sample_aspect_ratio",
         "-of", "csv=p=0", str(out)],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    assert probe.startswith("180,320")
    assert _rows_luma(out, "180:100:0:0") < 20  # the bar above: black
    assert _rows_luma(out, "180:100:0:220") < 20  # and below
    assert _rows_luma(out, "120:90:60:114") > 230  # the picture, right of the source's black band: white
    assert _rows_luma(out, "20:90:0:114") < 40  # the band itself is kept (pad loses nothing)

    cropped = box_fit(stream, 180, 180, "crop")
    out = _render(tmp_path, stream, cropped, "crop")
    assert _rows_luma(out, "180:180:0:0") > 230  # the black band on the left sixth was cut away
