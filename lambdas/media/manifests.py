"""Pure builders of the HLS media and master playlists and the static DASH MPD over shared CMAF segments."""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from fractions import Fraction

from pydantic import BaseModel, ConfigDict, Field

DASH_NS = "urn:mpeg:dash:schema:mpd:2011"
DASH_LIVE_PROFILE = "urn:mpeg:dash:profile:isoff-live:2011"
AUDIO_CHANNEL_SCHEME = "urn:mpeg:dash:23003:3:audio_channel_configuration:2011"
AUDIO_GROUP = "audio"
DASH_ROLE_SCHEME = "urn:mpeg:dash:role:2011"
# Both HLS FRAME-RATE (as a decimal) and DASH @frameRate (FrameRateType) can be written from this form.
_RATIONAL = r"^[1-9][0-9]*(/[1-9][0-9]*)?$"
# The last run of digits before the extension is the segment number: "720p/seg_00042.m4s".
_NUMBERED = re.compile(r"^(?P<head>.*?)(?P<number>[0-9]+)(?P<tail>\.[A-Za-z0-9]+)$")


class Segment(BaseModel):
    model_config = ConfigDict(frozen=True)

    uri: str  # relative to the manifests, e.g. "720p/seg_00000.m4s"
    duration_s: float
    ticks: int  # duration in the track timescale
    start_ticks: int  # tfdt
    bytes: int


