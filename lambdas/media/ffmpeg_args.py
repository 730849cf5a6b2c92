"""Pure builders of ffmpeg command lines: split, chunk and audio encodes, remux, stills and storyboards."""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path

from lambdas.media.chunking import video_timescale
from lambdas.media.ladder import Rendition
from lambdas.media.picture import (
    OUTPUT_COLOUR,
    colour_filters,
    deinterlace_filters,
    picture_filters,
    upright_filters,
)
from lambdas.media.policy import ValidationPolicy
from lambdas.media.probe import MediaInfo, VideoStream, hardened_ffprobe
from lambdas.media.storyboard import SpritePlan

FFMPEG = "ffmpeg"
# Our own intermediate files are read back with these demuxers and nothing else.
PIECE_DEMUXER = "matroska"
# Matroska carries every codec that has a Matroska or an AVI (RIFF) id; the QuickTime-only Sorenson codecs it
# cannot (a stream copy writes codec "none"). Their pieces go in NUT, ffmpeg's own self-contained container,
# which carries whatever ffmpeg decodes, with exact timestamps.
NUT_PIECE_CODECS = frozenset({"svq1", "svq3"})
PIECE_DEMUXERS = (PIECE_DEMUXER, "nut")
PIECE_FORMATS = "matroska,webm,nut"


def video_piece_demuxer(info: MediaInfo) -> str:
    """The container of this source's video pieces (written by ProbeSource, read by every worker)."""
    return "nut" if info.video is not None and info.video.codec in NUT_PIECE_CODECS else PIECE_DEMUXER


OWN_FMP4_DEMUXER = "mov"
OWN_FMP4_FORMATS = "mov,mp4,m4a,3gp,3g2,mj2"
# What the encoders put before the first sample, which fragmented MP4 has no edit list to hide: x264
# (veryfast: 3 B-frames, pyramid) presents its first frame 2 frames after its first decode time; ffmpeg's
# AAC encoder starts with 1024 samples of priming. The audio track is shifted so both line up.
X264_DELAY_FRAMES = 2
AAC_PRIMING_SAMPLES = 1024


def audio_alignment(rate: Fraction, timescale: int) -> int:
    """Ticks to move the audio by so that a sound plays with the frame it belongs to.

    The video's first frame is presented X264_DELAY_FRAMES after time zero; the audio's first real sample
    comes AAC_PRIMING_SAMPLES after its first decoded one. Moving the audio by the difference puts both at
    the same instant, in the streams and in the MP4 remuxed from them.
    """
    delay = Fraction(X264_DELAY_FRAMES) / rate - Fraction(AAC_PRIMING_SAMPLES, timescale)
    return max(0, round(delay * timescale))


# Fragmented MP4 as CMAF wants it: a moof per fragment, tfdt-relative offsets, no edit lists.
FRAGMENTED = "+frag_keyframe+empty_moov+default_base_moof+negative_cts_offsets"
FRAGMENTED_AUDIO = "+empty_moov+default_base_moof+negative_cts_offsets"


def ffmpeg_head(progress: bool) -> list[str]:
    """The start of every ffmpeg command line: no banner, no stdin, errors only (and -progress on stdout)."""
    argv = [FFMPEG, "-hide_banner", "-nostdin", "-y", "-v", "error"]
    if progress:
        argv += ["-progress", "pipe:1", "-nostats"]
    return argv


def input_args(
    source: Path,
    info: MediaInfo,
    policy: ValidationPolicy,
    *,
    seek: float | None = None,
    keyframes_only: bool = False,
    copyts: bool = False,
    demuxer: str | None = None,
    formats: str | None = None,
) -> list[str]:
    """The hardened input: our fixed local file, read only by the demuxer and decoders the probe found.

    Never rotated by ffmpeg (`-autorotate 0`): `picture_filters` turns the picture by the probed rotation,
    which our matroska pieces no longer carry, so the source and its pieces decode alike.
    """
    argv = [
        "-protocol_whitelist",
        "file",
        "-format_whitelist",
        formats or policy.format_whitelist,
        "-codec_whitelist",
        policy.codec_whitelist,
        "-max_pixels",
        str(policy.max_pixels),
        "-autorotate",
        "0",
    ]
    if seek is not None:
        argv += ["-ss", _ts(seek)]
    if keyframes_only:
        argv += ["-skip_frame", "nokey"]
    if copyts:
        argv += ["-copyts"]
    return [*argv, "-f", demuxer or info.demuxer, "-i", f"file:{source}"]


