"""Reading and re-timing fragmented MP4: real ffmpeg output, joined chunks checked by ffprobe, and hand-built boxes."""

from __future__ import annotations

import struct
import subprocess
from itertools import pairwise
from pathlib import Path

import pytest

from lambdas.media.fmp4 import Fmp4Error, FragmentedTrack, FragmentInfo, init_bytes, read_track, write_segment
from tests.media_tools import ffprobe_json
from tests.unit.media.conftest import LAYER_BIN, make_clip

needs_layer = pytest.mark.skipif(not (LAYER_BIN / "ffmpeg").is_file(), reason="ffmpeg layer not built")

NTSC = "30000/1001"
FRAME = 1001  # ticks per frame at timescale 30000
CMAF_FLAGS = "+frag_keyframe+empty_moov+default_base_moof+negative_cts_offsets"
# veryfast, as the pipeline encodes: B-frames, so negative composition offsets go through the join.
VIDEO = [
    "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p",
    "-g", "30", "-keyint_min", "30", "-sc_threshold", "0", "-force_key_frames", "expr:eq(mod(n,30),0)",
    "-f", "mp4", "-movflags", CMAF_FLAGS, "-video_track_timescale", "30000", "-fflags", "+bitexact",
]  # fmt: skip
AUDIO = [
    "-c:a", "aac", "-b:a", "64k", "-ac", "2", "-f", "mp4",
    "-movflags", "+empty_moov+default_base_moof+negative_cts_offsets", "-frag_duration", "1000000",
    "-fflags", "+bitexact",
]  # fmt: skip


def ffmpeg(out: Path, source: str, *args: str) -> Path:
    """Encode a lavfi source with the layer's ffmpeg."""
    argv = [str(LAYER_BIN / "ffmpeg"), "-hide_banner", "-v", "error", "-y", "-f", "lavfi", "-i", source]
    subprocess.run([*argv, *args, str(out)], check=True)
    return out


def video_chunk(out: Path, pattern: str, seconds: float) -> Path:
    return ffmpeg(out, f"{pattern}=size=160x90:rate={NTSC}", "-t", f"{seconds}", *VIDEO)


def audio_chunk(out: Path, frequency: int, seconds: float) -> Path:
    return ffmpeg(out, f"sine=frequency={frequency}:sample_rate=48000:duration={seconds}", *AUDIO)


def join(chunks: list[Path], out: Path) -> list[FragmentedTrack]:
    """What the integrator does: chunk 0's init, then every chunk's segments re-timed into one track."""
    tracks = [read_track(c) for c in chunks]
    parts = [init_bytes(chunks[0], tracks[0])]
    shift, sequence = 0, 1
    for path, track in zip(chunks, tracks, strict=True):
        for n, fragment in enumerate(track.fragments):
            dest = out.parent / f"{path.stem}_{n}.m4s"
            write_segment(path, fragment, dest, shift=shift, sequence=sequence)
            parts.append(dest.read_bytes())
            sequence += 1
        shift += track.duration
    out.write_bytes(b"".join(parts))
    return tracks


AAC_FRAME = 1024  # samples per AAC-LC frame


def packets(path: Path) -> list[dict[str, str]]:
    found: list[dict[str, str]] = ffprobe_json(path, "-show_packets", "-select_streams", "0")["packets"]
    return found


def sequence_numbers(path: Path) -> list[int]:
    data = path.read_bytes()
    numbers, at = [], data.find(b"mfhd")
    while at != -1:
        numbers.append(struct.unpack_from(">I", data, at + 8)[0])  # after the type and version/flags
        at = data.find(b"mfhd", at + 4)
    return numbers


