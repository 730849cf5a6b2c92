"""Which of the source's audio streams become audio renditions, in which order, under which names.

Every audio stream is kept, up to MAX_AUDIO_TRACKS: the one flagged default first (else the first one),
then the others in stream order. The default track is the work item and directory "audio", as when a
source had a single track; the others are "audio-1", "audio-2", … in that order, so every key depends on
the order of the streams only, never on their (uploaded, untrusted) tags. The tags name the tracks for
players: the language as a BCP 47 tag (sources carry ISO 639-2, "eng" or "ger": players want "en", "de"),
when it is a valid tag, and the title.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence

import langcodes
from pydantic import BaseModel, ConfigDict

from lambdas.media.chunking import audio_item_id
from lambdas.media.probe import AudioStream

MAX_AUDIO_TRACKS = 8  # a film's languages and a commentary or two; more streams than this are dropped
MAX_TITLE_CHARS = 64
UNNAMED = "audio"  # the name of a track with neither language nor title
NO_LANGUAGE = ("und", "zxx", "mis", "mul")  # undetermined, no linguistic content, uncoded, multiple


class AudioChoice(BaseModel):
    """One audio stream of the source kept as a rendition."""

    model_config = ConfigDict(frozen=True)

    track: str  # work item id and directory: "audio" (the default), "audio-1", …
    stream: int  # the source's stream index
    name: str  # what players list: unique among the kept tracks
    language: str | None = None
    start_time: float | None = None  # the stream's first timestamp, as probed (kept in the output)

    @property
    def default(self) -> bool:
        return self.track == audio_item_id(0)


def choose_audio(streams: Sequence[AudioStream], limit: int = MAX_AUDIO_TRACKS) -> tuple[AudioChoice, ...]:
    """The kept tracks, the default first: see the module's docstring."""
    if not streams:
        return ()
    first = next((s for s in streams if s.default), streams[0])
    ordered = [first, *(s for s in streams if s is not first)][:limit]
    taken: set[str] = set()
    chosen = []
    for position, stream in enumerate(ordered):
        language = _language(stream.language)
        name = _unique(" - ".join(p for p in (language, _title(stream.title)) if p) or UNNAMED, taken)
        taken.add(name)
        chosen.append(
            AudioChoice(
                track=audio_item_id(position),
                stream=stream.index,
                name=name,
                language=language,
                start_time=stream.start_time,
            )
        )
    return tuple(chosen)


def _language(tag: str | None) -> str | None:
    """The tag as BCP 47 (RFC 5646), which DASH @lang and HLS LANGUAGE require; None if it is not one."""
    if not tag or not langcodes.tag_is_valid(tag):
        return None
    try:
        standard = langcodes.standardize_tag(tag)
    except ValueError:  # langcodes.tag_parser.LanguageTagError is one
        return None
    return None if standard in NO_LANGUAGE else standard


def _title(title: str | None) -> str | None:
    """The title as one printable line, without the quote an HLS attribute cannot hold."""
    if not title:
        return None
    kept = "".join(_printable(c) for c in title.replace('"', "'"))
    return " ".join(kept.split())[:MAX_TITLE_CHARS].strip() or None


def _printable(c: str) -> str:
    category = unicodedata.category(c)
    if category in ("Cc", "Zl", "Zp", "Zs"):  # a line break would end the HLS tag
        return " "
    return "" if category in ("Cs", "Co", "Cn") else c


def _unique(name: str, taken: set[str]) -> str:
    """`name`, or "name 2", "name 3", … for a second track of the same language and title."""
    candidate, number = name, 1
    while candidate in taken:
        number += 1
        candidate = f"{name} {number}"
    return candidate
