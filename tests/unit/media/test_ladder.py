"""plan_ladder: rung selection, orientation, even sizes, bitrate caps, GOP."""

from __future__ import annotations

import re
import subprocess
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest

from lambdas.media import ffmpeg_args as fa
from lambdas.media.chunking import output_rate
from lambdas.media.errors import NoVideoStream, PolicyViolation
from lambdas.media.fmp4 import read_track
from lambdas.media.ladder import DEFAULT_LADDER, STANDARD_FRAME_RATES, LadderConfig, Rendition, plan_ladder
from lambdas.media.policy import ValidationPolicy
from lambdas.media.probe import MediaInfo, probe_source
from lambdas.media.runner import run
from tests.media_tools import ffprobe_json
from tests.unit.media.conftest import LAYER_BIN, load_info

POLICY = ValidationPolicy()
X264 = ("-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-colorspace", "bt709")
needs_ffmpeg = pytest.mark.skipif(not (LAYER_BIN / "ffmpeg").is_file(), reason="ffmpeg layer not built")


def run_ffmpeg(*args: str) -> None:
    subprocess.run([str(LAYER_BIN / "ffmpeg"), "-hide_banner", "-v", "error", "-y", *args], check=True)


def job_source(tmp_path: Path, clip: Path) -> Path:
    source = tmp_path / "job" / "source"
    source.parent.mkdir(exist_ok=True)
    source.write_bytes(clip.read_bytes())
    return source


def encode_whole(
    clip: Path, tmp_path: Path, rate: Fraction | None = None
) -> tuple[list[dict[str, Any]], Fraction, Path]:
    """The clip planned (rate: the ladder's unless given) and encoded as one chunk from its piece: its
    frames' durations as the fragmented MP4 stores them, the rate, the output."""
    source = job_source(tmp_path, clip)
    info = probe_source(source, POLICY.format_whitelist)
    (planned, *_) = plan_ladder(info, segment_seconds=0.5)
    rendition = planned.model_copy(update={"crf": 1})  # near lossless: each frame's level as it was
    rate = rate or output_rate(rendition.frame_rate)
    piece = source.with_name("piece.mkv")
    run(fa.video_piece_argv(source, info, POLICY, piece, seek=0, end=None), cwd=source.parent, timeout=30)
    out = source.with_name("out.mp4")
    segment = round(rate / 2)
    argv = fa.chunk_argv(
        piece, info, POLICY, [rendition], [out], rate=rate, segment_frames=segment, start=info.start_time, frames=None
    )
    run(argv, cwd=source.parent, timeout=60)
    assert read_track(out).timescale == 90000
    packets = ffprobe_json(out, "-show_packets", "-select_streams", "v:0")["packets"]
    return [{"duration": int(p["duration"])} for p in packets], rate, out


def numbered(out: Path, rate: int, seconds: float, then: tuple[int, float] | None = None) -> Path:
    """Flat grey frames whose level is their number (16 + 2n, up to 100 frames), so every frame can be told
    apart; `then`: a second rate for a second stretch, in the same stream (a variable frame rate)."""
    fast = 240 if then is None else 120
    keep = f"not(mod(n,{fast // rate}))"
    if then is not None:
        keep = f"if(lt(t,{seconds}),{keep},not(mod(n,{fast // then[0]})))"
        seconds += then[1]
    card = f"color=black:size=64x64:rate={fast}:duration={seconds},select='{keep}',geq=lum='16+2*N':cb=128:cr=128"
    run_ffmpeg("-f", "lavfi", "-i", card, "-fps_mode", "vfr", *X264, "-qp", "0", str(out))
    return out