@needs_layer
def test_keyframe_fragments_of_a_real_encode(tmp_path: Path) -> None:
    clip = video_chunk(tmp_path / "v.mp4", "testsrc2", 3.2)  # 96 frames: three GOPs and a partial one
    track = read_track(clip)

    assert track.timescale == 30000
    assert [f.sample_count for f in track.fragments] == [30, 30, 30, 6]
    assert [f.duration for f in track.fragments] == [30 * FRAME] * 3 + [6 * FRAME]
    assert track.duration == len(packets(clip)) * FRAME
    assert all(f.starts_with_sync for f in track.fragments)
    assert [f.decode_time for f in track.fragments] == [0, 30 * FRAME, 60 * FRAME, 90 * FRAME]
    assert track.fragments[0].offset == track.init_size
    for before, after in pairwise(track.fragments):
        assert after.offset == before.offset + before.size
    init = init_bytes(clip, track)
    assert init[4:8] == b"ftyp"
    assert len(init) == track.init_size


@needs_layer
def test_fragments_cut_between_keyframes_do_not_start_with_sync(tmp_path: Path) -> None:
    args = list(VIDEO)
    args[args.index("-movflags") + 1] = "+empty_moov+default_base_moof+negative_cts_offsets"
    clip = ffmpeg(tmp_path / "v.mp4", f"testsrc2=size=160x90:rate={NTSC}", "-t", "2", *args, "-frag_duration", "500000")
    syncs = [f.starts_with_sync for f in read_track(clip).fragments]
    assert syncs[0]
    assert not all(syncs)  # 0.5 s fragments over 1 s GOPs


@needs_layer
def test_two_chunks_join_into_one_continuous_track(tmp_path: Path) -> None:
    first = video_chunk(tmp_path / "c0.mp4", "testsrc2", 1)
    second = video_chunk(tmp_path / "c1.mp4", "mandelbrot", 1)  # other content, same settings
    joined = tmp_path / "joined.mp4"
    tracks = join([first, second], joined)

    frames = sum(f.sample_count for t in tracks for f in t.fragments)
    assert frames == 60
    probed = ffprobe_json(joined, "-count_frames", "-show_streams", "-select_streams", "v:0")["streams"][0]
    assert int(probed["nb_read_frames"]) == frames  # decodes across the join
    listed = packets(joined)
    assert len(listed) == frames
    dts = [int(p["dts"]) for p in listed]
    assert dts == list(range(dts[0], dts[0] + frames * FRAME, FRAME))  # strictly increasing, no gap at the join
    pts = sorted(int(p["pts"]) for p in listed)
    assert pts == list(range(pts[0], pts[0] + frames * FRAME, FRAME))
    assert [p["flags"].startswith("K") for p in listed].count(True) == 2

    rejoined = read_track(joined)
    assert [f.decode_time for f in rejoined.fragments] == [0, 30 * FRAME]
    assert sequence_numbers(joined) == [1, 2]
    assert sequence_numbers(second) == [1]  # ffmpeg restarts every chunk at 1: the renumbering is ours


@needs_layer
def test_chunk_inits_with_the_same_settings_are_byte_identical(tmp_path: Path) -> None:
    first = video_chunk(tmp_path / "c0.mp4", "testsrc2", 1)
    second = video_chunk(tmp_path / "c1.mp4", "mandelbrot", 1.5)
    assert init_bytes(first, read_track(first)) == init_bytes(second, read_track(second))
    quiet = audio_chunk(tmp_path / "a0.mp4", 440, 1)
    loud = audio_chunk(tmp_path / "a1.mp4", 1000, 2)
    assert init_bytes(quiet, read_track(quiet)) == init_bytes(loud, read_track(loud))
    # The source's colour tags reach the SPS, so one init serves only chunks cut from one source.
    tagged = video_chunk(tmp_path / "c2.mp4", "smptebars", 1)
    assert init_bytes(tagged, read_track(tagged)) != init_bytes(first, read_track(first))