_NO_EXTRAS = ["-sn", "-dn", "-map_metadata", "-1", "-map_chapters", "-1"]


def video_stream(info: MediaInfo, *, input_index: int = 0) -> str:
    """The probed picture by its stream index: `0:v:0` can be cover art stored before it."""
    if info.video is None:
        raise ValueError("no video stream")
    return f"{input_index}:{info.video.index}"


def audio_stream(info: MediaInfo, index: int | None = None) -> str:
    """A probed audio stream by its stream index (None: the first one)."""
    if not info.audio:
        raise ValueError("no audio stream")
    if index is None:
        index = info.audio[0].index
    if all(a.index != index for a in info.audio):
        raise ValueError(f"stream {index} is not an audio stream of the source")
    return f"0:{index}"


def video_piece_argv(
    source: Path, info: MediaInfo, policy: ValidationPolicy, out_file: Path, *, seek: float, end: float | None
) -> list[str]:
    """Stream copy of the video from the keyframe at or before `seek` (relative to the source's start) up to
    the absolute time `end` (None: to the end), original timestamps kept so a worker can trim exactly."""
    argv = [
        *ffmpeg_head(progress=False),
        *input_args(source, info, policy, seek=seek if seek > 0 else None, copyts=True),
        "-map",
        video_stream(info),
        "-c",
        "copy",
        "-an",
        *_NO_EXTRAS,
    ]
    if end is not None:
        argv += ["-to", _ts(end)]
    return [*argv, "-f", video_piece_demuxer(info), f"file:{out_file}"]


def audio_piece_argv(
    source: Path,
    info: MediaInfo,
    policy: ValidationPolicy,
    out_file: Path,
    *,
    stream: int | None = None,
    seek: float | None = None,
    end: float | None = None,
) -> list[str]:
    """One audio stream (by its stream index; None: the first) decoded (the decoder applies the source's
    priming and skip markers, which a stream copy into another container loses) and stored losslessly as
    FLAC, timestamps kept (a track that starts late keeps its offset): one audio work item's whole input,
    at about half the size of PCM. A clip's piece is only its window: from `seek` (relative to the source's
    start, as video pieces) to the absolute time `end`."""
    argv = [
        *ffmpeg_head(progress=False),
        *input_args(source, info, policy, seek=seek or None, copyts=True),
        "-map",
        audio_stream(info, stream),
        "-c:a",
        "flac",
        "-vn",
        *_NO_EXTRAS,
    ]
    if end is not None:
        argv += ["-to", _ts(end)]
    return [*argv, "-f", "matroska", f"file:{out_file}"]


def first_timestamp_argv(piece: Path, ffprobe: str = "ffprobe") -> list[str]:
    """ffprobe for the first video packet's pts of one of our pieces (where a stream copy really started)."""
    options = [
        "-select_streams",
        "v:0",
        "-read_intervals",
        "%+#8",
        "-show_entries",
        "packet=pts_time",
        "-of",
        "csv=p=0",
    ]
    return hardened_ffprobe(piece, PIECE_FORMATS, *options, ffprobe=ffprobe)


def _colour_tags() -> list[str]:
    """BT.709 limited range, as `picture_filters` made every picture: in the SPS VUI, the same in every chunk."""
    return [arg for name, value in OUTPUT_COLOUR.items() for arg in (f"-{name}", value)]


def _x264(rendition: Rendition, gop: int) -> list[str]:
    return [
        "-c:v",
        "libx264",
        "-preset",
        "veryfast",
        "-profile:v",
        "high",
        "-pix_fmt",
        "yuv420p",
        *_colour_tags(),
        "-crf",
        str(rendition.crf),
        "-maxrate",
        f"{rendition.maxrate_kbps}k",
        "-bufsize",
        f"{rendition.bufsize_kbps}k",
        "-g",
        str(gop),
        "-keyint_min",
        str(gop),
        "-sc_threshold",
        "0",
        "-flags",
        "+cgop",
        "-force_key_frames",
        f"expr:eq(mod(n,{gop}),0)",
    ]


SLOT_PHASE = 0.1  # how much later than centred on its instant an output frame's window of source time lies


