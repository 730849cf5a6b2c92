"""Several audio tracks through the layer's real ffmpeg: one piece and one AAC encode each, stereo at 48 kHz,
the centre channel kept in a downmix, a late track's offset kept."""

from __future__ import annotations

import array
import math
import subprocess
from pathlib import Path

import pytest

from lambdas.media import ffmpeg_args as fa
from lambdas.media.audio_tracks import AudioChoice, choose_audio
from lambdas.media.ladder import plan_ladder
from lambdas.media.policy import ValidationPolicy, validate
from lambdas.media.probe import MediaInfo, probe_source
from lambdas.media.runner import run
from tests.media_tools import ffprobe_json
from tests.unit.media.conftest import LAYER_BIN

pytestmark = [
    pytest.mark.skipif(not (LAYER_BIN / "ffmpeg").is_file(), reason="ffmpeg layer not built"),
    pytest.mark.usefixtures("layer_path"),
]
POLICY = ValidationPolicy()
SECONDS = 2
LATE_S = 1.5
TONE_RMS = 0.125 / math.sqrt(2)  # lavfi sine's amplitude is 1/8
PRIMING_S = fa.AAC_PRIMING_SAMPLES / 48000  # our fragmented AAC has no edit list: decoded, it comes first


def ffmpeg(*args: str) -> None:
    subprocess.run([str(LAYER_BIN / "ffmpeg"), "-hide_banner", "-v", "error", "-y", *args], check=True)


def tone(rate: int, seconds: float = SECONDS, frequency: int = 1000) -> list[str]:
    return ["-f", "lavfi", "-i", f"sine=frequency={frequency}:sample_rate={rate}:duration={seconds}"]