@needs_layer
def test_audio_fragments_by_duration(tmp_path: Path) -> None:
    clip = audio_chunk(tmp_path / "a.mp4", 440, 2.5)
    track = read_track(clip)
    listed = packets(clip)

    assert track.timescale == 48000
    assert sum(f.sample_count for f in track.fragments) == len(listed)
    # AAC frames are 1024 samples, the last one may be cut short (ffprobe 6.0 lists no packet durations
    # for fragmented audio, so they are read from the timestamps).
    steps = [int(b["pts"]) - int(a["pts"]) for a, b in pairwise(listed)]
    assert steps == [AAC_FRAME] * len(steps)
    assert 0 < track.duration - int(listed[-1]["pts"]) <= AAC_FRAME
    assert all(f.starts_with_sync for f in track.fragments)
    assert len(track.fragments) == 3
    # frag_duration closes a fragment at the first whole AAC frame at or past 1 s: 47 x 1024 samples.
    assert [f.duration for f in track.fragments[:-1]] == [47 * 1024] * 2
    assert [f.decode_time for f in track.fragments] == [0, 47 * 1024, 94 * 1024]


@needs_layer
def test_audio_chunks_join_without_a_gap(tmp_path: Path) -> None:
    joined = tmp_path / "joined.mp4"
    tracks = join([audio_chunk(tmp_path / "a0.mp4", 440, 1), audio_chunk(tmp_path / "a1.mp4", 880, 1)], joined)
    listed = packets(joined)
    assert len(listed) == sum(f.sample_count for t in tracks for f in t.fragments)
    first_end = tracks[0].duration  # the first chunk's last frame may be shorter than 1024 samples
    for before, after in pairwise(listed):
        step = int(after["pts"]) - int(before["pts"])
        if int(after["pts"]) == first_end:
            assert 0 < step <= AAC_FRAME  # the join: the second chunk starts where the first ends
        else:
            assert step == AAC_FRAME
    assert first_end in [int(p["pts"]) for p in listed]
    assert 0 < sum(t.duration for t in tracks) - int(listed[-1]["pts"]) <= AAC_FRAME


@needs_layer
def test_truncated_file_is_refused(tmp_path: Path) -> None:
    clip = video_chunk(tmp_path / "v.mp4", "testsrc2", 2)
    second = read_track(clip).fragments[1]
    data = clip.read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: second.offset + second.size // 2])
    with pytest.raises(Fmp4Error, match="truncated"):
        read_track(cut)
    cut.write_bytes(data[:300])  # inside the moov
    with pytest.raises(Fmp4Error, match="truncated"):
        read_track(cut)


@needs_layer
def test_other_mp4s_are_refused(tmp_path: Path) -> None:
    plain = make_clip(tmp_path / "plain.mp4", seconds=0.5, size="64x64", audio=False)
    with pytest.raises(Fmp4Error, match="not a fragmented MP4"):
        read_track(plain)
    muxed = make_clip(
        tmp_path / "muxed.mp4", "-movflags", CMAF_FLAGS, seconds=0.5, size="64x64"
    )  # video and audio in one file
    with pytest.raises(Fmp4Error, match="exactly one track"):
        read_track(muxed)
    absolute = make_clip(
        tmp_path / "absolute.mp4", "-movflags", "+frag_keyframe+empty_moov", seconds=0.5, size="64x64", audio=False
    )
    with pytest.raises(Fmp4Error, match="base-data-offset"):
        read_track(absolute)


