"""ffmpeg command lines as data: pieces, chunk and audio encodes, remux, stills and storyboards."""

from __future__ import annotations

from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import pytest

from lambdas.media import ffmpeg_args as fa
from lambdas.media.chunking import video_timescale
from lambdas.media.ladder import plan_ladder
from lambdas.media.policy import ValidationPolicy
from lambdas.media.storyboard import plan_sprite
from tests.unit.media.conftest import load_info

POLICY = ValidationPolicy()
SRC = Path("/tmp/job/source")
PIECE = Path("/tmp/job/piece.mkv")
INFO = load_info("landscape_h264_aac").model_copy(update={"duration": 10.0})
TS = load_info("mpegts_mpeg2_anamorphic_51")  # starts at 1.427567 s
assert INFO.video is not None
HD = INFO.model_copy(update={"video": INFO.video.model_copy(update={"width": 1280, "height": 720})})
LADDER = plan_ladder(HD, segment_seconds=4)  # 720p, 480p, 360p
NTSC = Fraction(30000, 1001)


def opt(argv: list[str], name: str) -> str:
    return argv[argv.index(name) + 1]


def values(argv: list[str], name: str) -> list[str]:
    return [argv[i + 1] for i, a in enumerate(argv) if a == name]


def before_input(argv: list[str]) -> list[str]:
    return argv[: argv.index("-i")]


def after_input(argv: list[str]) -> list[str]:
    return argv[len(argv) - argv[::-1].index("-i") + 1 :]


def inputs(argv: list[str]) -> list[list[str]]:
    """The options of each input: everything after the previous input (or the global options) up to its file."""
    heads, start = [], 0
    for i, arg in enumerate(argv):
        if arg == "-i":
            heads.append(argv[start : i + 2])
            start = i + 2
    return heads


def outputs(argv: list[str]) -> list[list[str]]:
    """The options of each output (after the last input), each ending with its file."""
    tail = after_input(argv)
    groups, start = [], 0
    for i, arg in enumerate(tail):
        if arg.startswith("file:"):
            groups.append(tail[start : i + 1])
            start = i + 1
    assert start == len(tail), "options after the last output apply to nothing"
    return groups


def assert_hardened(head: list[str], *, formats: str, demuxer: str, policy: ValidationPolicy = POLICY) -> None:
    """One input, read only as a local file by one demuxer, with the probed codecs' decoders and a pixel cap."""
    assert opt(head, "-protocol_whitelist") == "file"
    assert opt(head, "-format_whitelist") == formats
    assert opt(head, "-codec_whitelist") == policy.codec_whitelist
    assert opt(head, "-max_pixels") == str(policy.max_width * policy.max_height)
    assert head[-4:-2] == ["-f", demuxer]  # forced, never guessed from the content
    assert head[-1].startswith("file:")


# --- the hardened input ---


def test_input_is_hardened() -> None:
    argv = fa.input_args(SRC, INFO, POLICY)
    assert_hardened(argv, formats=POLICY.format_whitelist, demuxer="mov")
    assert argv[-2:] == ["-i", "file:/tmp/job/source"]
    assert not {"-ss", "-copyts", "-skip_frame"} & set(argv)


def test_input_options_come_before_the_file() -> None:
    argv = fa.input_args(SRC, INFO, POLICY, seek=2.5, keyframes_only=True, copyts=True)
    head = before_input(argv)
    assert opt(head, "-ss") == "2.500"
    assert opt(head, "-skip_frame") == "nokey"
    assert "-copyts" in head


def test_our_own_pieces_are_read_with_their_own_demuxer_only() -> None:
    argv = fa.input_args(PIECE, TS, POLICY, demuxer=fa.PIECE_DEMUXER, formats=fa.PIECE_FORMATS)
    # Not the source's mpegts: the piece is matroska (NUT for Sorenson video) whatever was uploaded, and
    # nothing else may open it.
    assert_hardened(argv, formats="matroska,webm,nut", demuxer="matroska")
    assert "mpegts" not in argv
    assert fa.video_piece_demuxer(TS) == "matroska"