@pytest.fixture(scope="module")
def three_languages(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2 s MP4: English 5.1 with the tone on the centre only, French mono 8 kHz (flagged default), and a
    track of unknown language that starts 1.5 s in."""
    out = tmp_path_factory.mktemp("languages") / "source.mp4"
    ffmpeg(
        "-f", "lavfi", "-i", f"testsrc2=size=160x120:rate=30:duration={SECONDS}",
        *tone(48000), *tone(8000, frequency=500),
        "-itsoffset", str(LATE_S), *tone(44100, SECONDS - LATE_S, frequency=700),
        "-filter_complex", "[1:a]pan=5.1|FC=c0[centre]",
        "-map", "0:v", "-map", "[centre]", "-map", "2:a", "-map", "3:a",
        "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac",
        "-metadata:s:a:0", "language=eng", "-metadata:s:a:1", "language=fra",
        "-metadata:s:a:2", "language=und",
        "-disposition:a:0", "0", "-disposition:a:1", "default", "-disposition:a:2", "0",
        str(out),
    )  # fmt: skip
    return out


@pytest.fixture(scope="module")
def surround_hi_res(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2 s Matroska with 7.1 PCM at 96 kHz, the tone on the centre only, tagged (Matroska keeps titles)."""
    out = tmp_path_factory.mktemp("surround") / "source.mkv"
    ffmpeg(
        "-f", "lavfi", "-i", f"testsrc2=size=160x120:rate=30:duration={SECONDS}", *tone(96000),
        "-filter_complex", "[1:a]pan=7.1|FC=c0[centre]", "-map", "0:v", "-map", "[centre]",
        "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "pcm_s24le",
        "-metadata:s:a:0", "language=deu", "-metadata:s:a:0", "title=Kinomischung 7.1",
        str(out),
    )  # fmt: skip
    return out


def encode_track(source: Path, info: MediaInfo, choice: AudioChoice) -> Path:
    """What ProbeSource and EncodeChunk run for one track: its piece, then its AAC encode."""
    piece = source.parent / f"{choice.track}.mka"
    run(fa.audio_piece_argv(source, info, POLICY, piece, stream=choice.stream), cwd=source.parent, timeout=30)
    out = source.parent / f"{choice.track}.mp4"
    (rendition, *_) = plan_ladder(info, segment_seconds=0.5)
    argv = fa.audio_argv(
        piece, info, POLICY, rendition, out, start=info.start_time, duration=info.duration or 0, fragment_s=0.5
    )
    run(argv, cwd=source.parent, timeout=60)
    return out


def channels(path: Path) -> tuple[array.array[float], array.array[float]]:
    """Both channels of the decoded output as floats, at its own rate (48 kHz)."""
    pcm = subprocess.run(
        [str(LAYER_BIN / "ffmpeg"), "-v", "error", "-i", str(path), "-map", "0:a:0", "-f", "f32le", "-"],
        capture_output=True,
        check=True,
    ).stdout
    samples = array.array("f", pcm)
    return samples[0::2], samples[1::2]


def rms(samples: array.array[float], start_s: float = 0.0, end_s: float | None = None) -> float:
    part = samples[round(start_s * 48000) : None if end_s is None else round(end_s * 48000)]
    return math.sqrt(sum(x * x for x in part) / len(part))


def onset(samples: array.array[float]) -> float:
    """When the first loud sample plays, in seconds of the decoded output."""
    return next(i for i, x in enumerate(samples) if abs(x) > 0.05) / 48000


def db(ratio: float) -> float:
    return 20 * math.log10(ratio)


def test_every_track_becomes_stereo_48k_with_its_own_offset(three_languages: Path) -> None:
    info = probe_source(three_languages, POLICY.format_whitelist)
    validate(info, POLICY)
    chosen = choose_audio(info.audio)
    assert [(c.track, c.name, c.language) for c in chosen] == [
        ("audio", "fr", "fr"),  # the default first
        ("audio-1", "en", "en"),
        ("audio-2", "audio", None),
    ]
    late = chosen[2].start_time
    assert late is not None
    assert late == pytest.approx(LATE_S - 1024 / 44100, abs=0.002)  # the source's own priming before it
    levels = {}
    for choice in chosen:
        out = encode_track(three_languages, info, choice)
        (stream,) = ffprobe_json(out, "-show_streams")["streams"]
        assert (stream["codec_name"], stream["channels"], stream["sample_rate"]) == ("aac", 2, "48000")
        left, right = channels(out)
        assert len(left) / 48000 == pytest.approx(SECONDS + PRIMING_S, abs=0.03)  # as long as the video
        levels[choice.track] = (db(rms(left, 0.1) / TONE_RMS), db(rms(right, 0.1) / TONE_RMS))
        if choice.track == "audio-2":
            # Silence until 1.5 s into the video, then the tone: the offset kept, not closed up.
            assert rms(left, 0.0, LATE_S - 0.1) < 1e-3
            assert onset(left) - PRIMING_S == pytest.approx(LATE_S, abs=0.01)
            assert onset(right) == onset(left)
        else:
            assert onset(left) - PRIMING_S == pytest.approx(0.0, abs=0.01)  # an on-time track stays on time
    # The 5.1 track's centre, and the mono track, each in both channels at -3 dB (the matrix's 1/sqrt(2)).
    for track in ("audio", "audio-1"):
        left_db, right_db = levels[track]
        assert left_db == pytest.approx(-3.0, abs=0.5)
        assert right_db == pytest.approx(left_db, abs=0.1)


def test_a_7_1_centre_at_96k_is_downmixed_into_both_sides_at_48k(surround_hi_res: Path) -> None:
    info = probe_source(surround_hi_res, POLICY.format_whitelist)
    validate(info, POLICY)
    (choice,) = choose_audio(info.audio)
    assert (choice.track, choice.name, choice.language) == ("audio", "de - Kinomischung 7.1", "de")
    assert (info.audio[0].channels, info.audio[0].sample_rate) == (8, 96000)
    out = encode_track(surround_hi_res, info, choice)
    (stream,) = ffprobe_json(out, "-show_streams")["streams"]
    assert (stream["channels"], stream["sample_rate"]) == (2, "48000")
    left, right = channels(out)
    assert db(rms(left, 0.1) / TONE_RMS) == pytest.approx(-3.0, abs=0.5)
    assert db(rms(right, 0.1) / TONE_RMS) == pytest.approx(db(rms(left, 0.1) / TONE_RMS), abs=0.1)
