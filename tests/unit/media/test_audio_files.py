"""The audio downloads: command lines as data, loudnorm's report parsed, and the layer's real ffmpeg making every
format from sources of several layouts, rates and containers, loudness checked by an independent meter (ebur128)."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from lambdas.jobs.model import OutputKind
from lambdas.media import audio_files as af
from lambdas.media.ffmpeg_args import audio_piece_argv
from lambdas.media.policy import ValidationPolicy
from lambdas.media.probe import MediaInfo, probe_source
from lambdas.media.runner import run
from tests.media_tools import ffprobe_json
from tests.unit.media.conftest import LAYER_BIN

POLICY = ValidationPolicy(allowed_formats=(*ValidationPolicy().allowed_formats, "mp3", "wav", "flac"))
ALL = (OutputKind.AUDIO, OutputKind.MP3, OutputKind.WAV16K)

# What ffmpeg 6.0 logs at the end of a first pass over two mixes (the runner keeps non-empty lines).
TAIL = (
    "video:0kB audio:4500kB subtitle:0kB other streams:0kB global headers:0kB muxing overhead: unknown",
    "[mono @ 0x34d08c80] ",
    "{",
    '\t"input_i" : "-29.75",',
    '\t"input_tp" : "-20.35",',
    '\t"input_lra" : "0.00",',
    '\t"input_thresh" : "-39.75",',
    '\t"output_i" : "-16.00",',
    '\t"output_tp" : "-6.61",',
    '\t"output_lra" : "0.00",',
    '\t"output_thresh" : "-26.00",',
    '\t"normalization_type" : "dynamic",',
    '\t"target_offset" : "0.00"',
    "}",
    "[stereo @ 0x3ad04000] ",
    "{",
    '\t"input_i" : "-inf",',
    '\t"input_tp" : "-inf",',
    '\t"input_lra" : "0.00",',
    '\t"input_thresh" : "-70.00",',
    '\t"output_i" : "-inf",',
    '\t"output_tp" : "-inf",',
    '\t"output_lra" : "0.00",',
    '\t"output_thresh" : "-70.00",',
    '\t"normalization_type" : "dynamic",',
    '\t"target_offset" : "0.00"',
    "}",
)


def info(rate: int = 44100, channels: int = 6) -> MediaInfo:
    return MediaInfo.model_validate(
        {
            "format_name": "matroska,webm",
            "duration": 4.0,
            "audio": [{"index": 0, "codec": "flac", "channels": channels, "sample_rate": rate}],
        }
    )


def outputs(tmp: Path, kinds: tuple[OutputKind, ...] = ALL) -> list[tuple[OutputKind, Path]]:
    return [(kind, tmp / af.ENCODINGS[kind].file_name) for kind in kinds]


def after(argv: list[str], flag: str) -> list[str]:
    return [argv[i + 1] for i, value in enumerate(argv) if value == flag]


# --- data -------------------------------------------------------------------------------------------


def test_every_audio_output_has_an_encoding_and_a_fixed_order() -> None:
    assert af.audio_kinds([OutputKind.WAV16K, OutputKind.HLS, OutputKind.AUDIO]) == (
        OutputKind.AUDIO,
        OutputKind.WAV16K,
    )
    assert af.audio_kinds([OutputKind.HLS, OutputKind.MP4]) == ()
    assert len({e.file_name for e in af.ENCODINGS.values()}) == 3


def test_one_process_makes_every_file_each_with_its_codec_rate_and_channels(tmp_path: Path) -> None:
    argv = af.encode_argv(
        tmp_path / "p.mka", info(), POLICY, outputs(tmp_path), start=0.5, duration=4.0, source_rate=44100
    )
    assert argv.count("-i") == 1  # one decode
    assert after(argv, "-c:a") == ["aac", "libmp3lame", "pcm_s16le"]
    assert after(argv, "-ar") == ["48000", "44100", "16000"]  # MP3 keeps a 44.1 kHz source's rate
    assert after(argv, "-ac") == ["2", "2", "1"]
    assert after(argv, "-f")[-3:] == ["ipod", "mp3", "wav"]
    graph = after(argv, "-filter_complex")[0]
    assert graph.startswith("[0:a:0]asetpts=PTS-0.500000/TB,aresample=async=1:first_pts=0,asplit=2")
    assert "[stereo]aformat=channel_layouts=stereo,asplit=2[stereo0][stereo1]" in graph
    assert "[mono16k]aresample=16000,aformat=channel_layouts=mono,asplit=1[mono16k0]" in graph
    assert "loudnorm" not in graph
    assert after(argv, "-v") == ["error"]


def test_rates_outside_a_formats_own_are_resampled_and_the_preset_sets_the_aac_bitrate(tmp_path: Path) -> None:
    argv = af.encode_argv(
        tmp_path / "p.mka",
        info(rate=96000),
        POLICY,
        outputs(tmp_path, (OutputKind.AUDIO, OutputKind.MP3)),
        start=0,
        duration=4.0,
        source_rate=96000,
        aac_bitrate_kbps=192,
    )
    assert after(argv, "-ar") == ["48000", "48000"]
    assert after(argv, "-b:a") == ["192k", "192k"]
    assert "mono16k" not in after(argv, "-filter_complex")[0]  # no mix that nothing needs


def test_the_report_of_each_mix_is_found_by_its_name_and_silence_is_silent() -> None:
    reports = af.parse_loudnorm(TAIL)
    assert set(reports) == {"mono", "stereo"}
    assert (reports["mono"].input_i, reports["mono"].input_thresh) == (-29.75, -39.75)
    assert not reports["mono"].silent
    assert reports["stereo"].silent
    assert af.parse_loudnorm(("no report here", "{ broken")) == {}


def test_the_second_pass_applies_the_measured_values_linearly_and_skips_silent_mixes(tmp_path: Path) -> None:
    reports = af.parse_loudnorm(TAIL)
    argv = af.encode_argv(
        tmp_path / "p.mka", info(), POLICY, outputs(tmp_path), start=0, duration=4, source_rate=44100, loudness=reports
    )
    graph = after(argv, "-filter_complex")[0]
    mono = re.search(r"loudnorm@mono=([^,\[]+)", graph)
    assert mono is not None
    assert mono[1] == (
        "I=-16:TP=-1.5:LRA=11:measured_I=-29.75:measured_TP=-20.35:measured_LRA=0.01"
        ":measured_thresh=-39.75:offset=0.00:linear=true:print_format=json"
    )
    assert "loudnorm@stereo" not in graph  # silent: nothing to normalise
    assert after(argv, "-v") == ["info"]  # the report is logged at info level


def test_the_first_pass_measures_each_needed_mix_once_and_writes_nothing(tmp_path: Path) -> None:
    argv = af.measure_argv(tmp_path / "p.mka", info(), POLICY, ALL, start=0, duration=4)
    graph = after(argv, "-filter_complex")[0]
    assert graph.count("loudnorm@") == 2
    assert after(argv, "-f")[-2:] == ["null", "null"]
    argv = af.measure_argv(tmp_path / "p.mka", info(), POLICY, (OutputKind.MP3,), start=0, duration=4)
    assert after(argv, "-filter_complex")[0].count("loudnorm@") == 1


def test_cost_grows_with_the_outputs_and_with_loudnorm() -> None:
    one = af.downloads_cost((OutputKind.AUDIO,), loudnorm=False, duration_s=60)
    every = af.downloads_cost(ALL, loudnorm=False, duration_s=60)
    normalised = af.downloads_cost(ALL, loudnorm=True, duration_s=60)
    assert 0 < one < every < normalised
    assert af.downloads_cost(ALL, loudnorm=True, duration_s=120) == pytest.approx(2 * normalised)


# --- the real ffmpeg ------------------------------------------------------------------------------


def ffmpeg(*args: str) -> None:
    subprocess.run([str(LAYER_BIN / "ffmpeg"), "-hide_banner", "-nostdin", "-v", "error", "-y", *args], check=True)


EBUR128 = ("-af", "ebur128=framelog=quiet", "-f", "null", "-")


def integrated_lufs(path: Path) -> float:
    """An independent meter: ebur128 (BS.1770-4), not loudnorm."""
    out = subprocess.run(
        [str(LAYER_BIN / "ffmpeg"), "-hide_banner", "-nostdin", "-nostats", "-i", str(path), *EBUR128],
        capture_output=True,
        text=True,
        check=True,
    ).stderr
    return float(re.findall(r"I:\s+(-?[\d.]+|-inf) LUFS", out)[-1])


# Programme-like material: pink noise under a tone (white noise would put most of its loudness above the AAC
# encoder's 16 kHz low-pass, and measure quieter after it for that reason alone).
def programme(rate: int, seconds: float, layout: str, gain_db: float) -> list[str]:
    noise = f"anoisesrc=r={rate}:d={seconds}:a=0.1:color=pink:seed=7"
    tone = f"sine=f=440:r={rate}:d={seconds}"
    return [
        "-f", "lavfi", "-i", noise, "-f", "lavfi", "-i", tone,
        "-filter_complex", f"[0][1]amix=inputs=2:normalize=0,volume={gain_db}dB,aformat=channel_layouts={layout}[a]",
        "-map", "[a]",
    ]  # fmt: skip


SOURCES = {
    # name: (encoder arguments, file name, sample rate, layout, level in dB: none of them near -16 LUFS)
    "mp3-44k-stereo": (["-c:a", "libmp3lame", "-b:a", "128k"], "s.mp3", 44100, "stereo", -30.0),
    "flac-96k-5.1": (["-c:a", "flac"], "s.flac", 96000, "5.1", -35.0),
    "wav-8k-mono": (["-c:a", "pcm_s16le"], "s.wav", 8000, "mono", -12.0),
}


@pytest.fixture(scope="module", params=sorted(SOURCES))
def source(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path, MediaInfo]:
    codec, name, rate, layout, gain = SOURCES[request.param]
    tmp = tmp_path_factory.mktemp(request.param)
    path = tmp / name
    ffmpeg(*programme(rate, 3, layout, gain), *codec, str(path))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PATH", f"{LAYER_BIN}{os.pathsep}{os.environ.get('PATH', '')}")
        media = probe_source(path, POLICY.format_whitelist, run)
        piece = tmp / "audio.mka"
        run(audio_piece_argv(path, media, POLICY, piece), cwd=tmp, timeout=60)
    return request.param, piece, media


@pytest.mark.parametrize("loudnorm", [False, True], ids=["as-is", "loudnorm"])
@pytest.mark.usefixtures("layer_path")
@pytest.mark.skipif(not (LAYER_BIN / "ffmpeg").is_file(), reason="ffmpeg layer not built")
def test_every_format_from_every_source_probes_as_promised(
    source: tuple[str, Path, MediaInfo], loudnorm: bool, tmp_path: Path
) -> None:
    name, piece, media = source
    rate = media.audio[0].sample_rate
    reports = None
    if loudnorm:
        first = run(
            af.measure_argv(piece, media, POLICY, ALL, start=media.start_time, duration=3.0), cwd=tmp_path, timeout=60
        )
        reports = af.parse_loudnorm(first.stderr_tail)
        assert set(reports) == {"stereo", "mono"}
    files = outputs(tmp_path)
    second = run(
        af.encode_argv(
            piece, media, POLICY, files, start=media.start_time, duration=3.0, source_rate=rate, loudness=reports
        ),
        cwd=tmp_path,
        timeout=60,
    )
    expected = {
        OutputKind.AUDIO: ("aac", "LC", 48000, 2, "mov,mp4,m4a,3gp,3g2,mj2"),
        OutputKind.MP3: ("mp3", None, 44100 if rate == 44100 else 48000, 2, "mp3"),
        OutputKind.WAV16K: ("pcm_s16le", None, 16000, 1, "wav"),
    }
    for kind, path in files:
        probed = ffprobe_json(path, "-show_streams", "-show_format")
        (stream,) = probed["streams"]
        codec, profile, out_rate, channels, container = expected[kind]
        assert (stream["codec_name"], int(stream["sample_rate"]), stream["channels"]) == (codec, out_rate, channels)
        assert probed["format"]["format_name"] == container
        if profile:
            assert stream["profile"] == profile
        assert float(probed["format"]["duration"]) == pytest.approx(3.0, abs=0.06), (name, kind)
    if loudnorm:
        applied = af.parse_loudnorm(second.stderr_tail)
        assert {r.normalization_type for r in applied.values()} == {"linear"}, applied
        for kind, path in files:
            # Within 1 LU of the target, whatever the source's level and layout (its own level is 4+ LU away).
            assert integrated_lufs(path) == pytest.approx(af.DEFAULT_TARGET.integrated_lufs, abs=1.0), (name, kind)
    else:
        stereo = integrated_lufs(files[0][1])
        assert abs(stereo - af.DEFAULT_TARGET.integrated_lufs) > 4, (name, stereo)


@pytest.mark.usefixtures("layer_path")
@pytest.mark.skipif(not (LAYER_BIN / "ffmpeg").is_file(), reason="ffmpeg layer not built")
def test_silence_is_measured_as_silent_and_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "silence.wav"
    ffmpeg("-f", "lavfi", "-i", "anullsrc=r=48000:cl=stereo", "-t", "2", "-c:a", "pcm_s16le", str(path))
    media = probe_source(path, POLICY.format_whitelist, run)
    piece = tmp_path / "audio.mka"
    run(audio_piece_argv(path, media, POLICY, piece), cwd=tmp_path, timeout=60)
    first = run(af.measure_argv(piece, media, POLICY, ALL, start=0, duration=2.0), cwd=tmp_path, timeout=60)
    reports = af.parse_loudnorm(first.stderr_tail)
    assert set(reports) == {"stereo", "mono"}
    assert all(r.silent for r in reports.values())
    files = outputs(tmp_path)
    argv = af.encode_argv(piece, media, POLICY, files, start=0, duration=2.0, source_rate=48000, loudness=reports)
    assert "loudnorm" not in after(argv, "-filter_complex")[0]
    run(argv, cwd=tmp_path, timeout=60)
    assert all(path.stat().st_size > 0 for _, path in files)


@pytest.mark.usefixtures("layer_path")
@pytest.mark.skipif(not (LAYER_BIN / "ffmpeg").is_file(), reason="ffmpeg layer not built")
def test_a_late_track_keeps_its_offset_in_the_downloads(tmp_path: Path) -> None:
    """A transcript's times are the video's: a track starting 1 s after the container keeps 1 s of silence."""
    path = tmp_path / "late.mkv"
    ffmpeg(
        "-f", "lavfi", "-i", "testsrc2=size=160x120:rate=25:duration=3",
        "-itsoffset", "1", "-f", "lavfi", "-i", "sine=f=1000:r=48000:d=2",
        "-map", "0:v", "-map", "1:a", "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "flac", str(path),
    )  # fmt: skip
    media = probe_source(path, POLICY.format_whitelist, run)
    piece = tmp_path / "audio.mka"
    run(audio_piece_argv(path, media, POLICY, piece), cwd=tmp_path, timeout=60)
    wav = tmp_path / "a.wav"
    run(
        af.encode_argv(
            piece, media, POLICY, [(OutputKind.WAV16K, wav)], start=media.start_time, duration=3.0, source_rate=48000
        ),
        cwd=tmp_path,
        timeout=60,
    )
    samples = wav.read_bytes()[44:]  # canonical 44-byte header (-bitexact)
    quiet, loud = samples[: 2 * 15000], samples[2 * 17000 : 2 * 30000]  # 0-0.94 s, 1.06-1.9 s
    assert max(abs(int.from_bytes(quiet[i : i + 2], "little", signed=True)) for i in range(0, len(quiet), 2)) < 50
    assert max(abs(int.from_bytes(loud[i : i + 2], "little", signed=True)) for i in range(0, len(loud), 2)) > 1000
