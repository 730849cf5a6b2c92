"""A stored manifest with every URI made absolute and signed: players cannot carry a query string from a
manifest to the relative URIs inside it, so each one gets its own.

Pure text functions. URIs are resolved against the manifest's own place in the job's outputs (`file`, e.g.
"cmaf/master.m3u8") and handed to callbacks by that job-relative path: `playlist` for another manifest (served by
the play endpoint again), `media` for everything else (init and media segments, subtitles: the URL signer). A
URI that leaves the job's outputs (absolute, with a scheme, or climbing out with "..") is refused: the stored
manifests never hold one, so finding one means the manifest is not ours.
"""

from __future__ import annotations

import posixpath
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable

Resolve = Callable[[str], str]  # a job-relative path -> the absolute URL a player fetches

_URI_ATTRIBUTE = re.compile(r'URI="([^"]*)"')
_PLAYLISTS = (".m3u8", ".mpd")
_NUMBER = re.compile(r"\$Number(?:%0(?P<width>\d+)d)?\$")
_DASH_NS = "urn:mpeg:dash:schema:mpd:2011"


class ForeignUri(ValueError):
    """A manifest refers to something outside the job's outputs."""


def resolve_uri(file: str, uri: str) -> str:
    """`uri` as found in the manifest at `file`, as a path relative to the job's outputs."""
    if not uri or ":" in uri or uri.startswith(("/", "\\")) or "?" in uri or "#" in uri:
        raise ForeignUri(f"{uri!r} in {file} is not a relative path")
    path = posixpath.normpath(posixpath.join(posixpath.dirname(file), uri))
    if path == "." or path.startswith("../") or path == "..":
        raise ForeignUri(f"{uri!r} in {file} leaves the job's outputs")
    return path


def rewrite_hls(text: str, file: str, *, media: Resolve, playlist: Resolve) -> str:
    """An HLS playlist (master or media) with every URI line and URI="…" attribute signed."""

    def sign(uri: str) -> str:
        path = resolve_uri(file, uri)
        return playlist(path) if path.endswith(_PLAYLISTS) else media(path)

    lines = []
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped:
            lines.append(line)
        elif stripped.startswith("#"):
            lines.append(_URI_ATTRIBUTE.sub(lambda m: f'URI="{sign(m.group(1))}"', line))
        else:
            lines.append(sign(stripped))
    return "\n".join(lines) + "\n"


def rewrite_dash(text: str, file: str, *, media: Resolve, template: Resolve | None = None) -> str:
    """A DASH MPD with every segment URI signed.

    With `template` (a signer whose one signature covers the whole stream: CloudFront's prefix grant) each
    SegmentTemplate keeps its form, its `initialization` and `media` made absolute through it. Without, a template
    cannot carry one signature per segment, so the segments are listed: a SegmentList with the template's
    timescale, startNumber and SegmentTimeline (ISO/IEC 23009-1 5.3.9.3) and one SegmentURL per segment.
    """
    root = ET.fromstring(text)  # noqa: S314 - our own stored manifest, written by lambdas/media/manifests.py
    for element in root.iter():
        element.tag = element.tag.rsplit("}", 1)[-1]
    if any(e.tag == "BaseURL" for e in root.iter()):
        raise ForeignUri(f"{file} has a BaseURL: its segment URIs cannot be resolved here")
    for parent in list(root.iter()):
        for found in [c for c in parent if c.tag == "SegmentTemplate"]:
            if template is not None:
                for name in ("initialization", "media"):
                    uri = found.get(name)
                    if uri:
                        found.set(name, template(resolve_uri(file, uri)))
                continue
            index = list(parent).index(found)
            parent.remove(found)
            parent.insert(index, _segment_list(found, file, media))
    root.set("xmlns", _DASH_NS)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def _segment_list(template: ET.Element, file: str, media: Resolve) -> ET.Element:
    timeline = template.find("SegmentTimeline")
    pattern, init = template.get("media"), template.get("initialization")
    if timeline is None or pattern is None or "$Time$" in pattern or not _NUMBER.search(pattern):
        raise ForeignUri(f"{file}: only $Number$ templates over a SegmentTimeline are signed")
    attrs = {name: template.get(name) or "" for name in ("timescale", "startNumber") if template.get(name)}
    segments = ET.Element("SegmentList", attrs)
    if init:
        ET.SubElement(segments, "Initialization", {"sourceURL": media(resolve_uri(file, init))})
    segments.append(timeline)
    if any(int(s.get("r", "0")) < 0 for s in timeline if s.tag == "S"):
        raise ForeignUri(f"{file}: an open-ended timeline (r=-1) has no segment count")
    count = sum(1 + int(s.get("r", "0")) for s in timeline if s.tag == "S")
    first = int(template.get("startNumber", "1"))
    for number in range(first, first + count):
        uri = _NUMBER.sub(_numbered(number), pattern)
        ET.SubElement(segments, "SegmentURL", {"media": media(resolve_uri(file, uri))})
    return segments


def _numbered(number: int) -> Callable[[re.Match[str]], str]:
    def substitute(match: re.Match[str]) -> str:
        return str(number).zfill(int(match.group("width") or 0))

    return substitute
