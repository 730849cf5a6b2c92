"""The audio downloads of a job (M4A, MP3, 16 kHz WAV): their encodings, EBU R128 loudness, ffmpeg command lines.

All of them come from one decode of the default track's piece (lossless FLAC, cut by ProbeSource), split into
mixes: a stereo mix for the M4A and the MP3, a mono mix at 16 kHz for the WAV. Loudness normalisation
(`loudnorm`, two passes) measures each mix once, in one process, then applies the measured values
(`linear=true`: one gain for the whole file, unless that gain would push the true peak over the target, when
loudnorm falls back to its dynamic mode and says so), so every file of a mix has the loudness of its mix
whatever its codec. Each mix is measured as it is heard: the stereo downmix, and the 16 kHz mono (what is
left of the loudness after a mono fold-down and a 8 kHz band limit depends on the material, so it gets its own).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from lambdas.jobs.model import AUDIO_OUTPUTS, OutputKind
from lambdas.media.ffmpeg_args import (
    FFMPEG,
    PIECE_DEMUXER,
    PIECE_FORMATS,
    ffmpeg_head,
    input_args,
)
from lambdas.media.policy import ValidationPolicy
from lambdas.media.probe import MediaInfo

Mix = Literal["stereo", "mono16k"]  # a filter instance name too: the loudnorm report is found by it
# How each mix is made from the decoded track (libswresample's matrix in float: nothing clips, nothing is
# normalised; to stereo the centre and each surround at -3 dB, the LFE dropped; stereo to mono L/2 + R/2).
_MIX_FILTERS: dict[Mix, str] = {
    "stereo": "aformat=channel_layouts=stereo",
    "mono16k": "aresample=16000,aformat=channel_layouts=mono",
}
# Silence (or nearly): BS.1770's absolute gate. Nothing to normalise; loudnorm would only raise the noise.
SILENT_LUFS = -70.0


class AudioEncoding(BaseModel):
    """One audio download: how it is encoded and stored, and what ffprobe must find in it."""

    model_config = ConfigDict(frozen=True)

    kind: OutputKind
    file_name: str  # under keys.audio_prefix; also the download's name suffix
    content_type: str
    mix: Mix
    encoder: str
    codec_name: str  # what ffprobe reports for it
    channels: int
    sample_rates: tuple[int, ...]  # accepted rates, the preferred first: the source's is kept if listed
    bitrate_kbps: int | None = None  # None: lossless, or the caller's (the M4A takes the preset's)
    muxer: str
    extra: tuple[str, ...] = ()

    def sample_rate(self, source_rate: int | None) -> int:
        """The output rate: the source's when this format takes it (no resampling), else the preferred one."""
        return source_rate if source_rate in self.sample_rates else self.sample_rates[0]


ENCODINGS: dict[OutputKind, AudioEncoding] = {
    # AAC-LC, the profile every player decodes; index first so a download starts playing at once.
    OutputKind.AUDIO: AudioEncoding(
        kind=OutputKind.AUDIO,
        file_name="audio.m4a",
        content_type="audio/mp4",
        mix="stereo",
        encoder="aac",
        codec_name="aac",
        channels=2,
        sample_rates=(48000,),
        bitrate_kbps=128,
        muxer="ipod",
        extra=("-profile:a", "aac_low", "-movflags", "+faststart"),
    ),
    # LAME at 192 kb/s CBR (transparent for most listeners, a size every tool can seek in); MP3's own
    # rates 44.1 and 48 kHz: a 44.1 kHz source (most MP3s, CDs) is not resampled.
    OutputKind.MP3: AudioEncoding(
        kind=OutputKind.MP3,
        file_name="audio.mp3",
        content_type="audio/mpeg",
        mix="stereo",
        encoder="libmp3lame",
        codec_name="mp3",
        channels=2,
        sample_rates=(48000, 44100),
        bitrate_kbps=192,
        muxer="mp3",
        extra=("-write_xing", "1", "-id3v2_version", "0"),
    ),
    # What speech-to-text engines read (Whisper, Amazon Transcribe, Vosk): 16-bit PCM, 16 kHz, one channel.
    OutputKind.WAV16K: AudioEncoding(
        kind=OutputKind.WAV16K,
        file_name="audio-16k.wav",
        content_type="audio/wav",
        mix="mono16k",
        encoder="pcm_s16le",
        codec_name="pcm_s16le",
        channels=1,
        sample_rates=(16000,),
        muxer="wav",
        extra=("-bitexact",),
    ),
}
assert set(ENCODINGS) == AUDIO_OUTPUTS


def audio_kinds(requested: Iterable[OutputKind]) -> tuple[OutputKind, ...]:
    """The audio downloads among a job's requested outputs, in a fixed order (audio, mp3, wav16k)."""
    asked = set(requested)
    return tuple(kind for kind in ENCODINGS if kind in asked)


