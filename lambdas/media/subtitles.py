"""Subtitle tracks added to stored manifests: an HLS SUBTITLES group and DASH text AdaptationSets.

The edits are pure text over what lambdas/media/manifests.py wrote, and idempotent: every call removes the
subtitle entries it owns and writes the given ones, so the manifests always list exactly the job's captions.
"""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET
from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict, Field

from lambdas.media.manifests import DASH_NS, DASH_ROLE_SCHEME

SUBTITLE_GROUP = "subs"
_ATTRIBUTE = re.compile(r'([A-Z0-9-]+)=("[^"]*"|[^",]*)')
_DURATION = re.compile(r"^PT(?:(?P<h>[0-9.]+)H)?(?:(?P<m>[0-9.]+)M)?(?:(?P<s>[0-9.]+)S)?$")


class SubtitleTrack(BaseModel):
    model_config = ConfigDict(frozen=True)

    track_id: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")  # the caption's id: the DASH set's id
    language: str  # BCP 47, already checked
    name: str  # what players list (HLS NAME, DASH Label): unique among the tracks
    default: bool = False
    playlist_uri: str  # relative to the master: "subtitles/cap_…/index.m3u8"
    vtt_uri: str  # relative to the MPD: "subtitles/cap_…/captions.vtt"
    size_bytes: int = Field(ge=0)


def subtitle_playlist(vtt_file: str, duration_s: float) -> str:
    """A VOD media playlist of one WebVTT segment, the whole track: nothing to cut for a text file the size of
    a few segments, and one object per caption. Cue times are the video's (its timeline starts at zero: no
    X-TIMESTAMP-MAP, whose absence RFC 8216 3.5 defines as MPEG-TS 0 = cue time 0)."""
    if duration_s <= 0:
        raise ValueError("a subtitle playlist needs the video's duration")
    _check_uri(vtt_file)
    return "\n".join(
        [
            "#EXTM3U",
            "#EXT-X-VERSION:7",
            f"#EXT-X-TARGETDURATION:{math.ceil(round(duration_s, 6))}",
            "#EXT-X-PLAYLIST-TYPE:VOD",
            "#EXT-X-MEDIA-SEQUENCE:0",
            f"#EXTINF:{duration_s:.6f},",
            vtt_file,
            "#EXT-X-ENDLIST",
            "",
        ]
    )


def unique_names(labels: Sequence[str]) -> list[str]:
    """The labels made distinct (HLS requires it within a group): later repeats get " (2)", " (3)"…"""
    seen: dict[str, int] = {}
    names: list[str] = []
    for label in labels:
        count = seen.get(label, 0) + 1
        seen[label] = count
        name = label if count == 1 else f"{label} ({count})"
        while name in seen and name != label:
            count += 1
            name = f"{label} ({count})"
        seen.setdefault(name, 1)
        names.append(name)
    return names


def master_with_subtitles(master: str, tracks: Sequence[SubtitleTrack]) -> str:
    """`master` with exactly `tracks` as its SUBTITLES group, referenced by every variant (none: no group)."""
    if len({t.name for t in tracks}) != len(tracks):
        raise ValueError("subtitle tracks need distinct names")
    lines = [line for line in master.splitlines() if not _is_own_media(line)]
    if not lines or lines[0] != "#EXTM3U":
        raise ValueError("not an HLS playlist")
    variants = [i for i, line in enumerate(lines) if line.startswith("#EXT-X-STREAM-INF:")]
    if not variants:
        raise ValueError("not a master playlist: no #EXT-X-STREAM-INF")
    for index in variants:
        lines[index] = _with_subtitles_attribute(lines[index], bool(tracks))
    media = [_media_line(track) for track in tracks]
    # The group goes after the other EXT-X-MEDIA lines (audio), before the first variant.
    insert_at = variants[0]
    return "\n".join([*lines[:insert_at], *media, *lines[insert_at:]]) + "\n"


def _media_line(track: SubtitleTrack) -> str:
    attrs = [
        "TYPE=SUBTITLES",
        f"GROUP-ID={_quoted(SUBTITLE_GROUP)}",
        f"NAME={_quoted(track.name)}",
        f"LANGUAGE={_quoted(track.language)}",
        f"DEFAULT={'YES' if track.default else 'NO'}",
        # Players may pick a track by the user's language; a default one must be autoselect (RFC 8216 4.3.4.1).
        "AUTOSELECT=YES",
        "FORCED=NO",
        f"URI={_quoted(track.playlist_uri)}",
    ]
    return "#EXT-X-MEDIA:" + ",".join(attrs)