def levels(path: Path, resample: str | None = None) -> list[int]:
    """Each frame's mean luma, in order (`resample`: filters applied first)."""
    chain = f"{resample}," if resample else ""
    result = subprocess.run(
        [str(LAYER_BIN / "ffmpeg"), "-v", "error", "-i", str(path), "-vf",
         f"{chain}signalstats,metadata=print:key=lavfi.signalstats.YAVG:file=-", "-f", "null", "-"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return [round(float(v)) for v in re.findall(r"YAVG=(\S+)", result.stdout)]


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


@pytest.mark.parametrize(
    ("fps", "out"),
    [
        (120.0, 60.0),  # every 2nd frame
        (119.88, 59.94),
        (240.0, 60.0),  # every 4th
        (239.76, 59.94),
        (100.0, 50.0),
        (150.0, 50.0),  # every 3rd
        (180.0, 60.0),
        (72.0, 60.0),  # 72 / 2 = 36 is no standard rate: the cap, frames picked by time
        (90.0, 60.0),
        (187.0, 60.0),  # not 187 / 4 = 46.75
        (300.0, 60.0),
    ],
)
def test_high_frame_rates_come_down_to_a_standard_rate_at_most_the_cap(fps: float, out: float) -> None:
    fast = plan_ladder(source(1280, 720, fps=fps), segment_seconds=4)[0]
    assert (fast.frame_rate, fast.fps_filter, fast.gop_frames) == (out, out, round(out * 4))
    assert output_rate(fast.frame_rate) in STANDARD_FRAME_RATES


@pytest.mark.parametrize("fps", [60.0, 59.94, 50.0, 48.0, 30.0, 29.97, 25.0, 24.0, 23.976, 15.0, 45.0])
def test_rates_up_to_the_cap_are_kept(fps: float) -> None:
    kept = plan_ladder(source(1280, 720, fps=fps))[0]
    assert (kept.frame_rate, kept.fps_filter) == (fps, None)


def test_a_lower_cap_divides_too() -> None:
    config = LadderConfig(max_frame_rate=30)
    assert [plan_ladder(source(1280, 720, fps=fps), config=config)[0].frame_rate for fps in (60, 59.94, 50, 120)] == [
        30.0,
        29.97,
        25.0,
        30.0,
    ]


def test_recorded_high_frame_rate_sources() -> None:
    assert plan_ladder(load_info("mp4_h264_240fps"))[0].frame_rate == 60.0
    assert plan_ladder(load_info("avi_vp9_187fps"))[0].frame_rate == 60.0


# --- the rate through a real chunk encode ---


@needs_ffmpeg
@pytest.mark.usefixtures("layer_path")
def test_a_240_fps_source_becomes_60_fps_cfr_every_fourth_frame(tmp_path: Path) -> None:
    clip = numbered(tmp_path / "fast.mp4", 240, 0.25)
    frames, rate, out = encode_whole(clip, tmp_path)
    assert rate == 60
    assert frames == [{"duration": 1500}] * 15  # 0.25 s as 15 frames of 1/60 s (90 kHz ticks): constant
    assert levels(clip)[:4] == [16, 18, 20, 22]
    # Every fourth frame, evenly: frame n is the source's 4n + 2, the last one in its slot's window (from 0.4
    # of a slot before its instant to 0.6 after: ffmpeg_args.SLOT_PHASE), never a neighbour of it.
    assert levels(out) == [16 + 2 * (4 * n + 2) for n in range(15)]


@needs_ffmpeg
@pytest.mark.usefixtures("layer_path")
def test_a_variable_frame_rate_source_becomes_cfr_on_the_grid(tmp_path: Path) -> None:
    # A phone's variable rate: 0.5 s at 30 fps, then 0.5 s at 24 fps, in one stream, timestamps as recorded.
    clip = numbered(tmp_path / "vfr.mp4", 30, 0.5, then=(24, 0.5))
    info = probe_source(job_source(tmp_path, clip), POLICY.format_whitelist)
    assert info.video is not None
    assert info.video.variable_frame_rate
    durations = [p["duration"] for p in ffprobe_json(clip, "-show_packets", "-select_streams", "v:0")["packets"]]
    assert len(durations) == 27  # 15 + 12 frames, 1/30 s apart, then 1/24 s
    assert len(set(durations)) > 1
    frames, _, out = encode_whole(clip, tmp_path, rate=Fraction(30))
    assert frames == [{"duration": 3000}] * 30  # 1 s on the 30 fps grid: 30 frames of 1/30 s, constant
    # Slot n: the last source frame up to 0.6 of a slot after its instant (ffmpeg_args.SLOT_PHASE): the
    # first 15 as they were, then the 24 fps ones, each once or, every fourth, twice.
    shown = [*(k / 30 for k in range(15)), *(0.5 + j / 24 for j in range(12))]
    expected = [max(k for k, t in enumerate(shown) if t <= (n + 0.6) / 30) for n in range(30)]
    assert expected[:15] == list(range(15))
    assert sorted(set(expected)) == list(range(27))
    assert levels(out) == [16 + 2 * k for k in expected]


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


@pytest.mark.parametrize(("average", "out"), [(27.574, 30.0), (24.0, 24.0), (12.2, 24.0), (29.97, 30.0), (55.0, 60.0)])
def test_a_variable_frame_rate_source_gets_a_standard_constant_rate(average: float, out: float) -> None:
    from lambdas.media.ladder import DEFAULT_LADDER, _frame_rate

    assert _frame_rate(average, DEFAULT_LADDER, variable=True) == (out, None)
    assert _frame_rate(average, DEFAULT_LADDER)[0] == average  # a constant rate is kept as it is
