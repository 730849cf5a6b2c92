"""A few fast checks against the layer's real ffmpeg/ffprobe on tiny generated clips."""

from __future__ import annotations

import os
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from lambdas.media import ffmpeg_args as fa
from lambdas.media.errors import MediaError, SourceUnreadable, UnsupportedInput
from lambdas.media.ladder import plan_ladder
from lambdas.media.policy import ValidationPolicy, validate
from lambdas.media.probe import MediaInfo, probe_source
from lambdas.media.runner import run
from tests.media_tools import ffprobe_json
from tests.unit.media.conftest import LAYER_BIN, make_clip

pytestmark = [
    pytest.mark.skipif(not (LAYER_BIN / "ffmpeg").is_file(), reason="ffmpeg layer not built"),
    pytest.mark.usefixtures("layer_path"),
]
POLICY = ValidationPolicy()


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("clips")
    landscape = make_clip(d / "landscape.mp4", "-g", "15", seconds=3)
    rotated = d / "rotated.mp4"
    subprocess.run(
        [
            str(LAYER_BIN / "ffmpeg"),
            "-v",
            "error",
            "-display_rotation",
            "90",
            "-i",
            str(landscape),
            "-c",
            "copy",
            str(rotated),
        ],
        check=True,
    )
    return {"landscape": landscape, "rotated": rotated}


def job_with(tmp_path: Path, content: bytes | Path, name: str = "job") -> Path:
    """A job dir holding the upload under the fixed name the pipeline uses: no user extension."""
    job = tmp_path / name
    job.mkdir()
    source = job / "source"
    source.write_bytes(content.read_bytes() if isinstance(content, Path) else content)
    return source


def encode(source: Path, info: MediaInfo, segment_seconds: float) -> tuple[Path, list[fa.Progress]]:
    rendition = plan_ladder(info, segment_seconds=segment_seconds)[0]
    out = source.parent / rendition.name
    out.mkdir()
    seen: list[fa.Progress] = []
    run(
        fa.hls_argv(source, info, rendition, POLICY, out),
        cwd=source.parent,
        timeout=60,
        on_progress=seen.append,
        duration=info.duration,
    )
    return out, seen


def test_real_probe_and_validate(tmp_path: Path, clips: dict[str, Path]) -> None:
    info = probe_source(job_with(tmp_path, clips["rotated"]), POLICY)
    validate(info, POLICY)
    assert info.demuxer == "mov"
    assert info.video is not None
    assert (info.video.display_width, info.video.display_height) == (240, 320)
    assert info.duration == pytest.approx(3.0, abs=0.1)


def test_rotated_source_becomes_portrait_without_padding_or_rotation(tmp_path: Path, clips: dict[str, Path]) -> None:
    source = job_with(tmp_path, clips["rotated"])
    info = probe_source(source, POLICY)
    out, progress = encode(source, info, segment_seconds=1)
    stream = ffprobe_json(out / "init.mp4", "-show_streams", "-select_streams", "v:0")["streams"][0]
    assert (stream["width"], stream["height"]) == (240, 320)  # scaled straight to the rung: no pad, no crop
    assert stream.get("sample_aspect_ratio", "1:1") == "1:1"
    assert not any(s.get("side_data_type") == "Display Matrix" for s in stream.get("side_data_list", []))
    assert progress[-1].done
    assert progress[-1].percent == 100.0


def test_every_segment_starts_with_a_keyframe(tmp_path: Path, clips: dict[str, Path]) -> None:
    source = job_with(tmp_path, clips["landscape"])
    out, _ = encode(source, probe_source(source, POLICY), segment_seconds=1)
    playlist = (out / "index.m3u8").read_text()
    segments = [line for line in playlist.splitlines() if line.endswith(".m4s")]
    assert len(segments) == 3
    assert playlist.count("#EXTINF:1.000000,") == 3  # GOP grid == segment grid
    init = (out / "init.mp4").read_bytes()
    for name in segments:
        joined = tmp_path / f"{name}.mp4"
        joined.write_bytes(init + (out / name).read_bytes())
        packets = ffprobe_json(joined, "-show_packets", "-select_streams", "v:0")["packets"]
        assert packets[0]["flags"].startswith("K"), name
        assert sum(p["flags"].startswith("K") for p in packets) == 1  # exactly one GOP per segment


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
        probe_source(source, POLICY, timeout=10)
    assert not canary.opened.is_set(), "ffprobe opened a file outside the job dir"
    assert "CANARY" not in str(caught.value) + " ".join(caught.value.stderr_tail)