def chunk_filters(info: MediaInfo, *, rate: Fraction, start: float, frames: int | None) -> list[str]:
    """The filters that turn a piece's decoded picture into a chunk's frames, before any scaling.

    Deinterlaced first, on the piece's own frames (each with its true neighbours, the one before the
    chunk's first included, so chunks join without a seam); trimmed to the chunk (`start` in the source's
    timestamps, `frames` None: to the end), timestamps from zero, resampled onto the output grid (frame n
    of the chunk has pts n in a time base of 1/rate); only then tone-mapped or converted and turned upright
    (`picture_filters`' other steps), on the frames kept: half the work for a 120 fps source. The chunk
    encode and the quality reference (lambdas/media/quality.py) both start from exactly these frames, so a
    rung is compared with what it was made from.
    """
    if info.video is None:
        raise ValueError("no video stream")
    video = info.video
    frame = float(1 / rate)
    # The fps filter gives slot n the last frame within half a slot of it. Those windows are shifted a tenth
    # of a slot later: a 120 or 240 fps source has a frame exactly on every window's edge, which the
    # piece's millisecond timestamps put now on one side, now on the other (frames 2, 5, 9, 14 … of a
    # 240 fps source instead of 2, 6, 10, 14 …: judder).
    phase = SLOT_PHASE * frame
    trim = f"trim=start={start - frame / 2 + phase:.6f}"
    if frames is not None:
        trim += f":end={start + frames * frame + 1.0:.6f}"
    return [
        *deinterlace_filters(video),
        trim,
        f"setpts=PTS-{start + phase:.6f}/TB",
        f"fps={rate}:start_time=0",
        *colour_filters(video),
        *upright_filters(video),
    ]


def chunk_argv(
    piece: Path,
    info: MediaInfo,
    policy: ValidationPolicy,
    renditions: Sequence[Rendition],
    outputs: Sequence[Path],
    *,
    rate: Fraction,
    segment_frames: int,
    start: float,
    frames: int | None,
    demuxer: str = PIECE_DEMUXER,
    formats: str = PIECE_FORMATS,
) -> list[str]:
    """One chunk of the source, decoded once, as one fragmented MP4 per rendition (one fragment per segment).

    `start` is the chunk's first instant in the source's own timestamps (the source's start time plus the
    chunk's offset). Frames are resampled onto the output grid from `start` (a constant frame rate), so a
    chunk of `frames` frames ends exactly where the next begins, and its keyframes fall every
    `segment_frames` frames: on the same segment grid as every other chunk and rung. `frames` None: to the end.
    """
    labels = [f"r{i}" for i in range(len(renditions))]
    stream = "0:v:0" if demuxer in PIECE_DEMUXERS else video_stream(info)  # a piece holds only the picture
    graph = f"[{stream}]" + ",".join(chunk_filters(info, rate=rate, start=start, frames=frames))
    graph += (
        f",split={len(renditions)}" + "".join(f"[s{i}]" for i in range(len(renditions)))
        if len(renditions) > 1
        else "[s0]"
    )
    for i, rendition in enumerate(renditions):
        graph += f";[s{i}]" + ",".join(rendition.scale_filters()) + f"[{labels[i]}]"
    argv = [
        *ffmpeg_head(progress=True),
        *input_args(piece, info, policy, copyts=True, demuxer=demuxer, formats=formats),
        "-filter_complex",
        graph,
    ]
    for label, rendition, out in zip(labels, renditions, outputs, strict=True):
        argv += ["-map", f"[{label}]"]
        if frames is not None:
            argv += ["-frames:v", str(frames)]
        argv += [
            *_x264(rendition, segment_frames),
            "-an",
            *_NO_EXTRAS,
            "-video_track_timescale",
            str(video_timescale(rate)),
            "-fflags",
            "+bitexact",
            "-movflags",
            FRAGMENTED,
            "-f",
            "mp4",
            f"file:{out}",
        ]
    return argv


