"""The command lines run by the layer's real ffmpeg/ffprobe on tiny generated clips: pieces, chunks, audio, stills."""

from __future__ import annotations

import array
import os
import re
import struct
import subprocess
import threading
from collections.abc import Callable, Iterator
from fractions import Fraction
from pathlib import Path

import pytest

from lambdas.media import ffmpeg_args as fa
from lambdas.media.errors import MediaError, SourceUnreadable, UnsupportedInput
from lambdas.media.fmp4 import init_bytes, read_track, write_segment
from lambdas.media.ladder import Rendition, plan_ladder
from lambdas.media.manifests import avc1_codec
from lambdas.media.policy import ValidationPolicy, validate
from lambdas.media.probe import MediaInfo, probe_source
from lambdas.media.runner import run
from lambdas.media.storyboard import plan_sprite, thumbnail_times
from tests.media_tools import ffprobe_json
from tests.unit.media.conftest import LAYER_BIN, make_clip

pytestmark = [
    pytest.mark.skipif(not (LAYER_BIN / "ffmpeg").is_file(), reason="ffmpeg layer not built"),
    pytest.mark.usefixtures("layer_path"),
]
POLICY = ValidationPolicy()
WHITELIST = POLICY.format_whitelist
RATE = Fraction(30)
SEGMENT = 15  # frames: half-second segments, so a few seconds of clip make several
TICKS = 3000  # one frame at 30 fps in the 90 kHz track timescale


def ffmpeg(*args: str) -> None:
    subprocess.run([str(LAYER_BIN / "ffmpeg"), "-hide_banner", "-v", "error", "-y", *args], check=True)


def cover_art_first(video: Path, out: Path) -> Path:
    """`video` with a cover picture stored before its track (udta ahead of trak in the moov): valid MP4,
    and the demuxer then lists the picture as stream 0."""
    picture = out.with_suffix(".jpg")
    ffmpeg("-f", "lavfi", "-i", "color=red:size=64x64", "-frames:v", "1", str(picture))
    covered = out.with_name("covered.mp4")
    options = ["-map", "0", "-map", "1", "-c", "copy", "-disposition:v:1", "attached_pic"]
    ffmpeg("-i", str(video), "-i", str(picture), *options, str(covered))
    data = covered.read_bytes()

    def boxes(start: int, end: int) -> Iterator[tuple[bytes, int, int]]:
        while start < end:
            size, kind = struct.unpack_from(">I4s", data, start)
            yield kind, start, size
            start += size

    ((_, moov, size),) = [b for b in boxes(0, len(data)) if b[0] == b"moov"]
    children = [(kind, data[at : at + n]) for kind, at, n in boxes(moov + 8, moov + size)]
    assert [k for k, _ in children] == [b"mvhd", b"trak", b"trak", b"udta"]  # moov is last: no offset moves
    first = [box for kind, box in children if kind in (b"mvhd", b"udta")]
    out.write_bytes(data[: moov + 8] + b"".join(first + [box for kind, box in children if kind == b"trak"]))
    return out


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("clips")
    landscape = make_clip(d / "landscape.mp4", "-g", "15", seconds=3)
    rotated = d / "rotated.mp4"
    ffmpeg("-display_rotation", "90", "-i", str(landscape), "-c", "copy", str(rotated))
    # Sources that do not start at zero, with B-frames (pts != dts): MPEG-TS as broadcast and cameras write
    # it (its clock starts at 1.4 s, here 11.4 s), and an MP4 whose tracks begin 5 s in.
    bframes = ("-bf", "2", "-g", "15")
    mpegts = make_clip(d / "offset.ts", *bframes, "-output_ts_offset", "10", "-f", "mpegts", seconds=4)
    offset_mp4 = make_clip(d / "offset.mp4", *bframes, "-output_ts_offset", "5", seconds=4)
    with_bframes = make_clip(d / "bframes.mp4", *bframes, seconds=3)
    # A white flash and a click at exactly 1 s: what stays in sync.
    sync = d / "sync.mp4"
    flash = "color=black:size=160x120:rate=30:duration=3,geq=lum='if(between(T,1,1.02),235,16)':cb=128:cr=128"
    ffmpeg(
        "-f", "lavfi", "-i", flash,
        "-f", "lavfi", "-i", "aevalsrc='if(between(t,1,1.002),0.9,0)':s=48000:d=3",
        "-c:v", "libx264", "-preset", "ultrafast", *bframes, "-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "192k",
        str(sync),
    )  # fmt: skip
    cover = cover_art_first(landscape, d / "cover_first.mp4")
    return {
        "landscape": landscape,
        "rotated": rotated,
        "mpegts": mpegts,
        "offset_mp4": offset_mp4,
        "bframes": with_bframes,
        "sync": sync,
        "cover_first": cover,
    }


