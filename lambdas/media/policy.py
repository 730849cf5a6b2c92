"""What we accept as an upload, as data, and `validate` that turns a breach into a typed error."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from lambdas.limits import MAX_UPLOAD_BYTES
from lambdas.media.errors import NoVideoStream, PolicyViolation, SourceUnreadable, UnsupportedInput
from lambdas.media.probe import MediaInfo

# Video codec (ffprobe's codec_name) → the decoders ffmpeg may open for it (`-codec_whitelist`).
VIDEO_DECODERS: dict[str, tuple[str, ...]] = {
    "h264": ("h264",),
    "hevc": ("hevc",),
    "vp8": ("vp8", "libvpx"),
    "vp9": ("vp9", "libvpx-vp9"),
    "mpeg4": ("mpeg4",),
    "mpeg2video": ("mpeg2video", "mpegvideo"),
    "mpeg1video": ("mpeg1video",),
    "prores": ("prores",),
    "mjpeg": ("mjpeg",),
    "h263": ("h263", "h263p"),
    "flv1": ("flv",),
    "theora": ("theora",),
    "vc1": ("vc1",),
    "wmv3": ("wmv3",),
    "msmpeg4v3": ("msmpeg4",),
    # AV1: ffmpeg picks libdav1d, libaom-av1 is the fallback; the native "av1" decoder only drives hardware.
    "av1": ("libdav1d", "libaom-av1"),
    # Old archives, cameras and Windows/QuickTime-era files.
    "cinepak": ("cinepak",),
    "msmpeg4v1": ("msmpeg4v1",),
    "msmpeg4v2": ("msmpeg4v2",),
    "wmv1": ("wmv1",),
    "wmv2": ("wmv2",),
    "svq1": ("svq1",),
    "svq3": ("svq3",),
    "indeo2": ("indeo2",),
    "indeo3": ("indeo3",),
    "indeo4": ("indeo4",),
    "indeo5": ("indeo5",),
    "rawvideo": ("rawvideo",),
    "dnxhd": ("dnxhd",),
    "dvvideo": ("dvvideo",),
}
AUDIO_DECODERS: dict[str, tuple[str, ...]] = {
    "aac": ("aac", "aac_fixed"),
    "mp3": ("mp3float", "mp3"),
    "mp2": ("mp2float", "mp2"),
    "opus": ("opus", "libopus"),
    "vorbis": ("vorbis",),
    "ac3": ("ac3", "ac3_fixed"),
    "eac3": ("eac3",),
    "flac": ("flac",),
    "alac": ("alac",),
    "pcm_s16le": ("pcm_s16le",),
    "pcm_s16be": ("pcm_s16be",),
    "pcm_s24le": ("pcm_s24le",),
    "pcm_f32le": ("pcm_f32le",),
    "pcm_s24be": ("pcm_s24be",),
    "pcm_s32le": ("pcm_s32le",),
    "pcm_u8": ("pcm_u8",),
    "pcm_alaw": ("pcm_alaw",),
    "pcm_mulaw": ("pcm_mulaw",),
    "adpcm_ima_wav": ("adpcm_ima_wav",),
    "adpcm_ms": ("adpcm_ms",),
    "wmav1": ("wmav1",),
    "wmav2": ("wmav2",),
    "amr_nb": ("amrnb", "libopencore_amrnb"),  # 3GP from phones
    "amr_wb": ("amrwb", "libopencore_amrwb"),
    "dts": ("dca",),
    "truehd": ("truehd",),
}

# File name extensions the API accepts before a byte is sent, by the container they name (the probe decides
# what a file really is; an extension only saves a user an upload that cannot work).
FILE_EXTENSIONS: dict[str, tuple[str, ...]] = {
    "mov,mp4,m4a,3gp,3g2,mj2": ("mp4", "m4v", "mov", "qt", "3gp", "3g2", "f4v", "mj2"),
    "matroska,webm": ("mkv", "webm"),
    "avi": ("avi", "divx"),
    "mpegts": ("ts", "mts", "m2ts", "m2t"),
    "mpeg": ("mpg", "mpeg", "vob", "m2p"),
    "ogg": ("ogv", "ogg"),
    "flv": ("flv",),
    "asf": ("wmv", "asf"),
    "dv": ("dv", "dif"),
    "mxf": ("mxf",),
}
# Files that hold sound only, by the container they name: such an upload may ask for audio outputs only (the API
# says why otherwise). MP4 (.m4a) and Ogg (.opus, .oga) carry video too; the others are sound-only demuxers.
AUDIO_CONTAINERS: dict[str, tuple[str, ...]] = {
    "mp3": ("mp3",),
    "wav": ("wav",),
    "flac": ("flac",),
    "aac": ("aac",),  # ADTS
    "mov,mp4,m4a,3gp,3g2,mj2": ("m4a",),
    "ogg": ("opus", "oga"),
}
AUDIO_FILE_EXTENSIONS = frozenset(extension for names in AUDIO_CONTAINERS.values() for extension in names)
GIB = 1024**3


class ValidationPolicy(BaseModel):
    """Limits for an upload. Formats are ffmpeg demuxer names exactly as ffprobe reports them."""

    model_config = ConfigDict(frozen=True)

    allowed_formats: tuple[str, ...] = (
        "mov,mp4,m4a,3gp,3g2,mj2",
        "matroska,webm",
        "avi",
        "mpegts",
        "mpeg",
        "ogg",
        "flv",
        "asf",  # WMV/WMA
        "dv",  # raw DV from camcorders
        "mxf",  # broadcast and camera masters (DNxHD, MPEG-2)
        # Sound only (audio outputs only; lambdas/pipeline/audio_files.py): MP3, WAV (PCM, ADPCM), FLAC, raw AAC.
        "mp3",
        "wav",
        "flac",
        "aac",
    )
    allowed_video_codecs: tuple[str, ...] = tuple(VIDEO_DECODERS)
    allowed_audio_codecs: tuple[str, ...] = tuple(AUDIO_DECODERS)
    max_size_bytes: int = MAX_UPLOAD_BYTES
    max_duration_s: float = 2 * 3600
    min_duration_s: float = 0.1
    max_width: int = 4096
    max_height: int = 4096
    max_frame_rate: float = 240.0  # measured frames per second (high-speed phone clips)
    require_video: bool = True

    @property
    def format_whitelist(self) -> str:
        """Every name of every accepted demuxer, for `-format_whitelist` on ffprobe and ffmpeg."""
        names: list[str] = []
        for fmt in self.allowed_formats:
            names.extend(n for n in fmt.split(",") if n not in names)
        return ",".join(names)

    @property
    def codec_whitelist(self) -> str:
        """Decoders ffmpeg may open (`-codec_whitelist`); unknown codec names pass through as-is."""
        names: list[str] = []
        for codec in self.allowed_video_codecs:
            names.extend(VIDEO_DECODERS.get(codec, (codec,)))
        for codec in self.allowed_audio_codecs:
            names.extend(AUDIO_DECODERS.get(codec, (codec,)))
        return ",".join(dict.fromkeys(names))

    @property
    def max_pixels(self) -> int:
        return self.max_width * self.max_height


def validate(info: MediaInfo, policy: ValidationPolicy | None = None) -> None:
    """Raise the typed error for the first limit `info` breaks; return None if the upload is acceptable."""
    policy = policy or ValidationPolicy()
    if info.format_name not in policy.allowed_formats:
        raise UnsupportedInput(f"container: {info.format_name!r} files are not accepted.")
    if info.size is not None and info.size > policy.max_size_bytes:
        raise PolicyViolation(
            "size",
            f"the file is {_size(info.size)}; the limit is {_size(policy.max_size_bytes)}.",
            limit=policy.max_size_bytes,
            actual=info.size,
        )
    if info.video is None:
        if policy.require_video:
            raise NoVideoStream("video: the file contains no video stream.")
    else:
        _validate_video(info, policy)
    for track in info.audio:
        if track.codec not in policy.allowed_audio_codecs:
            raise UnsupportedInput(f"audio codec: {track.codec!r} audio is not supported.")
    if info.duration is None:
        raise SourceUnreadable("duration: the length of the video could not be determined.")
    if info.duration > policy.max_duration_s:
        raise PolicyViolation(
            "duration",
            f"the video is {_clock(info.duration)} long; the limit is {_clock(policy.max_duration_s)}.",
            limit=policy.max_duration_s,
            actual=info.duration,
        )
    if info.duration < policy.min_duration_s:
        raise PolicyViolation(
            "duration",
            f"the video is too short ({info.duration:.2f} s).",
            limit=policy.min_duration_s,
            actual=info.duration,
        )


def _validate_video(info: MediaInfo, policy: ValidationPolicy) -> None:
    video = info.video
    assert video is not None
    if video.codec not in policy.allowed_video_codecs:
        raise UnsupportedInput(f"video codec: {video.codec!r} video is not supported.")
    width, height = video.display_width, video.display_height
    if width > policy.max_width:
        raise PolicyViolation(
            "width", f"{width} pixels; the limit is {policy.max_width}.", limit=policy.max_width, actual=width
        )
    if height > policy.max_height:
        raise PolicyViolation(
            "height",
            f"{height} pixels; the limit is {policy.max_height}.",
            limit=policy.max_height,
            actual=height,
        )
    if video.frame_rate is not None and video.frame_rate > policy.max_frame_rate:
        raise PolicyViolation(
            "frame rate",
            f"{video.frame_rate:g} frames per second; the limit is {policy.max_frame_rate:g}.",
            limit=policy.max_frame_rate,
            actual=video.frame_rate,
        )


def _size(n: int) -> str:
    return f"{n / GIB:.1f} GiB" if n >= GIB else f"{n / 1024**2:.1f} MiB"


def _clock(seconds: float) -> str:
    s = round(seconds)
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"