BUILDERS: dict[str, Callable[[], list[str]]] = {
    "video piece": lambda: fa.video_piece_argv(SRC, TS, POLICY, Path("/o/p.mkv"), seek=8.0, end=13.5),
    "audio piece": lambda: fa.audio_piece_argv(SRC, TS, POLICY, Path("/o/a.mka")),
    "chunk": lambda: fa.chunk_argv(
        PIECE,
        TS,
        POLICY,
        LADDER,
        [Path(f"/o/{r.name}.mp4") for r in LADDER],
        rate=NTSC,
        segment_frames=120,
        start=9.4,
        frames=240,
    ),
    "audio": lambda: fa.audio_argv(
        PIECE, TS, POLICY, LADDER[0], Path("/o/audio.mp4"), start=1.4, duration=10.0, fragment_s=4.0
    ),
    "poster": lambda: fa.poster_argv(SRC, TS, POLICY, Path("/o/poster.jpg"), at=3.0),
    "thumbnails": lambda: fa.thumbnails_argv(SRC, TS, POLICY, Path("/o"), [1.0, 2.0]),
    "sprite": lambda: fa.sprite_argv(SRC, TS, POLICY, plan_sprite(TS, interval=2), Path("/o")),
}
READS_PIECES = {"chunk", "audio"}


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_every_builder_that_reads_user_data_hardens_every_input(name: str) -> None:
    argv = BUILDERS[name]()
    assert argv[0] == "ffmpeg"
    assert {"-nostdin", "-hide_banner"} <= set(before_input(argv))
    heads = inputs(argv)
    assert heads
    for head in heads:
        if name in READS_PIECES:
            assert_hardened(head, formats=fa.PIECE_FORMATS, demuxer=fa.PIECE_DEMUXER)
        else:
            assert_hardened(head, formats=POLICY.format_whitelist, demuxer="mpegts")


def test_a_narrower_policy_narrows_every_input() -> None:
    strict = ValidationPolicy(allowed_formats=("mpegts",), allowed_video_codecs=("mpeg2video",), max_width=720)
    argv = fa.chunk_argv(
        PIECE, TS, strict, LADDER[:1], [Path("/o/a.mp4")], rate=NTSC, segment_frames=120, start=0, frames=None
    )
    assert_hardened(inputs(argv)[0], formats=fa.PIECE_FORMATS, demuxer=fa.PIECE_DEMUXER, policy=strict)
    piece = fa.video_piece_argv(SRC, TS, strict, Path("/o/p.mkv"), seek=0, end=None)
    assert_hardened(inputs(piece)[0], formats="mpegts", demuxer="mpegts", policy=strict)


# --- pieces: stream copies that keep the source's timestamps ---


def test_video_piece_is_a_stream_copy_from_a_seek_to_an_absolute_end() -> None:
    argv = fa.video_piece_argv(SRC, TS, POLICY, Path("/o/p.mkv"), seek=8.0, end=13.5)
    head, tail = before_input(argv), after_input(argv)
    assert opt(head, "-ss") == "8.000"  # input seek: from the keyframe at or before it
    assert "-copyts" in head  # the source's own timestamps, so the worker can trim exactly
    assert "-progress" not in head
    assert opt(tail, "-c") == "copy"
    assert len(values(tail, "-map")) == 1  # the one video stream
    assert {"-an", "-sn", "-dn"} <= set(tail)
    assert opt(tail, "-map_metadata") == opt(tail, "-map_chapters") == "-1"
    assert opt(tail, "-to") == "13.500"  # an output option: in the kept (absolute) timestamps
    assert tail[-3:] == ["-f", "matroska", "file:/o/p.mkv"]