class VideoTrack(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str
    uri_prefix: str  # "720p/"
    init_uri: str  # "720p/init.mp4"
    playlist_uri: str  # "720p/index.m3u8"
    timescale: int = Field(gt=0)
    width: int
    height: int
    frame_rate: str = Field(pattern=_RATIONAL)  # "30000/1001" or "30"
    codec: str  # RFC 6381, "avc1.640028"
    segments: tuple[Segment, ...]


class AudioTrack(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str  # its directory: the DASH Representation id
    label: str | None = None  # what players list (HLS NAME), unique in the group; None: `name`
    init_uri: str
    playlist_uri: str
    timescale: int = Field(gt=0)
    codec: str  # "mp4a.40.2"
    sample_rate: int
    channels: int
    language: str | None = None
    segments: tuple[Segment, ...]


_AVC_PROFILES = {
    "baseline": (66, 0x00),
    "constrained baseline": (66, 0xC0),  # constraint_set0+1, as x264 writes it
    "main": (77, 0x40),
    "extended": (88, 0x00),
    "high": (100, 0x00),
    "high 10": (110, 0x00),
    "high 4:2:2": (122, 0x00),
    "high 4:4:4 predictive": (244, 0x00),
}


def avc1_codec(profile: str | None, level: int | None) -> str:
    """RFC 6381 `avc1.PPCCLL` from ffprobe's profile name and level_idc."""
    idc, constraints = _AVC_PROFILES.get((profile or "high").lower(), (100, 0x00))
    return f"avc1.{idc:02x}{constraints:02x}{(level or 40):02x}"


def peak_and_average_bps(segments: Sequence[Segment]) -> tuple[int, int]:
    """(peak, average) bits per second over the segments, as HLS defines BANDWIDTH and AVERAGE-BANDWIDTH."""
    peak = max((s.bytes * 8 / s.duration_s for s in segments if s.duration_s > 0), default=0.0)
    seconds = sum(s.duration_s for s in segments)
    average = sum(s.bytes * 8 for s in segments) / seconds if seconds > 0 else 0.0
    return math.ceil(peak), math.ceil(average)


def media_playlist(init_uri: str, segments: Sequence[Segment], *, ended: bool = True) -> str:
    """An HLS media playlist over fMP4 segments; it sits in the segments' directory, so URIs are file names."""
    if not segments:
        raise ValueError("a media playlist needs at least one segment")
    extinf = [f"{s.duration_s:.6f}" for s in segments]
    # Ceil of the durations as written: the rounding RFC 8216 allows can never exceed it.
    target = math.ceil(max(float(d) for d in extinf))
    lines = [
        "#EXTM3U",
        "#EXT-X-VERSION:7",
        f"#EXT-X-TARGETDURATION:{target}",
        f"#EXT-X-PLAYLIST-TYPE:{'VOD' if ended else 'EVENT'}",
        "#EXT-X-INDEPENDENT-SEGMENTS",
        f"#EXT-X-MAP:URI={_quoted(_file_name(init_uri))}",
    ]
    for segment, duration in zip(segments, extinf, strict=True):
        lines += [f"#EXTINF:{duration},", _line(_file_name(segment.uri))]
    if ended:
        lines.append("#EXT-X-ENDLIST")
    return "\n".join(lines) + "\n"


def master_playlist(videos: Sequence[VideoTrack], audio: Sequence[AudioTrack] = ()) -> str:
    """The HLS master: one variant per video track in the given order, each audio track an EXT-X-MEDIA
    rendition of one group, the first one the default."""
    lines = ["#EXTM3U", "#EXT-X-VERSION:7", "#EXT-X-INDEPENDENT-SEGMENTS"]
    names = [track.label or track.name for track in audio]
    if len(set(names)) != len(names):
        raise ValueError(f"audio renditions need distinct names: {names}")
    # The player fetches one audio rendition beside the variant: the largest one is what it may add.
    audio_peak = audio_average = 0
    autoselected: set[str | None] = set()
    for number, (track, name) in enumerate(zip(audio, names, strict=True)):
        peak, average = peak_and_average_bps(track.segments)
        audio_peak, audio_average = max(audio_peak, peak), max(audio_average, average)
        attrs = ["TYPE=AUDIO", f"GROUP-ID={_quoted(AUDIO_GROUP)}", f"NAME={_quoted(name)}"]
        if track.language:
            attrs.append(f"LANGUAGE={_quoted(track.language)}")
        # Automatic selection (by the user's language) only among distinct languages: RFC 8216 4.3.4.1.1.
        autoselect = track.language not in autoselected
        autoselected.add(track.language)
        attrs += [
            f"DEFAULT={'YES' if number == 0 else 'NO'}",
            f"AUTOSELECT={'YES' if autoselect else 'NO'}",
            f"CHANNELS={_quoted(str(track.channels))}",
            f"URI={_quoted(track.playlist_uri)}",
        ]
        lines.append(f"#EXT-X-MEDIA:{','.join(attrs)}")
    audio_codecs = list(dict.fromkeys(track.codec for track in audio))
    for video in videos:
        peak, average = peak_and_average_bps(video.segments)
        attrs = [
            # An audio rendition plays alongside every variant, so its bits count against each one.
            f"BANDWIDTH={peak + audio_peak}",
            f"AVERAGE-BANDWIDTH={average + audio_average}",
            f"CODECS={_quoted(','.join([video.codec, *audio_codecs]))}",
            f"RESOLUTION={video.width}x{video.height}",
            f"FRAME-RATE={float(Fraction(video.frame_rate)):.3f}",
        ]
        if audio:
            attrs.append(f"AUDIO={_quoted(AUDIO_GROUP)}")
        lines += [f"#EXT-X-STREAM-INF:{','.join(attrs)}", _line(video.playlist_uri)]
    return "\n".join(lines) + "\n"


def dash_mpd(videos: Sequence[VideoTrack], audio: Sequence[AudioTrack] = (), *, duration_s: float) -> str:
    """A static DASH MPD with one SegmentTemplate and SegmentTimeline per representation: the video
    AdaptationSet, then one per audio track (by language), the first one's Role "main"."""
    tracks: list[VideoTrack | AudioTrack] = [*videos, *audio]
    longest = max((s.duration_s for t in tracks for s in t.segments), default=0.0)
    root = ET.Element(
        "MPD",
        {
            # Set as an attribute so the tree needs no global ET.register_namespace for a clean default namespace.
            "xmlns": DASH_NS,
            "type": "static",
            "profiles": DASH_LIVE_PROFILE,
            "mediaPresentationDuration": _iso_duration(duration_s),
            "minBufferTime": _iso_duration(longest),
        },
    )
    period = ET.SubElement(root, "Period", {"id": "0", "start": "PT0S"})
    if videos:
        attrs = {
            "id": "0",
            "contentType": "video",
            "mimeType": "video/mp4",
            "segmentAlignment": "true",
            "startWithSAP": "1",
            "maxWidth": str(max(v.width for v in videos)),
            "maxHeight": str(max(v.height for v in videos)),
        }
        ratios = {Fraction(v.width, v.height) for v in videos}
        if len(ratios) == 1:  # @par describes the whole set, so only when every rung shares it
            ratio = ratios.pop()
            attrs["par"] = f"{ratio.numerator}:{ratio.denominator}"
        video_set = ET.SubElement(period, "AdaptationSet", attrs)
        for video in videos:
            representation = ET.SubElement(
                video_set,
                "Representation",
                {
                    "id": video.name,
                    "bandwidth": str(peak_and_average_bps(video.segments)[0]),
                    "codecs": video.codec,
                    "width": str(video.width),
                    "height": str(video.height),
                    "frameRate": video.frame_rate,
                    "sar": "1:1",
                },
            )
            _segment_template(representation, video)
    for number, track in enumerate(audio, start=1):
        attrs = {
            "id": str(number),
            "contentType": "audio",
            "mimeType": "audio/mp4",
            "segmentAlignment": "true",
            "startWithSAP": "1",
        }
        if track.language:
            attrs["lang"] = track.language
        audio_set = ET.SubElement(period, "AdaptationSet", attrs)
        role = "main" if number == 1 else "alternate"
        ET.SubElement(audio_set, "Role", {"schemeIdUri": DASH_ROLE_SCHEME, "value": role})
        representation = ET.SubElement(
            audio_set,
            "Representation",
            {
                "id": track.name,
                "bandwidth": str(peak_and_average_bps(track.segments)[0]),
                "codecs": track.codec,
                "audioSamplingRate": str(track.sample_rate),
            },
        )
        ET.SubElement(
            representation,
            "AudioChannelConfiguration",
            {"schemeIdUri": AUDIO_CHANNEL_SCHEME, "value": str(track.channels)},
        )
        _segment_template(representation, track)
    ET.indent(root, space="  ")
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def _segment_template(parent: ET.Element, track: VideoTrack | AudioTrack) -> None:
    media, start_number = _number_template(track)
    template = ET.SubElement(
        parent,
        "SegmentTemplate",
        {
            "timescale": str(track.timescale),
            "initialization": track.init_uri,
            "media": media,
            "startNumber": str(start_number),
        },
    )
    timeline = ET.SubElement(template, "SegmentTimeline")
    for t, d, r in _timeline(track.segments):
        attrs = {} if t is None else {"t": str(t)}
        attrs["d"] = str(d)
        if r:
            attrs["r"] = str(r)
        ET.SubElement(timeline, "S", attrs)


def _number_template(track: VideoTrack | AudioTrack) -> tuple[str, int]:
    """`media` and `startNumber` for the track's segment URIs, which must be consecutively numbered."""
    if not track.segments:
        raise ValueError(f"track {track.name!r} has no segments")
    first = _NUMBERED.match(track.segments[0].uri)
    if first is None:
        raise ValueError(f"segment URI {track.segments[0].uri!r} carries no number")
    head, width, tail = first["head"], len(first["number"]), first["tail"]
    start = int(first["number"])
    # $Number$ advances by one per S entry, so a URI that breaks the pattern would make the MPD lie.
    for index, segment in enumerate(track.segments):
        expected = f"{head}{start + index:0{width}d}{tail}"
        if segment.uri != expected:
            raise ValueError(f"segment {index} of {track.name!r} is {segment.uri!r}, the template expects {expected!r}")
    return f"{head}$Number%0{width}d${tail}", start


def _timeline(segments: Sequence[Segment]) -> list[tuple[int | None, int, int]]:
    """(t, d, r) S entries: a run of equal durations shares one entry, and t is written only where time jumps."""
    entries: list[tuple[int | None, int, int]] = []
    expected: int | None = None
    for segment in segments:
        contiguous = segment.start_ticks == expected
        if entries and contiguous and entries[-1][1] == segment.ticks:
            t, d, r = entries[-1]
            entries[-1] = (t, d, r + 1)
        else:
            entries.append((None if contiguous else segment.start_ticks, segment.ticks, 0))
        expected = segment.start_ticks + segment.ticks
    return entries


def _iso_duration(seconds: float) -> str:
    return f"PT{seconds:.3f}S"


def _file_name(uri: str) -> str:
    return uri.rsplit("/", 1)[-1]


def _quoted(value: str) -> str:
    """An HLS quoted-string; the language tag can come from the upload's metadata, so it is checked."""
    if any(c in value for c in '"\r\n'):
        raise ValueError(f"{value!r} cannot be an HLS quoted-string")
    return f'"{value}"'


def _line(uri: str) -> str:
    if any(c in uri for c in "\r\n") or uri.startswith("#"):
        raise ValueError(f"{uri!r} cannot be a playlist URI line")
    return uri