def _is_own_media(line: str) -> bool:
    if not line.startswith("#EXT-X-MEDIA:"):
        return False
    attrs = dict(_ATTRIBUTE.findall(line.removeprefix("#EXT-X-MEDIA:")))
    return attrs.get("TYPE") == "SUBTITLES" and attrs.get("GROUP-ID") == f'"{SUBTITLE_GROUP}"'


def _with_subtitles_attribute(line: str, present: bool) -> str:
    body = line.removeprefix("#EXT-X-STREAM-INF:")
    pairs = [(name, value) for name, value in _ATTRIBUTE.findall(body) if name != "SUBTITLES"]
    if present:
        pairs.append(("SUBTITLES", _quoted(SUBTITLE_GROUP)))
    return "#EXT-X-STREAM-INF:" + ",".join(f"{name}={value}" for name, value in pairs)


def mpd_with_subtitles(mpd: str, tracks: Sequence[SubtitleTrack]) -> str:
    """`mpd` with one text AdaptationSet (text/vtt, lang, Role subtitle) per track in its first Period, and
    no other subtitle set of ours. The file is referenced whole by BaseURL, as DASH-IF IOP 6.4.5 allows for
    side-loaded WebVTT (dash.js and Shaka play it so)."""
    root = _plain_names(ET.fromstring(mpd))  # noqa: S314 (our own stored MPD, written by manifests.dash_mpd)
    period = root.find("Period")
    if period is None:
        raise ValueError("the MPD has no Period")
    # Every text set is ours: manifests.dash_mpd writes video and audio sets only.
    for element in list(period.findall("AdaptationSet")):
        if element.get("contentType") == "text":
            period.remove(element)
    # AdaptationSet@id is an unsignedInt, unique in the Period: the text sets number on from the others.
    first_id = 1 + max((int(a.get("id", "0")) for a in period.findall("AdaptationSet")), default=-1)
    seconds = max(1, round(mpd_duration(root)))
    for number, track in enumerate(tracks, start=first_id):
        adaptation = ET.SubElement(
            period,
            "AdaptationSet",
            {
                "id": str(number),
                "contentType": "text",
                "mimeType": "text/vtt",
                "lang": track.language,
            },
        )
        ET.SubElement(adaptation, "Label").text = track.name
        ET.SubElement(adaptation, "Role", {"schemeIdUri": DASH_ROLE_SCHEME, "value": "subtitle"})
        if track.default:
            ET.SubElement(adaptation, "Role", {"schemeIdUri": DASH_ROLE_SCHEME, "value": "main"})
        representation = ET.SubElement(
            adaptation,
            "Representation",
            # A side-loaded file has no bitrate of its own: its size over the presentation is an honest figure.
            {"id": track.track_id, "bandwidth": str(max(1, track.size_bytes * 8 // seconds))},
        )
        ET.SubElement(representation, "BaseURL").text = track.vtt_uri
    ET.indent(root, space="  ")
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def _plain_names(root: ET.Element) -> ET.Element:
    """The tree with the DASH namespace as a plain xmlns attribute, as manifests.dash_mpd builds it: written
    back, it keeps one default namespace and no ns0: prefixes."""
    prefix = f"{{{DASH_NS}}}"
    for element in root.iter():
        if isinstance(element.tag, str) and element.tag.startswith(prefix):
            element.tag = element.tag[len(prefix) :]
    root.set("xmlns", DASH_NS)
    return root


def mpd_duration(root: ET.Element | str) -> float:
    """The presentation's duration in seconds (mediaPresentationDuration), 0 when absent."""
    if isinstance(root, str):
        root = ET.fromstring(root)  # noqa: S314 (our own stored MPD)
    match = _DURATION.match(root.get("mediaPresentationDuration", ""))
    if match is None:
        return 0.0
    return float(match["h"] or 0) * 3600 + float(match["m"] or 0) * 60 + float(match["s"] or 0)


def _quoted(value: str) -> str:
    if any(c in value for c in '"\r\n') or not value.isprintable():
        raise ValueError(f"{value!r} cannot be an HLS quoted-string")
    return f'"{value}"'


def _check_uri(uri: str) -> None:
    if not uri or any(c in uri for c in "\r\n") or uri.startswith("#"):
        raise ValueError(f"{uri!r} cannot be a playlist URI line")