def job_with(tmp_path: Path, content: bytes | Path, name: str = "job") -> Path:
    """A job dir holding the upload under the fixed name the pipeline uses: no user extension."""
    job = tmp_path / name
    job.mkdir()
    source = job / "source"
    source.write_bytes(content.read_bytes() if isinstance(content, Path) else content)
    return source


def packets(path: Path, stream: str = "v:0") -> list[dict[str, str]]:
    found: list[dict[str, str]] = ffprobe_json(path, "-show_packets", "-select_streams", stream)["packets"]
    return found


def cut(source: Path, info: MediaInfo, *, seek: float = 0.0, end: float | None = None) -> Path:
    piece = source.parent / f"piece_{seek:g}.mkv"
    run(fa.video_piece_argv(source, info, POLICY, piece, seek=seek, end=end), cwd=source.parent, timeout=30)
    return piece


def rungs(info: MediaInfo) -> list[Rendition]:
    """The clip's own size and a smaller one, half-second GOPs."""
    (full,) = plan_ladder(info, segment_seconds=0.5)
    half = full.model_copy(update={"name": "half", "width": full.width // 2, "height": full.height // 2})
    return [full, half]


def encode_chunk(
    piece: Path, info: MediaInfo, renditions: list[Rendition], *, start: float, frames: int | None
) -> list[Path]:
    outs = [piece.parent / f"{piece.stem}_{r.name}.mp4" for r in renditions]
    argv = fa.chunk_argv(
        piece, info, POLICY, renditions, outs, rate=RATE, segment_frames=SEGMENT, start=start, frames=frames
    )
    seen: list[object] = []
    run(argv, cwd=piece.parent, timeout=60, on_progress=seen.append, duration=1.0)
    assert seen, "no progress reported"
    return outs


def encode_audio(source: Path, info: MediaInfo) -> Path:
    piece = source.parent / "audio.mka"
    run(fa.audio_piece_argv(source, info, POLICY, piece), cwd=source.parent, timeout=30)
    out = source.parent / "audio.mp4"
    (rendition, *_) = plan_ladder(info, segment_seconds=0.5)
    argv = fa.audio_argv(
        piece, info, POLICY, rendition, out, start=info.start_time, duration=info.duration or 0, fragment_s=0.5
    )
    run(argv, cwd=source.parent, timeout=60)
    return out


def aligned(audio: Path) -> Path:
    """The audio track moved as EncodeChunk moves it (`audio_alignment`): init, then every fragment shifted."""
    track = read_track(audio)
    out = audio.with_name("aligned.mp4")
    part = audio.with_name("fragment.part")
    shift = fa.audio_alignment(RATE, track.timescale)
    with out.open("wb") as sink:
        sink.write(init_bytes(audio, track))
        for number, fragment in enumerate(track.fragments):
            write_segment(audio, fragment, part, shift=shift, sequence=number + 1)
            sink.write(part.read_bytes())
    return out


def psnr(encoded: Path, source: Path, *, from_s: float, frames: int) -> float:
    """Average PSNR of `encoded` against the source's frames from `from_s` (in ffmpeg's timeline: zero at the
    source's start), at the encoded size, in RGB as a player shows each (by its own matrix: the untagged
    source as BT.601, the BT.709 output as BT.709): about 34 dB when they are the same frames, under 20 one
    frame off."""
    stream = ffprobe_json(encoded, "-show_streams", "-select_streams", "v:0")["streams"][0]
    size = f"{stream['width']}:{stream['height']}"
    graph = (
        f"[1:v]trim=start={from_s - 1 / 60:.6f},setpts=PTS-STARTPTS,fps=30,trim=end_frame={frames},"
        f"scale={size},setsar=1,format=gbrp[ref];"
        f"[0:v]trim=end_frame={frames},setpts=PTS-STARTPTS,setsar=1,format=gbrp[enc];[enc][ref]psnr"
    )
    result = subprocess.run(
        [str(LAYER_BIN / "ffmpeg"), "-hide_banner", "-i", str(encoded), "-i", str(source), "-lavfi", graph,
         "-f", "null", "-"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    (average,) = re.findall(r"PSNR r:\S+ g:\S+ b:\S+ average:(\S+)", result.stderr)
    return float(average)


def flash_at(path: Path) -> float:
    """When the first white frame is presented (its pts, as a player would show it)."""
    times = [float(f["pts_time"]) for f in ffprobe_json(path, "-show_frames", "-select_streams", "v:0")["frames"]]
    gray = subprocess.run(
        [str(LAYER_BIN / "ffmpeg"), "-v", "error", "-i", str(path), "-map", "0:v:0", "-fps_mode", "passthrough",
         "-vf", "scale=1:1,format=gray", "-f", "rawvideo", "-"],
        capture_output=True, check=True,
    ).stdout  # fmt: skip
    assert len(gray) == len(times)  # one byte a frame, in presentation order
    return next(t for t, level in zip(times, gray, strict=True) if level > 128)


def click_at(path: Path) -> float:
    """When the first loud sample plays: the audio stream's start plus its position in the decoded samples."""
    start = float(ffprobe_json(path, "-show_streams", "-select_streams", "a:0")["streams"][0]["start_time"])
    pcm = subprocess.run(
        [str(LAYER_BIN / "ffmpeg"), "-v", "error", "-i", str(path), "-map", "0:a:0", "-ac", "1", "-ar", "48000",
         "-f", "s16le", "-"],
        capture_output=True, check=True,
    ).stdout  # fmt: skip
    samples = array.array("h", pcm)
    return start + next(i for i, x in enumerate(samples) if abs(x) > 8000) / 48000


# --- probe ---


def test_real_probe_and_validate(tmp_path: Path, clips: dict[str, Path]) -> None:
    info = probe_source(job_with(tmp_path, clips["rotated"]), WHITELIST)
    validate(info, POLICY)
    assert info.demuxer == "mov"
    assert info.video is not None
    assert (info.video.display_width, info.video.display_height) == (240, 320)
    assert info.duration == pytest.approx(3.0, abs=0.1)
    assert info.start_time == 0.0


@pytest.mark.parametrize(("clip", "demuxer", "start"), [("mpegts", "mpegts", 11.38), ("offset_mp4", "mov", 4.98)])
def test_probe_reads_where_a_source_starts(
    tmp_path: Path, clips: dict[str, Path], clip: str, demuxer: str, start: float
) -> None:
    source = job_with(tmp_path, clips[clip])
    info = probe_source(source, WHITELIST)
    assert info.demuxer == demuxer
    assert info.start_time == pytest.approx(start, abs=0.01)
    assert info.start_time == float(ffprobe_json(source, "-show_format")["format"]["start_time"])


# --- pieces: stream copies that keep the source's timestamps ---


@pytest.mark.parametrize("clip", ["mpegts", "offset_mp4"])
def test_video_piece_keeps_the_sources_timestamps(tmp_path: Path, clips: dict[str, Path], clip: str) -> None:
    source = job_with(tmp_path, clips[clip])
    info = probe_source(source, WHITELIST)
    original = packets(source)
    keyframes = {round(float(p["pts_time"]), 3) for p in original if p["flags"].startswith("K")}
    end = info.start_time + 2.5
    piece = cut(source, info, seek=1.0, end=end)
    copied = packets(piece)
    assert copied
    # From a keyframe of the source, within a GOP of where it was asked to start...
    first = copied[0]
    assert first["flags"].startswith("K")
    assert round(float(first["pts_time"]), 3) in keyframes
    assert abs(float(first["pts_time"]) - (info.start_time + 1.0)) <= 0.5
    # ...the source's packets in decode order at their own times (matroska keeps milliseconds), nothing shifted
    # to zero, up to the last one decoded before the absolute end.
    times = [round(float(p["pts_time"]), 3) for p in original]
    begin = times.index(round(float(first["pts_time"]), 3))
    stop = next(i for i, p in enumerate(original) if float(p["dts_time"]) >= end - 0.0005)
    assert [round(float(p["pts_time"]), 3) for p in copied] == times[begin:stop]
    # What ProbeSource reads back to check where the copy really began.
    result = run(fa.first_timestamp_argv(piece), cwd=piece.parent, timeout=30, stage="probe")
    assert min(float(line) for line in result.stdout.split()) == pytest.approx(float(first["pts_time"]), abs=1e-6)


@pytest.mark.parametrize("clip", ["mpegts", "offset_mp4"])
def test_pieces_from_the_start_and_to_the_end(tmp_path: Path, clips: dict[str, Path], clip: str) -> None:
    source = job_with(tmp_path, clips[clip])
    info = probe_source(source, WHITELIST)
    whole = packets(cut(source, info))
    assert len(whole) == len(packets(source)) == 120  # 4 s at 30 fps, every packet
    tail = packets(cut(source, info, seek=2.0))
    assert [p["pts_time"] for p in tail] == [p["pts_time"] for p in whole[-len(tail) :]]  # to the very last packet
    assert len(tail) < len(whole)


@pytest.mark.parametrize("clip", ["mpegts", "offset_mp4"])
def test_audio_piece_keeps_the_sources_timestamps(tmp_path: Path, clips: dict[str, Path], clip: str) -> None:
    source = job_with(tmp_path, clips[clip])
    info = probe_source(source, WHITELIST)
    piece = source.parent / "audio.mka"
    run(fa.audio_piece_argv(source, info, POLICY, piece), cwd=source.parent, timeout=30)
    streams = ffprobe_json(piece, "-show_streams")["streams"]
    assert [s["codec_type"] for s in streams] == ["audio"]
    assert streams[0]["codec_name"] == "flac"  # decoded once, stored losslessly
    original, decoded = packets(source, "a:0"), packets(piece, "a:0")
    # The source's own timeline: the decoded audio starts where the source's first sample plays and lasts as long.
    first = min(float(p["pts_time"]) for p in original)
    assert float(decoded[0]["pts_time"]) == pytest.approx(max(first, info.start_time), abs=0.025)

    def end(ps: list[dict[str, str]]) -> float:
        return max(float(p["pts_time"]) + float(p["duration_time"]) for p in ps)

    assert end(decoded) == pytest.approx(end(original), abs=0.025)


def test_audio_piece_plays_its_samples_when_the_source_does(tmp_path: Path, clips: dict[str, Path]) -> None:
    # The usual upload: AAC in MP4 from zero, its encoder delay (1024 samples) in an edit list.
    source = job_with(tmp_path, clips["sync"])
    info = probe_source(source, WHITELIST)
    assert info.start_time == 0.0
    piece = source.parent / "audio.mka"
    run(fa.audio_piece_argv(source, info, POLICY, piece), cwd=source.parent, timeout=30)
    assert click_at(source) == pytest.approx(1.0, abs=0.001)
    assert click_at(piece) == pytest.approx(click_at(source), abs=0.002)


# --- chunks: decoded once, trimmed exactly, one fragment per segment, a keyframe at each ---


def test_a_chunk_is_one_keyframe_fragment_per_segment_in_every_rendition(
    tmp_path: Path, clips: dict[str, Path]
) -> None:
    source = job_with(tmp_path, clips["mpegts"])
    info = probe_source(source, WHITELIST)
    # Frames 45-74 of the output timeline (1.5 s to 2.5 s after the source's start), from a piece cut a little earlier.
    piece = cut(source, info, seek=1.0, end=info.start_time + 3.5)
    outs = encode_chunk(piece, info, rungs(info), start=info.start_time + 1.5, frames=2 * SEGMENT)
    for out, size in zip(outs, [(320, 240), (160, 120)], strict=True):
        track = read_track(out)
        assert track.timescale == 90000
        assert [(f.decode_time, f.duration, f.sample_count) for f in track.fragments] == [
            (0, SEGMENT * TICKS, SEGMENT),
            (SEGMENT * TICKS, SEGMENT * TICKS, SEGMENT),
        ]
        assert all(f.starts_with_sync for f in track.fragments)
        # Exactly one keyframe per fragment: no scene-cut keyframe between the grid's.
        flags = [p["flags"][0] for p in packets(out)]
        assert flags.count("K") == 2
        assert flags[0] == flags[SEGMENT] == "K"
        stream = ffprobe_json(out, "-show_streams")["streams"][0]
        assert (stream["width"], stream["height"]) == size
    # The very frames of 1.5 s to 2.5 s: one frame early or late would score under 20 dB.
    assert psnr(outs[0], source, from_s=1.5, frames=30) > 30
    assert psnr(outs[0], source, from_s=1.5 + 1 / 30, frames=30) < 25


def test_chunks_join_without_a_frame_lost_or_repeated(tmp_path: Path, clips: dict[str, Path]) -> None:
    source = job_with(tmp_path, clips["bframes"])
    info = probe_source(source, WHITELIST)
    rendition = rungs(info)[:1]
    first = encode_chunk(
        cut(source, info, end=info.start_time + 2.0), info, rendition, start=info.start_time, frames=SEGMENT
    )
    second = encode_chunk(
        cut(source, info, seek=0.4, end=info.start_time + 2.5),
        info,
        rendition,
        start=info.start_time + 0.5,
        frames=2 * SEGMENT,
    )
    assert psnr(first[0], source, from_s=0.0, frames=SEGMENT) > 30
    assert psnr(second[0], source, from_s=0.5, frames=2 * SEGMENT) > 30


def test_the_last_chunk_runs_to_the_end_of_the_source(tmp_path: Path, clips: dict[str, Path]) -> None:
    source = job_with(tmp_path, clips["offset_mp4"])
    info = probe_source(source, WHITELIST)
    assert info.duration is not None
    (out,) = encode_chunk(cut(source, info, seek=2.0), info, rungs(info)[:1], start=info.start_time + 2.0, frames=None)
    track = read_track(out)
    assert all(f.starts_with_sync for f in track.fragments)
    assert [f.decode_time for f in track.fragments] == [k * SEGMENT * TICKS for k in range(len(track.fragments))]
    # Every frame from 2 s to the end of the source's timeline, on the grid.
    assert sum(f.sample_count for f in track.fragments) == round(info.duration * 30) - 60


@pytest.mark.parametrize("degrees", [90, 180, 270])
def test_rotated_source_becomes_upright_without_padding_or_rotation(
    tmp_path: Path, clips: dict[str, Path], degrees: int
) -> None:
    turned = tmp_path / "turned.mp4"
    ffmpeg("-display_rotation", str(degrees), "-i", str(clips["landscape"]), "-c", "copy", str(turned))
    source = job_with(tmp_path, turned)
    info = probe_source(source, WHITELIST)
    assert info.video is not None
    upright = (320, 240) if degrees == 180 else (240, 320)
    (rendition, *_) = rungs(info)
    assert (rendition.width, rendition.height) == upright
    piece = cut(source, info)
    # The matroska piece has lost the display matrix (FFmpeg 6.0); the source still has it. Both are turned
    # by the filters alone, so neither comes out unturned or turned twice.
    assert ffprobe_json(piece, "-show_streams")["streams"][0].get("side_data_list") is None
    (from_piece,) = encode_chunk(piece, info, [rendition], start=0.0, frames=SEGMENT)
    direct = tmp_path / "direct.mp4"
    argv = fa.chunk_argv(
        source, info, POLICY, [rendition], [direct], rate=RATE, segment_frames=SEGMENT, start=0.0, frames=SEGMENT,
        demuxer=info.demuxer, formats=WHITELIST,
    )  # fmt: skip
    run(argv, cwd=source.parent, timeout=60)
    for out in (from_piece, direct):
        stream = ffprobe_json(out, "-show_streams", "-select_streams", "v:0")["streams"][0]
        assert (stream["width"], stream["height"]) == upright  # scaled straight to the rung: no pad, no crop
        assert stream.get("sample_aspect_ratio", "1:1") == "1:1"
        assert not any(s.get("side_data_type") == "Display Matrix" for s in stream.get("side_data_list", []))
        # The picture turned upright, not squeezed: against the source as a player shows it.
        assert psnr(out, source, from_s=0.0, frames=SEGMENT) > 30
    # The stills read the source itself, display matrix and all: upright too, and only once.
    poster = tmp_path / "poster.jpg"
    run(fa.poster_argv(source, info, POLICY, poster, at=1.0), cwd=source.parent, timeout=30)
    still = ffprobe_json(poster, "-show_streams")["streams"][0]
    assert (still["width"], still["height"]) == upright
    assert psnr(poster, source, from_s=1.0, frames=1) > 30


def test_codec_string_of_the_output_is_what_manifests_announce(tmp_path: Path, clips: dict[str, Path]) -> None:
    source = job_with(tmp_path, clips["landscape"])
    info = probe_source(source, WHITELIST)
    (out,) = encode_chunk(cut(source, info), info, rungs(info)[:1], start=0.0, frames=2 * SEGMENT)
    stream = ffprobe_json(out, "-show_streams", "-select_streams", "v:0")["streams"][0]
    assert stream["profile"] == "High"
    # RFC 6381 avc1.PPCCLL is the avcC record's profile, compatibility and level bytes, as stored.
    data = out.read_bytes()
    record = data[data.index(b"avcC") + 4 :]
    assert avc1_codec(stream["profile"], stream["level"]) == "avc1." + record[1:4].hex()


def test_codec_whitelist_and_max_pixels_bind_the_decoder(tmp_path: Path, clips: dict[str, Path]) -> None:
    source = job_with(tmp_path, clips["landscape"])
    info = probe_source(source, WHITELIST)
    piece = cut(source, info)
    rendition = rungs(info)[0]
    for name, policy in [
        ("codec", ValidationPolicy(allowed_video_codecs=("hevc",))),
        ("pixels", ValidationPolicy(max_width=100, max_height=100)),
    ]:
        out = tmp_path / name
        out.mkdir()
        attempts: dict[str, list[str]] = {
            "chunk": fa.chunk_argv(
                piece,
                info,
                policy,
                [rendition],
                [out / "chunk.mp4"],
                rate=RATE,
                segment_frames=SEGMENT,
                start=0.0,
                frames=None,
            ),
            "poster": fa.poster_argv(source, info, policy, out / "poster.jpg", at=1.0),
        }
        for what, argv in attempts.items():
            with pytest.raises(MediaError) as caught:
                run(argv, cwd=source.parent, timeout=30)
            assert any("Error while opening decoder" in line for line in caught.value.stderr_tail), (name, what)
        assert not [p for p in out.iterdir() if p.stat().st_size > 0]


# --- the audio track ---


def test_audio_is_one_fragmented_track_from_time_zero(tmp_path: Path, clips: dict[str, Path]) -> None:
    source = job_with(tmp_path, clips["mpegts"])
    info = probe_source(source, WHITELIST)
    assert info.duration is not None
    track = read_track(encode_audio(source, info))
    assert track.timescale == 48000
    assert track.fragments[0].decode_time == 0  # the source's 11.4 s start is time zero
    assert all(f.starts_with_sync for f in track.fragments)
    # Fragments of about one segment (whole AAC frames), the track about as long as the source.
    assert {f.duration for f in track.fragments[:-1]} == {24 * 1024}
    assert track.duration / 48000 == pytest.approx(info.duration, abs=2 * 1024 / 48000)


def test_audio_and_video_outputs_keep_the_source_in_sync(tmp_path: Path, clips: dict[str, Path]) -> None:
    source = job_with(tmp_path, clips["sync"])
    info = probe_source(source, WHITELIST)
    assert (flash_at(source), click_at(source)) == pytest.approx((1.0, 1.0), abs=0.001)
    (video,) = encode_chunk(cut(source, info), info, rungs(info)[:1], start=0.0, frames=None)
    audio = aligned(encode_audio(source, info))
    # Each CMAF track as a player times it: the flash and the click, together, a second in.
    assert flash_at(video) - click_at(audio) == pytest.approx(0.0, abs=0.010)
    fallback = tmp_path / "fallback.mp4"
    run(fa.mp4_remux_argv(video, audio, fallback), cwd=tmp_path, timeout=30)
    assert flash_at(fallback) - click_at(fallback) == pytest.approx(0.0, abs=0.010)


# --- the progressive MP4 fallback ---


def test_mp4_fallback_is_progressive_and_complete(tmp_path: Path, clips: dict[str, Path]) -> None:
    source = job_with(tmp_path, clips["landscape"])
    info = probe_source(source, WHITELIST)
    (video,) = encode_chunk(cut(source, info), info, rungs(info)[:1], start=0.0, frames=None)
    audio = encode_audio(source, info)
    fallback = tmp_path / "fallback.mp4"
    run(fa.mp4_remux_argv(video, audio, fallback), cwd=tmp_path, timeout=30)
    head = fallback.read_bytes()
    assert head.index(b"moov") < head.index(b"mdat")  # faststart: the index first
    assert b"moof" not in head  # no longer fragmented
    probed = ffprobe_json(fallback, "-show_format", "-show_streams")
    assert float(probed["format"]["duration"]) == pytest.approx(info.duration, abs=0.1)
    assert sorted(s["codec_type"] for s in probed["streams"]) == ["audio", "video"]
    silent = tmp_path / "silent.mp4"
    run(fa.mp4_remux_argv(video, None, silent), cwd=tmp_path, timeout=30)
    assert [s["codec_type"] for s in ffprobe_json(silent, "-show_streams")["streams"]] == ["video"]


# --- the stream the probe validated is the stream every command reads ---


@pytest.mark.parametrize("builder", ["video piece", "poster"])
def test_cover_art_stored_first_is_not_taken_for_the_video(
    tmp_path: Path, clips: dict[str, Path], builder: str
) -> None:
    source = job_with(tmp_path, clips["cover_first"])
    info = probe_source(source, WHITELIST)
    assert info.video is not None
    assert (info.video.index, info.video.codec, info.video.width) == (1, "h264", 320)  # the probe skips the picture
    out = source.parent / ("piece.mkv" if builder == "video piece" else "poster.jpg")
    argv = (
        fa.video_piece_argv(source, info, POLICY, out, seek=0.0, end=None)
        if builder == "video piece"
        else fa.poster_argv(source, info, POLICY, out, at=1.0)
    )
    run(argv, cwd=source.parent, timeout=30)
    assert out.is_file(), "nothing written"  # the poster: a seek 1 s into a one-picture stream finds no frame
    (stream,) = ffprobe_json(out, "-show_streams", "-count_packets")["streams"]
    assert (stream["codec_name"], stream["width"]) == ("h264" if builder == "video piece" else "mjpeg", 320)
    if builder == "video piece":
        assert int(stream["nb_read_packets"]) == 90  # the whole video, not one picture


# --- what users upload that must never be followed ---


class FifoCanary:
    """A named pipe outside the job dir that records whether anything opened it for reading."""

    def __init__(self, path: Path) -> None:
        os.mkfifo(path)
        self.path = path
        self.opened = threading.Event()
        self._releasing = False
        self._thread = threading.Thread(target=self._wait, daemon=True)
        self._thread.start()

    def _wait(self) -> None:
        fd = os.open(self.path, os.O_WRONLY)  # blocks until a reader opens the pipe
        if not self._releasing:
            self.opened.set()
            os.write(fd, b"CANARY-SECRET\n")
        os.close(fd)

    def close(self) -> None:
        self._releasing = True
        fd = os.open(self.path, os.O_RDONLY | os.O_NONBLOCK)
        self._thread.join(timeout=5)
        os.close(fd)


@pytest.fixture
def canary(tmp_path: Path) -> Iterator[FifoCanary]:
    outside = tmp_path / "outside"
    outside.mkdir()
    pipe = FifoCanary(outside / "secret.mp4")
    yield pipe
    pipe.close()


def payloads(target: Path) -> dict[str, bytes]:
    return {
        "hls master, file: URL": f"#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\nfile:{target}\n".encode(),
        "hls media playlist": (f"#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXTINF:1,\n{target}\n#EXT-X-ENDLIST\n".encode()),
        "ffconcat absolute": f"ffconcat version 1.0\nfile '{target}'\n".encode(),
        "ffconcat relative": b"ffconcat version 1.0\nfile '../outside/secret.mp4'\n",
    }


@pytest.mark.parametrize("kind", list(payloads(Path("/x"))))
def test_playlists_and_concat_lists_are_refused_by_probe(tmp_path: Path, canary: FifoCanary, kind: str) -> None:
    source = job_with(tmp_path, payloads(canary.path)[kind])
    with pytest.raises(UnsupportedInput) as caught:
        probe_source(source, WHITELIST, timeout=10)
    assert not canary.opened.is_set(), "ffprobe opened a file outside the job dir"
    assert "CANARY" not in str(caught.value) + " ".join(caught.value.stderr_tail)


SOURCE_READERS: dict[str, Callable[[Path, MediaInfo, Path], list[str]]] = {
    "video piece": lambda source, info, out: fa.video_piece_argv(source, info, POLICY, out, seek=0.0, end=None),
    "audio piece": lambda source, info, out: fa.audio_piece_argv(source, info, POLICY, out),
}


@pytest.mark.parametrize("builder", sorted(SOURCE_READERS))
@pytest.mark.parametrize("demuxer", ["hls", "concat"])
def test_ffmpeg_refuses_them_too_even_if_told_the_demuxer(
    tmp_path: Path, canary: FifoCanary, clips: dict[str, Path], demuxer: str, builder: str
) -> None:
    kind = "hls media playlist" if demuxer == "hls" else "ffconcat absolute"
    source = job_with(tmp_path, payloads(canary.path)[kind])
    real = probe_source(job_with(tmp_path, clips["landscape"], name="real"), WHITELIST)
    forged = real.model_copy(update={"format_name": demuxer})
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(UnsupportedInput):
        run(SOURCE_READERS[builder](source, forged, out / "piece.mkv"), cwd=source.parent, timeout=10)
    assert not canary.opened.is_set()
    assert not list(out.iterdir())


def test_the_canary_does_detect_an_open(tmp_path: Path, canary: FifoCanary) -> None:
    """Control: without -format_whitelist a concat list with -safe 0 does read the outside file."""
    source = job_with(tmp_path, payloads(canary.path)["ffconcat absolute"])
    subprocess.run(
        [
            str(LAYER_BIN / "ffprobe"),
            "-v",
            "error",
            "-protocol_whitelist",
            "file",
            "-f",
            "concat",
            "-safe",
            "0",
            f"file:{source}",
        ],
        capture_output=True,
        timeout=10,
        check=False,
    )
    assert canary.opened.wait(5)


def test_truncated_source_is_unreadable(tmp_path: Path, clips: dict[str, Path]) -> None:
    data = clips["landscape"].read_bytes()
    with pytest.raises(SourceUnreadable) as caught:
        probe_source(job_with(tmp_path, data[: len(data) * 6 // 10]), WHITELIST)
    assert any("moov atom not found" in line for line in caught.value.stderr_tail)


def test_empty_source_is_unreadable(tmp_path: Path) -> None:
    with pytest.raises(SourceUnreadable, match="empty"):
        probe_source(job_with(tmp_path, b""), WHITELIST)


def test_not_a_video_is_unsupported(tmp_path: Path) -> None:
    with pytest.raises(UnsupportedInput) as caught:
        probe_source(job_with(tmp_path, b"hello, this is a text document\n" * 100), WHITELIST)
    assert caught.value.stderr_tail


# --- stills ---


def test_poster_thumbnails_and_sprite(tmp_path: Path, clips: dict[str, Path]) -> None:
    source = job_with(tmp_path, clips["landscape"])
    info = probe_source(source, WHITELIST)
    out = tmp_path / "thumbs"
    out.mkdir()
    run(fa.poster_argv(source, info, POLICY, out / "poster.jpg", at=1.0), cwd=source.parent, timeout=30)
    run(fa.thumbnails_argv(source, info, POLICY, out, thumbnail_times(info.duration, 3)), cwd=source.parent, timeout=30)
    plan = plan_sprite(info, interval=0.5, columns=4, rows=2, tile_width=80)
    assert (plan.count, plan.sheets) == (6, 1)  # a partly filled sheet must still be written
    run(fa.sprite_argv(source, info, POLICY, plan, out), cwd=source.parent, timeout=30)
    jpegs = sorted(p.name for p in out.iterdir())
    assert jpegs == ["poster.jpg", "sprite_000.jpg", "thumb_00000.jpg", "thumb_00001.jpg", "thumb_00002.jpg"]
    assert all((out / name).read_bytes()[:2] == b"\xff\xd8" for name in jpegs)
    sheet = ffprobe_json(out / "sprite_000.jpg", "-show_streams")["streams"][0]
    assert (sheet["width"], sheet["height"]) == (4 * 80, 2 * 60)


def test_a_quicktime_only_codec_is_cut_into_nut_and_encodes(tmp_path: Path) -> None:
    """Matroska cannot carry Sorenson Video (a stream copy writes codec "none"): its pieces are NUT."""
    clip = tmp_path / "svq1.mov"
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=320x240:rate=30:duration=2", "-c:v", "svq1", "-f", "mov", str(clip))
    source = job_with(tmp_path, clip)
    info = probe_source(source, WHITELIST)
    assert info.video is not None
    assert info.video.codec == "svq1"
    assert fa.video_piece_demuxer(info) == "nut"
    piece = cut(source, info, seek=1.0)
    assert ffprobe_json(piece, "-show_format")["format"]["format_name"] == "nut"
    renditions = rungs(info)[:1]
    outs = [tmp_path / "svq1_out.mp4"]
    argv = fa.chunk_argv(
        piece,
        info,
        POLICY,
        renditions,
        outs,
        rate=RATE,
        segment_frames=SEGMENT,
        start=1.0,
        frames=SEGMENT,
        demuxer=fa.video_piece_demuxer(info),
    )
    run(argv, cwd=tmp_path, timeout=60)
    (stream,) = ffprobe_json(outs[0], "-show_streams", "-count_frames")["streams"]
    assert (stream["codec_name"], int(stream["nb_read_frames"])) == ("h264", SEGMENT)