def test_first_and_last_pieces() -> None:
    first = fa.video_piece_argv(SRC, TS, POLICY, Path("/o/p.mkv"), seek=0.0, end=9.0)
    assert "-ss" not in first  # from the very start: no seek at all
    assert opt(first, "-to") == "9.000"
    last = fa.video_piece_argv(SRC, TS, POLICY, Path("/o/p.mkv"), seek=40.0, end=None)
    assert opt(last, "-ss") == "40.000"
    assert "-to" not in last  # to the end of the source


def test_audio_piece_is_the_first_audio_stream_whole() -> None:
    argv = fa.audio_piece_argv(SRC, TS, POLICY, Path("/o/a.mka"))
    head, tail = before_input(argv), after_input(argv)
    assert "-copyts" in head
    assert not {"-ss", "-to", "-t"} & set(argv)  # never cut
    assert TS.audio
    assert values(tail, "-map") == [f"0:{TS.audio[0].index}"]  # the probed stream, by its index
    assert opt(tail, "-c:a") == "flac"  # decoded (priming and skip markers applied), stored losslessly
    assert {"-vn", "-sn", "-dn"} <= set(tail)
    assert tail[-3:] == ["-f", "matroska", "file:/o/a.mka"]


def test_each_audio_track_has_its_own_piece_by_stream_index() -> None:
    second = TS.audio[0].model_copy(update={"index": 5, "language": "fra"})
    info = TS.model_copy(update={"audio": (*TS.audio, second)})
    first = fa.audio_piece_argv(SRC, info, POLICY, Path("/o/audio.mka"))
    other = fa.audio_piece_argv(SRC, info, POLICY, Path("/o/audio-1.mka"), stream=5)
    assert values(after_input(first), "-map") == [f"0:{TS.audio[0].index}"]
    assert values(after_input(other), "-map") == ["0:5"]
    assert after_input(other)[-1] == "file:/o/audio-1.mka"
    assert fa.audio_stream(info, 5) == "0:5"
    with pytest.raises(ValueError, match="not an audio stream"):
        fa.audio_stream(info, 0)  # the picture
    # Straight from the source (the bench): the stream asked for; from a piece, its one track.
    direct = fa.audio_argv(
        SRC, info, POLICY, LADDER[0], Path("/o/a.mp4"), start=0, duration=1, fragment_s=1,
        demuxer=info.demuxer, formats=POLICY.format_whitelist, stream=5,
    )  # fmt: skip
    assert values(after_input(direct), "-map") == ["0:5"]
    piece = fa.audio_argv(PIECE, info, POLICY, LADDER[0], Path("/o/a.mp4"), start=0, duration=1, fragment_s=1)
    assert values(after_input(piece), "-map") == ["0:a:0"]


def test_first_timestamp_reads_the_first_video_packets_of_our_piece() -> None:
    argv = fa.first_timestamp_argv(Path("/o/p.mkv"))
    assert argv[0] == "ffprobe"
    assert opt(argv, "-protocol_whitelist") == "file"
    assert opt(argv, "-format_whitelist") == fa.PIECE_FORMATS
    assert opt(argv, "-select_streams") == "v:0"
    assert opt(argv, "-read_intervals") == "%+#8"  # a few packets, not the whole piece
    assert opt(argv, "-show_entries") == "packet=pts_time"
    assert opt(argv, "-of") == "csv=p=0"
    assert argv[-1] == "file:/o/p.mkv"
    assert fa.first_timestamp_argv(Path("/p"), ffprobe="/opt/bin/ffprobe")[0] == "/opt/bin/ffprobe"


# --- a chunk: decoded once, trimmed exactly, resampled onto the grid, one fMP4 per rendition ---


def chunk(frames: int | None = 240, renditions: int = 3, start: float = 9.4) -> list[str]:
    rungs = LADDER[:renditions]
    outs = [Path(f"/o/{r.name}.mp4") for r in rungs]
    return fa.chunk_argv(PIECE, TS, POLICY, rungs, outs, rate=NTSC, segment_frames=120, start=start, frames=frames)