@pytest.mark.parametrize("content", [b"", b"hello world, not an mp4", bytes(7)])
def test_garbage_is_refused(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "junk"
    path.write_bytes(content)
    with pytest.raises(Fmp4Error):
        read_track(path)


# Hand-built files for what ffmpeg never writes: 64-bit and to-end-of-file sizes, styp, sidx,
# version 0 tfdt, mdhd v1, and every place a sample's duration and flags may come from.

SYNC, NON_SYNC = 0x02000000, 0x01010000


def box(kind: str, *body: bytes) -> bytes:
    payload = b"".join(body)
    return struct.pack(">I4s", 8 + len(payload), kind.encode()) + payload


def full(kind: str, version: int, flags: int, *body: bytes) -> bytes:
    return box(kind, bytes([version]), flags.to_bytes(3), *body)


def init(timescale: int = 90000, *, traks: int = 1) -> bytes:
    mdhd = full("mdhd", 1, 0, struct.pack(">QQIQ", 0, 0, timescale, 0), bytes(4))
    trak = box("trak", full("tkhd", 0, 3, bytes(80)), box("mdia", mdhd))
    trex = full("trex", 0, 0, struct.pack(">5I", 1, 1, 3000, 0, SYNC))
    moov = box("moov", full("mvhd", 0, 0, bytes(96)), trak * traks, box("mvex", trex))
    return box("ftyp", b"cmfc", bytes(4), b"iso6cmfc") + moov


def moof(sequence: int, tfhd: bytes, tfdt: bytes | None, trun: bytes) -> bytes:
    traf = box("traf", tfhd, *([tfdt] if tfdt else []), trun)
    return box("moof", full("mfhd", 0, 0, struct.pack(">I", sequence)), traf)


TFHD = full("tfhd", 0, 0x20000, struct.pack(">I", 1))
TFDT = full("tfdt", 0, 0, bytes(4))
ONE_SAMPLE = full("trun", 0, 0, struct.pack(">I", 1))


def synthetic(tmp_path: Path) -> Path:
    """Three fragments whose durations and sync flags come from trex, tfhd and trun respectively."""
    # 1: styp first; durations from trex; sync from the trun's first-sample-flags.
    trun1 = full("trun", 0, 0x205, struct.pack(">IiI3I", 3, 0, SYNC, 10, 10, 10))
    frag1 = box("styp", b"msdh", bytes(4)) + moof(1, TFHD, TFDT, trun1)
    mdat1 = box("mdat", bytes(30))
    # 2: after a sidx and a free, which belong to no segment; tfhd defaults; a 64-bit mdat size.
    tfhd2 = full("tfhd", 0, 0x20038, struct.pack(">IIII", 1, 1500, 20, NON_SYNC))
    frag2 = moof(
        2, tfhd2, full("tfdt", 0, 0, struct.pack(">I", 9000)), full("trun", 0, 0x001, struct.pack(">Ii", 2, 0))
    )
    mdat2 = struct.pack(">I4sQ", 1, b"mdat", 16 + 40) + bytes(40)
    # 3: per-sample durations and flags; a v1 tfdt; an mdat that runs to the end of the file (size 0).
    trun3 = full("trun", 0, 0x700, struct.pack(">7I", 2, 1000, 5, SYNC, 2000, 5, NON_SYNC))
    tfhd3 = full("tfhd", 0, 0x20020, struct.pack(">II", 1, NON_SYNC))  # overruled by the per-sample flags
    frag3 = moof(3, tfhd3, full("tfdt", 1, 0, struct.pack(">Q", 12000)), trun3)
    mdat3 = struct.pack(">I4s", 0, b"mdat") + bytes(10)
    path = tmp_path / "synthetic.mp4"
    head = init() + box("free", bytes(3))
    path.write_bytes(head + frag1 + mdat1 + box("sidx", bytes(24)) + box("free") + frag2 + mdat2 + frag3 + mdat3)
    return path


def test_hand_built_fragments(tmp_path: Path) -> None:
    path = synthetic(tmp_path)
    data = path.read_bytes()
    track = read_track(path)
    assert track.timescale == 90000
    assert data[track.init_size : track.init_size + 8] == box("free", bytes(3))[:8]  # free after the moov: not init
    first, second, third = track.fragments
    assert data[first.offset + 4 : first.offset + 8] == b"styp"
    assert data[second.offset + 4 : second.offset + 8] == b"moof"
    assert data[second.offset - 8 : second.offset] == box("free")  # skipped, not part of the fragment
    assert third.offset + third.size == len(data)
    assert (first.decode_time, first.duration, first.sample_count, first.starts_with_sync) == (0, 9000, 3, True)
    assert (second.decode_time, second.duration, second.sample_count, second.starts_with_sync) == (9000, 3000, 2, False)
    assert (third.decode_time, third.duration, third.sample_count, third.starts_with_sync) == (12000, 3000, 2, True)
    assert track.duration == 15000


def test_write_segment_patches_tfdt_and_sequence_only(tmp_path: Path) -> None:
    path = synthetic(tmp_path)
    track = read_track(path)
    out = tmp_path / "seg.m4s"
    for fragment, shift in zip(track.fragments, (5, 7, 2**33), strict=True):
        write_segment(path, fragment, out, shift=shift, sequence=41)
        original = path.read_bytes()[fragment.offset : fragment.offset + fragment.size]
        written = out.read_bytes()
        assert len(written) == fragment.size
        again = read_track_of_segment(tmp_path, path, track, written)
        assert again.decode_time == fragment.decode_time + shift
        assert again.duration == fragment.duration
        assert sequence_numbers(out) == [41]
        assert sum(a != b for a, b in zip(original, written, strict=True)) <= 8  # only tfdt and mfhd bytes moved
    with pytest.raises(Fmp4Error, match="version 0"):
        write_segment(path, track.fragments[1], out, shift=2**32, sequence=1)
    with pytest.raises(Fmp4Error):
        write_segment(path, track.fragments[0], out, shift=-1, sequence=1)


def read_track_of_segment(tmp_path: Path, path: Path, track: FragmentedTrack, segment: bytes) -> FragmentInfo:
    joined = tmp_path / "one.mp4"
    joined.write_bytes(init_bytes(path, track) + segment)
    (fragment,) = read_track(joined).fragments
    return fragment


def test_write_segment_copies_large_mdat_in_pieces(tmp_path: Path) -> None:
    body = bytes(range(256)) * 12289  # a little over 3 MiB: several copy buffers
    trun = full("trun", 0, 0x001, struct.pack(">Ii", 1, 0))
    frag = moof(1, TFHD, full("tfdt", 1, 0, struct.pack(">Q", 0)), trun)
    path = tmp_path / "big.mp4"
    path.write_bytes(init() + frag + box("mdat", body))
    (fragment,) = read_track(path).fragments
    out = tmp_path / "big.m4s"
    write_segment(path, fragment, out, shift=3, sequence=9)
    assert out.read_bytes()[len(frag) + 8 :] == body


def one_fragment(tfhd: bytes = TFHD, tfdt: bytes | None = TFDT, trun: bytes = ONE_SAMPLE) -> bytes:
    return init() + moof(1, tfhd, tfdt, trun) + box("mdat", bytes(4))


MALFORMED = {
    "two tracks": (init(traks=2), "exactly one track"),
    "zero timescale": (init(timescale=0), "timescale"),
    "no tfdt": (one_fragment(tfdt=None), "no tfdt"),
    "absolute offsets": (one_fragment(tfhd=full("tfhd", 0, 0x20001, struct.pack(">IQ", 1, 0))), "base-data-offset"),
    "other track": (one_fragment(tfhd=full("tfhd", 0, 0x20000, struct.pack(">I", 2))), "does not declare"),
    "short trun": (one_fragment(trun=full("trun", 0, 0x100, struct.pack(">I", 4))), "too short"),
    "moof without mdat": (init() + box("moof", full("mfhd", 0, 0, bytes(4))), "has no mdat"),
    "stray mdat": (init() + box("mdat", bytes(4)), "belongs to no fragment"),
    "impossible size": (box("ftyp", bytes(8)) + struct.pack(">I4s", 4, b"moov"), "impossible size"),
    "uuid shorter than its usertype": (init() + struct.pack(">I4s", 12, b"uuid") + bytes(4), "impossible size"),
}


@pytest.mark.parametrize(("data", "message"), MALFORMED.values(), ids=MALFORMED.keys())
def test_malformed_boxes_are_refused(tmp_path: Path, data: bytes, message: str) -> None:
    path = tmp_path / "bad.mp4"
    path.write_bytes(data)
    with pytest.raises(Fmp4Error, match=message):
        read_track(path)