@pytest.mark.parametrize("demuxer", ["hls", "concat"])
def test_ffmpeg_refuses_them_too_even_if_told_the_demuxer(
    tmp_path: Path, canary: FifoCanary, clips: dict[str, Path], demuxer: str
) -> None:
    kind = "hls media playlist" if demuxer == "hls" else "ffconcat absolute"
    source = job_with(tmp_path, payloads(canary.path)[kind])
    real = probe_source(job_with(tmp_path, clips["landscape"], name="real"), POLICY)
    forged = real.model_copy(update={"format_name": demuxer})
    rendition = plan_ladder(forged)[0]
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(UnsupportedInput):
        run(fa.hls_argv(source, forged, rendition, POLICY, out), cwd=source.parent, timeout=10)
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
        probe_source(job_with(tmp_path, data[: len(data) * 6 // 10]), POLICY)
    assert any("moov atom not found" in line for line in caught.value.stderr_tail)


def test_empty_source_is_unreadable(tmp_path: Path) -> None:
    with pytest.raises(SourceUnreadable, match="empty"):
        probe_source(job_with(tmp_path, b""), POLICY)


def test_not_a_video_is_unsupported(tmp_path: Path) -> None:
    with pytest.raises(UnsupportedInput) as caught:
        probe_source(job_with(tmp_path, b"hello, this is a text document\n" * 100), POLICY)
    assert caught.value.stderr_tail


def test_thumbnails_sprite_and_fallback(tmp_path: Path, clips: dict[str, Path]) -> None:
    source = job_with(tmp_path, clips["landscape"])
    info = probe_source(source, POLICY)
    out = tmp_path / "thumbs"
    out.mkdir()
    run(fa.poster_argv(source, info, POLICY, out / "poster.jpg", at=1.0), cwd=source.parent, timeout=30)
    run(
        fa.thumbnails_argv(source, info, POLICY, out, fa.thumbnail_times(info.duration, 3)),
        cwd=source.parent,
        timeout=30,
    )
    plan = fa.plan_sprite(info, interval=0.5, columns=4, rows=2, tile_width=80)
    assert (plan.count, plan.sheets) == (6, 1)  # a partly filled sheet must still be written
    run(fa.sprite_argv(source, info, POLICY, plan, out), cwd=source.parent, timeout=30)
    jpegs = sorted(p.name for p in out.iterdir())
    assert jpegs == ["poster.jpg", "sprite_000.jpg", "thumb_00000.jpg", "thumb_00001.jpg", "thumb_00002.jpg"]
    assert all((out / name).read_bytes()[:2] == b"\xff\xd8" for name in jpegs)
    sheet = ffprobe_json(out / "sprite_000.jpg", "-show_streams")["streams"][0]
    assert (sheet["width"], sheet["height"]) == (4 * 80, 2 * 60)


def test_master_playlist_from_measured_output(tmp_path: Path, clips: dict[str, Path]) -> None:
    source = job_with(tmp_path, clips["landscape"])
    info = probe_source(source, POLICY)
    out, _ = encode(source, info, segment_seconds=1)
    rendition = plan_ladder(info, segment_seconds=1)[0]
    sizes = {p.name: p.stat().st_size for p in out.glob("*.m4s")}
    peak, average = fa.measure_media_playlist((out / "index.m3u8").read_text(), sizes)
    first = tmp_path / "first.mp4"  # init alone has no samples, so no profile/level to report
    first.write_bytes((out / "init.mp4").read_bytes() + (out / "seg_00000.m4s").read_bytes())
    stream = ffprobe_json(first, "-show_streams", "-select_streams", "v:0")["streams"][0]
    measured = fa.MeasuredRendition(
        uri=f"{rendition.name}/index.m3u8",
        peak_bps=peak,
        average_bps=average,
        width=stream["width"],
        height=stream["height"],
        frame_rate=rendition.frame_rate,
        profile=stream["profile"],
        level=stream["level"],
    )
    text = fa.master_playlist([rendition], {rendition.name: measured})
    assert stream["profile"] == "High"
    assert fa.avc1_codec(stream["profile"], stream["level"]) == stream["mime_codec_string"]
    assert f'CODECS="{stream["mime_codec_string"]},mp4a.40.2"' in text
    assert "RESOLUTION=320x240" in text
    assert 0 < average <= peak


def test_codec_whitelist_and_max_pixels_bind_the_decoder(tmp_path: Path, clips: dict[str, Path]) -> None:
    source = job_with(tmp_path, clips["landscape"])
    info = probe_source(source, POLICY)
    rendition = plan_ladder(info)[0]
    for name, policy in [
        ("codec", ValidationPolicy(allowed_video_codecs=("hevc",))),
        ("pixels", ValidationPolicy(max_width=100, max_height=100)),
    ]:
        out = tmp_path / name
        out.mkdir()
        with pytest.raises(MediaError) as caught:
            run(fa.hls_argv(source, info, rendition, policy, out), cwd=source.parent, timeout=30)
        assert any("Error while opening decoder" in line for line in caught.value.stderr_tail), name
        assert not list(out.glob("*.m4s"))


def test_mp4_fallback_remux_of_hls_segments_is_progressive_and_complete(tmp_path: Path, clips: dict[str, Path]) -> None:
    source = job_with(tmp_path, clips["landscape"])
    info = probe_source(source, POLICY)
    out, _ = encode(source, info, segment_seconds=1)
    joined = tmp_path / "joined.mp4"
    segments = sorted(out.glob("seg_*.m4s"))
    joined.write_bytes(b"".join(p.read_bytes() for p in [out / "init.mp4", *segments]))
    fallback = tmp_path / "fallback.mp4"
    run(fa.mp4_remux_argv(joined, fallback), cwd=tmp_path, timeout=30)
    head = fallback.read_bytes()
    assert head.index(b"moov") < head.index(b"mdat")  # faststart: the index first
    assert b"moof" not in head  # no longer fragmented
    probed = ffprobe_json(fallback, "-show_format", "-show_streams")
    assert float(probed["format"]["duration"]) == pytest.approx(info.duration, abs=0.1)
    assert sorted(s["codec_type"] for s in probed["streams"]) == ["audio", "video"]