def test_chunk_graph_trims_resamples_and_splits() -> None:
    # 0.4 of a frame early, so the frame at `start` is kept whatever rounding the piece's millisecond
    # timestamps did; time zero a tenth of a frame after `start` (fa.SLOT_PHASE: the fps filter's windows off
    # the edges where a 120/240 fps source has frames); a constant rate on the output grid, the picture
    # made viewable (this untagged SD source: BT.601 to BT.709, picture.py), one copy per rung.
    assert opt(chunk(), "-filter_complex") == (
        "[0:v:0]trim=start=9.386653:end=18.408000,setpts=PTS-9.403337/TB,fps=30000/1001:start_time=0,"
        "colorspace=ispace=smpte170m:iprimaries=bt709:itrc=bt709:all=bt709:range=tv:fast=1,format=yuv420p,"
        "split=3[s0][s1][s2];"
        "[s0]scale=1280:720,setsar=1[r0];[s1]scale=854:480,setsar=1[r1];[s2]scale=640:360,setsar=1[r2]"
    )


def test_chunk_of_one_rendition_needs_no_split() -> None:
    assert opt(chunk(renditions=1), "-filter_complex") == (
        "[0:v:0]trim=start=9.386653:end=18.408000,setpts=PTS-9.403337/TB,fps=30000/1001:start_time=0,"
        "colorspace=ispace=smpte170m:iprimaries=bt709:itrc=bt709:all=bt709:range=tv:fast=1,format=yuv420p[s0];"
        "[s0]scale=1280:720,setsar=1[r0]"
    )


def test_last_chunk_runs_to_the_end_of_its_piece() -> None:
    argv = chunk(frames=None)
    graph = opt(argv, "-filter_complex")
    assert graph.startswith("[0:v:0]trim=start=9.386653,setpts=")  # no end
    assert "-frames:v" not in argv


def test_inner_chunk_stops_at_exactly_its_frames_on_every_output() -> None:
    argv = chunk(frames=240)
    assert [opt(o, "-frames:v") for o in outputs(argv)] == ["240", "240", "240"]


def test_chunk_input_is_our_piece_with_its_own_timestamps() -> None:
    argv = chunk()
    head = before_input(argv)
    assert "-copyts" in head  # trim and setpts work in the source's timestamps
    assert opt(head, "-progress") == "pipe:1"
    assert "-nostats" in head
    assert argv.count("-i") == 1  # decoded once for every rung
    assert inputs(argv)[0][-1] == "file:/tmp/job/piece.mkv"


def test_each_rendition_is_a_fragmented_mp4_with_keyframes_on_the_segment_grid() -> None:
    groups = outputs(chunk())
    assert [g[-1] for g in groups] == ["file:/o/720p.mp4", "file:/o/480p.mp4", "file:/o/360p.mp4"]
    for rendition, (label, out) in zip(LADDER, enumerate(groups), strict=True):
        assert values(out, "-map") == [f"[r{label}]"]
        assert opt(out, "-c:v") == "libx264"
        assert (opt(out, "-crf"), opt(out, "-maxrate"), opt(out, "-bufsize")) == (
            str(rendition.crf),
            f"{rendition.maxrate_kbps}k",
            f"{rendition.bufsize_kbps}k",
        )
        assert opt(out, "-profile:v") == "high"
        assert opt(out, "-pix_fmt") == "yuv420p"
        # A keyframe every segment, counted in frames (29.97 fps has no whole frames per second), and none between.
        assert opt(out, "-force_key_frames") == "expr:eq(mod(n,120),0)"
        assert opt(out, "-g") == opt(out, "-keyint_min") == "120"
        assert opt(out, "-sc_threshold") == "0"
        assert opt(out, "-flags") == "+cgop"
        assert "-an" in out
        assert opt(out, "-movflags") == "+frag_keyframe+empty_moov+default_base_moof+negative_cts_offsets"
        assert opt(out, "-fflags") == "+bitexact"  # identical inits from every chunk
        assert opt(out, "-f") == "mp4"


