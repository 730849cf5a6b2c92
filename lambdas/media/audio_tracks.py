"""Which of the source's audio streams become audio renditions, in which order, under which names.

Every audio stream is kept, up to MAX_AUDIO_TRACKS: the one flagged default first (else the first one),
then the others in stream order. The default track is the work item and directory "audio", as when a
source had a single track; the others are "audio-1", "audio-2", … in that order, so every key depends on
the order of the streams only, never on their (uploaded, untrusted) tags. The tags name the tracks for
players: the language as tagged (ISO 639, "eng") when it looks like a language tag, and the title.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict

from lambdas.media.chunking import audio_item_id
from lambdas.media.probe import AudioStream

MAX_AUDIO_TRACKS = 8  # a film's languages and a commentary or two; more streams than this are dropped
MAX_TITLE_CHARS = 64
UNNAMED = "audio"  # the name of a track with neither language nor title
# RFC 5646's shape (a primary 2-3 letter ISO 639 code, then subtags): DASH @lang and HLS LANGUAGE need one.
_LANGUAGE = re.compile(r"^[A-Za-z]{2,3}(?:-[A-Za-z0-9]{1,8})*$")


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
    return tag if tag and _LANGUAGE.match(tag) else None


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