def audio_argv(
    piece: Path,
    info: MediaInfo,
    policy: ValidationPolicy,
    rendition: Rendition,
    out_file: Path,
    *,
    start: float,
    duration: float,
    fragment_s: float,
    demuxer: str = PIECE_DEMUXER,
    formats: str = PIECE_FORMATS,
    stream: int | None = None,
) -> list[str]:
    """One whole audio track encoded once (never per chunk: AAC priming would drift at every join).

    Timestamps are taken relative to the source's start (`start`, the container's: the same for every
    track), and a late first sample is preceded by silence, so each track keeps its own offset to the
    video; fragments of about one segment. A piece holds its one track; read from the source itself,
    `stream` picks it (None: the first). Any layout becomes the rendition's channels by libswresample's
    matrix (to stereo: the centre at -3 dB into both sides, each surround at -3 dB into its own, the
    LFE dropped, not normalised; mono at -3 dB into both), any rate (8 to 96 kHz) its sample rate.
    """
    return [
        *ffmpeg_head(progress=True),
        *input_args(piece, info, policy, copyts=True, demuxer=demuxer, formats=formats),
        "-map",
        "0:a:0" if demuxer == PIECE_DEMUXER else audio_stream(info, stream),
        "-vn",
        *_NO_EXTRAS,
        "-af",
        f"asetpts=PTS-{start:.6f}/TB,aresample=async=1:first_pts=0",
        "-c:a",
        "aac",
        "-b:a",
        f"{rendition.audio_bitrate_kbps}k",
        "-ac",
        str(rendition.audio_channels),
        "-ar",
        str(rendition.audio_sample_rate),
        "-t",
        _ts(duration),
        "-fflags",
        "+bitexact",
        "-frag_duration",
        str(round(fragment_s * 1_000_000)),
        "-movflags",
        FRAGMENTED_AUDIO,
        "-f",
        "mp4",
        f"file:{out_file}",
    ]


def mp4_remux_argv(video: Path, audio: Path | None, out_file: Path) -> list[str]:
    """Fragmented video (+ audio) track(s) -> one progressive MP4 by stream copy, index (moov) first."""
    # Both tracks keep their timestamps: each normalised to its own start, the priming would put sound late.
    argv = [*ffmpeg_head(progress=False), "-copyts"]
    for track in (video, audio):
        if track is not None:
            argv += ["-protocol_whitelist", "file", "-format_whitelist", OWN_FMP4_FORMATS]
            argv += ["-f", OWN_FMP4_DEMUXER, "-i", f"file:{track}"]
    argv += ["-map", "0:v:0"]
    if audio is not None:
        argv += ["-map", "1:a:0"]
    return [*argv, "-c", "copy", "-map_metadata", "-1", "-movflags", "+faststart", "-f", "mp4", f"file:{out_file}"]


# Demuxers whose seek lands on whatever packet is nearest, not on the keyframe before it (no index: MPEG-TS,
# MPEG-PS). Decoding from there yields nothing up to the next keyframe, and nothing at all past the last one
# (x264's default GOP of 250 frames makes a whole short clip one GOP): the still would silently not be made.
INEXACT_SEEK_DEMUXERS = frozenset({"mpegts", "mpeg"})
# So those are entered this much earlier and decoded up to the instant asked for: longer than the GOPs
# encoders write by default (x264: 250 frames, 10.4 s at 23.976 fps).
STILL_PREROLL_S = 12.0
# JPEG as every decoder reads it (JFIF): full range, BT.601 matrix, whatever the picture's own. The mjpeg
# encoder refuses limited-range yuv420p unless told `-strict unofficial`, and a limited-range JPEG (or a
# BT.709 one) shows black as grey and skin tones shifted; ffmpeg 6.0's command line picks yuvj420p by itself
# but keeps the matrix, newer ones pick neither, so both are converted explicitly, in the still's own scale.
STILL_PIX_FMT = "yuvj420p"