@pytest.mark.parametrize(
    ("rate", "timescale"),
    [(NTSC, 90000), (Fraction(24000, 1001), 96000), (Fraction(25), 90000), (Fraction(60000, 1001), 120000)],
)
def test_track_timescale_is_the_one_in_which_a_frame_is_whole_ticks(rate: Fraction, timescale: int) -> None:
    outs = [Path("/o/a.mp4"), Path("/o/b.mp4")]
    argv = fa.chunk_argv(PIECE, TS, POLICY, LADDER[:2], outs, rate=rate, segment_frames=96, start=0.0, frames=None)
    assert video_timescale(rate) == timescale
    assert values(argv, "-video_track_timescale") == [str(timescale)] * 2
    assert f"fps={rate}:start_time=0" in opt(argv, "-filter_complex")


def test_chunk_needs_an_output_per_rendition() -> None:
    with pytest.raises(ValueError, match="zip"):
        fa.chunk_argv(
            PIECE, TS, POLICY, LADDER, [Path("/o/a.mp4")], rate=NTSC, segment_frames=120, start=0, frames=None
        )


# --- the audio: one encode of the whole track ---


def test_audio_is_encoded_once_from_time_zero_for_the_planned_duration() -> None:
    rendition = LADDER[0]
    argv = fa.audio_argv(
        PIECE, TS, POLICY, rendition, Path("/o/audio.mp4"), start=1.427567, duration=10.01, fragment_s=4.004
    )
    head, tail = before_input(argv), after_input(argv)
    assert "-copyts" in head
    assert opt(head, "-progress") == "pipe:1"
    assert values(tail, "-map") == ["0:a:0"]
    assert "-vn" in tail
    # Time zero where the video's is (the source's start); a late first sample is preceded by silence.
    assert opt(tail, "-af") == "asetpts=PTS-1.427567/TB,aresample=async=1:first_pts=0"
    assert (opt(tail, "-c:a"), opt(tail, "-b:a"), opt(tail, "-ac"), opt(tail, "-ar")) == ("aac", "128k", "2", "48000")
    assert opt(tail, "-t") == "10.010"  # as long as the video timeline, not whatever the container claims
    assert opt(tail, "-frag_duration") == "4004000"  # microseconds: fragments of about one segment
    movflags = opt(tail, "-movflags")
    assert movflags == "+empty_moov+default_base_moof+negative_cts_offsets"
    assert "frag_keyframe" not in movflags  # every AAC frame is a sync sample: that would be a fragment each
    assert tail[-3:] == ["-f", "mp4", "file:/o/audio.mp4"]


# --- the progressive MP4 fallback: our own fragmented tracks, remuxed ---


def test_mp4_remux_is_a_stream_copy_of_our_own_tracks_only() -> None:
    argv = fa.mp4_remux_argv(Path("/t/video.mp4"), Path("/t/audio.mp4"), Path("/t/out.mp4"))
    heads = inputs(argv)
    assert [h[-1] for h in heads] == ["file:/t/video.mp4", "file:/t/audio.mp4"]
    for head in heads:
        assert opt(head, "-protocol_whitelist") == "file"
        assert opt(head, "-format_whitelist") == fa.OWN_FMP4_FORMATS
        assert head[-4:-2] == ["-f", "mov"]  # fixed, not guessed
    tail = after_input(argv)
    assert values(tail, "-map") == ["0:v:0", "1:a:0"]
    assert opt(tail, "-c") == "copy"
    assert opt(tail, "-movflags") == "+faststart"  # the index first: playable while it downloads
    assert opt(tail, "-map_metadata") == "-1"
    assert tail[-3:] == ["-f", "mp4", "file:/t/out.mp4"]


def test_mp4_remux_without_audio() -> None:
    argv = fa.mp4_remux_argv(Path("/t/video.mp4"), None, Path("/t/out.mp4"))
    assert argv.count("-i") == 1
    assert values(after_input(argv), "-map") == ["0:v:0"]


# --- stills and the storyboard ---