class LoudnessTarget(BaseModel):
    """EBU R128 / ITU-R BS.1770 loudness to normalise to.

    -16 LUFS, not broadcast's -23: these files are played on phones and laptops next to podcasts and music
    streams, which sit at -14 to -16 LUFS (AES TD1004 recommends -16 for streamed and downloaded audio, Apple
    Podcasts asks -16); a -23 LUFS file there sounds about 7 dB quieter than everything around it. -1.5 dBTP
    leaves the AAC and MP3 encoders room for their overshoot; LRA 11 LU is loudnorm's default (speech and most
    music stay in linear mode).
    """

    model_config = ConfigDict(frozen=True)

    integrated_lufs: Annotated[float, Field(ge=-70, le=-5)] = -16.0
    true_peak_dbtp: Annotated[float, Field(ge=-9, le=0)] = -1.5
    lra_lu: Annotated[float, Field(ge=1, le=50)] = 11.0

    def options(self) -> str:
        return f"I={self.integrated_lufs:g}:TP={self.true_peak_dbtp:g}:LRA={self.lra_lu:g}"


DEFAULT_TARGET = LoudnessTarget()


class LoudnessReport(BaseModel):
    """What loudnorm printed for one mix (`print_format=json`): the input's loudness, and on the second pass
    what it made of it and how (`linear`, or `dynamic` when one gain could not reach the target)."""

    model_config = ConfigDict(frozen=True)

    input_i: float
    input_tp: float
    input_lra: float
    input_thresh: float
    output_i: float
    output_tp: float
    normalization_type: str
    target_offset: float

    @property
    def silent(self) -> bool:
        return not math.isfinite(self.input_i) or self.input_i <= SILENT_LUFS


_REPORT = re.compile(r"\[(?P<name>[a-z0-9]+) @ 0x[0-9a-fA-F]+\]\s*(?P<body>\{[^{}]*\})", re.DOTALL)


def parse_loudnorm(stderr_lines: Sequence[str]) -> dict[str, LoudnessReport]:
    """Every loudnorm report in ffmpeg's log, by the filter instance's name (the mix): the last one of each."""
    found: dict[str, LoudnessReport] = {}
    for match in _REPORT.finditer("\n".join(stderr_lines)):
        try:
            values = json.loads(match["body"])
        except ValueError:
            continue
        found[match["name"]] = LoudnessReport(
            input_i=_number(values.get("input_i")),
            input_tp=_number(values.get("input_tp")),
            input_lra=_number(values.get("input_lra")),
            input_thresh=_number(values.get("input_thresh")),
            output_i=_number(values.get("output_i")),
            output_tp=_number(values.get("output_tp")),
            normalization_type=str(values.get("normalization_type", "")),
            target_offset=_number(values.get("target_offset")),
        )
    return found


def _number(value: object) -> float:
    """loudnorm's numbers are strings, "-inf" for silence."""
    try:
        return float(str(value))
    except ValueError:
        return math.nan


def mixes_of(kinds: Sequence[OutputKind]) -> tuple[Mix, ...]:
    """The mixes the outputs need, in a fixed order."""
    needed = {ENCODINGS[kind].mix for kind in kinds}
    return tuple(mix for mix in _MIX_FILTERS if mix in needed)


def _apply(target: LoudnessTarget, measured: LoudnessReport) -> str:
    """The second pass's loudnorm: the first pass's measurements (clamped to what the filter accepts).

    loudnorm reads a measured LRA of 0 as "not given" and then refuses linear mode (FFmpeg 6.0, measured on a
    steady tone): a programme with no loudness range at all is passed as 0.01 LU, the same thing in practice.
    """

    def clamp(value: float, low: float, high: float) -> str:
        return f"{min(high, max(low, value)):.2f}"

    return (
        f"{target.options()}:measured_I={clamp(measured.input_i, -99, 0)}"
        f":measured_TP={clamp(measured.input_tp, -99, 99)}:measured_LRA={clamp(measured.input_lra, 0.01, 99)}"
        f":measured_thresh={clamp(measured.input_thresh, -99, 0)}:offset={clamp(measured.target_offset, -99, 99)}"
        ":linear=true"
    )


def _graph(
    start: float,
    mixes: Sequence[Mix],
    tails: dict[Mix, str],
    outputs: dict[Mix, int],
) -> tuple[str, dict[Mix, list[str]]]:
    """`[0:a:0]` → timeline → one branch per mix (its filter, then `tails[mix]`) → one label per output."""
    head = f"[0:a:0]asetpts=PTS-{start:.6f}/TB,aresample=async=1:first_pts=0,asplit={len(mixes)}"
    head += "".join(f"[{mix}]" for mix in mixes)
    chains = [head]
    labels: dict[Mix, list[str]] = {}
    for mix in mixes:
        chain = ",".join(f for f in (_MIX_FILTERS[mix], tails.get(mix, "")) if f)
        count = outputs.get(mix, 1)
        labels[mix] = [f"{mix}{n}" for n in range(count)]
        chains.append(f"[{mix}]{chain},asplit={count}" + "".join(f"[{label}]" for label in labels[mix]))
    return ";".join(chains), labels