def still_size(video: VideoStream, width: int) -> tuple[int, int]:
    """A still's size: the picture as shown (rotation and pixel aspect applied), at most `width` wide, even."""
    w = max(2, 2 * (min(width, video.display_width) // 2))
    return w, max(2, 2 * round(w / float(video.aspect) / 2))


def still_filters(video: VideoStream, width: int) -> str:
    """Decoded frame -> a still: made viewable (`picture_filters`), scaled, square pixels, JFIF colour."""
    w, h = still_size(video, width)
    return ",".join([*picture_filters(video), _still_scale(w, h), "setsar=1", f"format={STILL_PIX_FMT}"])


def _still_scale(width: int, height: int) -> str:
    """Scaled from the BT.709 limited range `picture_filters` leaves to JFIF's BT.601 full range."""
    return f"scale={width}:{height}:in_color_matrix=bt709:in_range=tv:out_color_matrix=bt601:out_range=pc"


def still_seek(at: float, info: MediaInfo) -> tuple[float | None, float | None]:
    """(input seek, output seek) for a still at `at` seconds: where the demuxer enters the file, and how
    much of what is decoded from there is dropped. A seek to a keyframe where the container has an index;
    with INEXACT_SEEK_DEMUXERS, STILL_PREROLL_S earlier (or from the start) and decoded up to `at`."""
    at = _clamp_seek(at, info)
    if info.demuxer not in INEXACT_SEEK_DEMUXERS:
        return at, None
    if at <= STILL_PREROLL_S:
        return None, (at or None)
    return at - STILL_PREROLL_S, STILL_PREROLL_S


def _still_output(seek: float | None) -> list[str]:
    return ["-ss", _ts(seek)] if seek is not None else []


def poster_argv(
    source: Path, info: MediaInfo, policy: ValidationPolicy, out_file: Path, *, at: float, width: int = 1280
) -> list[str]:
    """One JPEG frame; input seek (`-ss` before `-i`) decodes from the nearest keyframe only (see `still_seek`)."""
    if info.video is None:
        raise ValueError("no video stream")
    enter, drop = still_seek(at, info)
    return [
        *ffmpeg_head(progress=False),
        *input_args(source, info, policy, seek=enter),
        "-map",
        video_stream(info),
        *_still_output(drop),
        "-frames:v",
        "1",
        "-vf",
        still_filters(info.video, width),
        "-q:v",
        "3",
        "-update",
        "1",
        "-f",
        "image2",
        str(out_file),
    ]


def thumbnails_argv(
    source: Path,
    info: MediaInfo,
    policy: ValidationPolicy,
    out_dir: Path,
    times: Sequence[float],
    *,
    width: int = 640,
) -> list[str]:
    """N JPEGs at given times in one process: one seeking input per timestamp, one output each.

    Files are named thumb_00000.jpg, thumb_00001.jpg, … in the order of `times`.
    """
    if info.video is None:
        raise ValueError("no video stream")
    seeks = [still_seek(t, info) for t in times]
    argv = ffmpeg_head(progress=False)
    for enter, _ in seeks:
        argv += input_args(source, info, policy, seek=enter)
    for i, (_, drop) in enumerate(seeks):
        argv += [
            "-map",
            video_stream(info, input_index=i),
            *_still_output(drop),
            "-frames:v",
            "1",
            "-vf",
            still_filters(info.video, width),
            "-q:v",
            "3",
            "-update",
            "1",
            "-f",
            "image2",
            str(out_dir / f"thumb_{i:05d}.jpg"),
        ]
    return argv


def sprite_argv(
    source: Path,
    info: MediaInfo,
    policy: ValidationPolicy,
    plan: SpritePlan,
    out_dir: Path,
    *,
    keyframes_only: bool = True,
    window: tuple[float, float] | None = None,
) -> list[str]:
    """Sprite sheets, by default from keyframes only (`-skip_frame nokey`): about a twentieth of a full decode.

    One frame per interval is picked first, and only those are made viewable (`picture_filters`): a tone
    map on every frame of a full decode would cost more than the decode. `window` (start, duration), a
    clip's: the tiles cover that part of the source only, their times counted from its start.
    """
    if info.video is None:
        raise ValueError("no video stream")
    tiles = [
        f"fps=1/{plan.interval:g}",
        *picture_filters(info.video),
        _still_scale(plan.tile_width, plan.tile_height),
        "setsar=1",
        f"format={STILL_PIX_FMT}",
        f"tile={plan.columns}x{plan.rows}",
    ]
    seek, length = window if window is not None else (None, None)
    return [
        *ffmpeg_head(progress=False),
        *input_args(source, info, policy, seek=seek or None, keyframes_only=keyframes_only),
        "-map",
        video_stream(info),
        *(["-t", _ts(length)] if length is not None else []),
        "-vf",
        ",".join(tiles),
        "-fps_mode",
        "vfr",
        "-frames:v",
        str(plan.sheets),
        "-q:v",
        "4",
        "-f",
        "image2",
        "-start_number",
        "0",
        str(out_dir / "sprite_%03d.jpg"),
    ]


def _clamp_seek(at: float, info: MediaInfo) -> float:
    if info.duration:
        at = min(at, max(0.0, info.duration - 0.5))
    return max(0.0, at)


def _ts(seconds: float) -> str:
    return f"{seconds:.3f}"