def test_poster_seeks_on_the_input() -> None:
    argv = fa.poster_argv(SRC, INFO, POLICY, Path("/o/poster.jpg"), at=3.0)
    assert opt(before_input(argv), "-ss") == "3.000"
    assert opt(after_input(argv), "-frames:v") == "1"
    # Made viewable (picture.py), never upscaled, in JFIF's full-range BT.601 (see test_picture.py).
    assert opt(after_input(argv), "-vf") == (
        "colorspace=ispace=smpte170m:iprimaries=bt709:itrc=bt709:all=bt709:range=tv:fast=1,format=yuv420p,"
        "scale=320:240:in_color_matrix=bt709:in_range=tv:out_color_matrix=bt601:out_range=pc,setsar=1,"
        "format=yuvj420p"
    )
    assert argv[-1] == "/o/poster.jpg"
    # Past the end: clamped to just before it.
    assert opt(fa.poster_argv(SRC, INFO, POLICY, Path("/p.jpg"), at=99), "-ss") == "9.500"
    assert opt(fa.poster_argv(SRC, INFO, POLICY, Path("/p.jpg"), at=-1), "-ss") == "0.000"


def test_thumbnails_one_process_one_seeking_input_each() -> None:
    argv = fa.thumbnails_argv(SRC, INFO, POLICY, Path("/o"), [2.5, 5.0, 99.0])
    heads = inputs(argv)
    assert len(heads) == 3
    for head in heads:
        assert_hardened(head, formats=POLICY.format_whitelist, demuxer="mov")
    assert [opt(h, "-ss") for h in heads] == ["2.500", "5.000", "9.500"]
    # Output i maps the video of input i.
    assert [m.split(":")[0] for m in values(argv, "-map")] == ["0", "1", "2"]
    assert values(argv, "-frames:v") == ["1", "1", "1"]
    assert [a for a in argv if a.endswith(".jpg")] == ["/o/thumb_00000.jpg", "/o/thumb_00001.jpg", "/o/thumb_00002.jpg"]


def test_sprite_decodes_keyframes_only() -> None:
    plan = plan_sprite(INFO, interval=2, columns=3, rows=2, tile_width=160)
    argv = fa.sprite_argv(SRC, INFO, POLICY, plan, Path("/o"))
    assert opt(before_input(argv), "-skip_frame") == "nokey"
    assert opt(argv, "-vf") == (
        "fps=1/2,colorspace=ispace=smpte170m:iprimaries=bt709:itrc=bt709:all=bt709:range=tv:fast=1,"
        "format=yuv420p,scale=160:120:in_color_matrix=bt709:in_range=tv:out_color_matrix=bt601:out_range=pc,"
        "setsar=1,format=yuvj420p,tile=3x2"
    )
    assert opt(argv, "-fps_mode") == "vfr"
    assert opt(argv, "-frames:v") == "1"
    assert opt(argv, "-start_number") == "0"
    assert argv[-1] == "/o/sprite_%03d.jpg"
    every_frame = fa.sprite_argv(SRC, INFO, POLICY, plan, Path("/o"), keyframes_only=False)
    assert "-skip_frame" not in every_frame


def test_chunk_and_audio_may_read_another_of_our_formats_but_only_that_one() -> None:
    mp4 = {"demuxer": fa.OWN_FMP4_DEMUXER, "formats": fa.OWN_FMP4_FORMATS}
    video = fa.chunk_argv(
        PIECE, TS, POLICY, LADDER[:1], [Path("/o/a.mp4")], rate=NTSC, segment_frames=120, start=0, frames=None, **mp4
    )
    audio = fa.audio_argv(
        PIECE, TS, POLICY, LADDER[0], Path("/o/b.mp4"), start=0, duration=1, fragment_s=1,
        demuxer=fa.OWN_FMP4_DEMUXER, formats=fa.OWN_FMP4_FORMATS,
    )  # fmt: skip
    for argv in (video, audio):
        (head,) = inputs(argv)
        assert_hardened(head, formats=fa.OWN_FMP4_FORMATS, demuxer="mov")