def _input(piece: Path, info: MediaInfo, policy: ValidationPolicy) -> list[str]:
    return input_args(piece, info, policy, copyts=True, demuxer=PIECE_DEMUXER, formats=PIECE_FORMATS)


def _logged_head() -> list[str]:
    """loudnorm prints its report at the info level: no progress, no banner, no per-second stats."""
    return [FFMPEG, "-hide_banner", "-nostdin", "-y", "-v", "info", "-nostats"]


def measure_argv(
    piece: Path,
    info: MediaInfo,
    policy: ValidationPolicy,
    kinds: Sequence[OutputKind],
    *,
    start: float,
    duration: float,
    target: LoudnessTarget = DEFAULT_TARGET,
) -> list[str]:
    """First pass: each mix the outputs need through loudnorm in analysis mode, decoded once, written nowhere."""
    mixes = mixes_of(kinds)
    tails: dict[Mix, str] = {mix: f"loudnorm@{report_name(mix)}={target.options()}:print_format=json" for mix in mixes}
    graph, labels = _graph(start, mixes, tails, {})
    argv = [*_logged_head(), *_input(piece, info, policy), "-filter_complex", graph]
    for mix in mixes:
        argv += ["-map", f"[{labels[mix][0]}]", "-t", f"{duration:.6f}", "-f", "null", "-"]
    return argv


def report_name(mix: Mix) -> str:
    """The loudnorm instance's name of a mix (filter instance names take letters and digits only)."""
    return mix.replace("16k", "")


def encode_argv(
    piece: Path,
    info: MediaInfo,
    policy: ValidationPolicy,
    outputs: Sequence[tuple[OutputKind, Path]],
    *,
    start: float,
    duration: float,
    source_rate: int | None,
    aac_bitrate_kbps: int | None = None,
    loudness: dict[str, LoudnessReport] | None = None,
    target: LoudnessTarget = DEFAULT_TARGET,
) -> list[str]:
    """Every requested download in one process: one decode, one branch per mix, one encoder per file.

    Timestamps as in the streams (relative to the source's start, a late track preceded by silence), so a
    transcript's times are the video's. `loudness` (the first pass's reports by mix) adds loudnorm to each
    mix that is not silent; the filter works at 192 kHz, each output's `-ar` brings it back.
    """
    kinds = [kind for kind, _ in outputs]
    mixes = mixes_of(kinds)
    tails: dict[Mix, str] = {}
    for mix in mixes:
        measured = (loudness or {}).get(report_name(mix))
        if measured is not None and not measured.silent:
            tails[mix] = f"loudnorm@{report_name(mix)}={_apply(target, measured)}:print_format=json"
    per_mix = {mix: sum(1 for kind in kinds if ENCODINGS[kind].mix == mix) for mix in mixes}
    graph, labels = _graph(start, mixes, tails, per_mix)
    head = _logged_head() if tails else ffmpeg_head(progress=False)
    argv = [*head, *_input(piece, info, policy), "-filter_complex", graph]
    taken = {mix: 0 for mix in mixes}
    for kind, path in outputs:
        encoding = ENCODINGS[kind]
        label = labels[encoding.mix][taken[encoding.mix]]
        taken[encoding.mix] += 1
        bitrate = aac_bitrate_kbps if kind is OutputKind.AUDIO and aac_bitrate_kbps else encoding.bitrate_kbps
        argv += ["-map", f"[{label}]", "-map_metadata", "-1", "-map_chapters", "-1", "-c:a", encoding.encoder]
        if bitrate is not None:
            argv += ["-b:a", f"{bitrate}k"]
        argv += [
            "-ac",
            str(encoding.channels),
            "-ar",
            str(encoding.sample_rate(source_rate)),
            "-t",
            f"{duration:.6f}",
            *encoding.extra,
            "-f",
            encoding.muxer,
            f"file:{path}",
        ]
    return argv


# CPU-seconds per second of source, measured on a 60 s 44.1 kHz stereo MP3 on a loaded 2-core machine (ffmpeg
# 6.0 static): each encoder alone from the FLAC piece, and loudnorm's two passes on top (192 kHz inside).
# All three files take 0.028 in one process, 0.075 normalised: a 2-hour source about 200 s, or 540 s.
ENCODE_CPU_PER_SECOND: dict[OutputKind, float] = {
    OutputKind.AUDIO: 0.015,
    OutputKind.MP3: 0.011,
    OutputKind.WAV16K: 0.002,
}
LOUDNORM_CPU_PER_SECOND: dict[Mix, float] = {"stereo": 0.027, "mono16k": 0.013}  # both passes, per mix


def downloads_cost(kinds: Sequence[OutputKind], *, loudnorm: bool, duration_s: float) -> float:
    """Expected CPU-seconds for the downloads of a `duration_s` source (what their work item is weighted by)."""
    per_second = sum(ENCODE_CPU_PER_SECOND[kind] for kind in kinds)
    if loudnorm:
        per_second += sum(LOUDNORM_CPU_PER_SECOND[mix] for mix in mixes_of(kinds))
    return per_second * duration_s
