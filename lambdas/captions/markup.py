"""Cue text reduced to the markup WebVTT defines: c, i, b, u, ruby, rt, v, lang and cue timestamps.

Everything else is removed: unknown tags go (their text stays), the content of script-like elements goes
with them, attributes and remote references (`<img src=…>`, `<a href=…>`, `<font>`) never survive, and
text is re-escaped so that what a player renders is exactly the text the file meant.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field

from lambdas.captions.language import InvalidLanguageTag, language_tag

ALLOWED_TAGS = frozenset({"c", "i", "b", "u", "ruby", "rt", "v", "lang"})
# Elements whose content is code or styling, never caption text: dropped whole.
DROPPED_CONTENT = frozenset(
    {"script", "style", "iframe", "object", "embed", "noscript", "template", "svg", "math", "title", "textarea", "xmp"}
)
_TAG = re.compile(
    r"^(?P<close>/)?(?P<name>[A-Za-z][A-Za-z0-9]*)(?P<classes>(?:\.[^\s.<>/]*)*)(?:[ \t\f](?P<rest>.*))?$"
)
_TIMESTAMP = re.compile(r"^(?:(?P<h>[0-9]{2,}):)?(?P<m>[0-5][0-9]):(?P<s>[0-5][0-9])\.(?P<ms>[0-9]{3})$")
_CLASS = re.compile(r"^[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,30}[A-Za-z0-9_])?$")
# SubRip files carry ASS/SSA override codes ("{\an8}", "{\i1}"); they are styling, not text.
_ASS_OVERRIDE = re.compile(r"\{\\[^{}\n]*\}")
# C0/C1 controls other than the line feed, and the characters that are not text at all.
_CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f\x7f-\x9f\ufffe\uffff]")
MAX_ANNOTATION = 128
MAX_NESTING = 8  # tags open at once: real captions use two or three; deeper ones are dropped (text kept)


@dataclass
class _Out:
    parts: list[str] = field(default_factory=list)
    open: list[str] = field(default_factory=list)  # the allowed tags open, innermost last
    removed: set[str] = field(default_factory=set)  # what went, for the caption's report

    def text(self, value: str) -> None:
        self.parts.append(escape_text(html.unescape(value)))

    def close_to(self, name: str) -> None:
        while self.open:
            top = self.open.pop()
            self.parts.append(f"</{top}>")
            if top == name:
                return


def escape_text(value: str) -> str:
    """Plain text as WebVTT cue text: the three characters with meaning escaped, controls removed."""
    value = _CONTROL.sub("", value)
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def sanitise_cue_text(text: str, *, from_srt: bool = False) -> tuple[str, frozenset[str]]:
    """(clean cue text, names of what was removed). Lines are kept; no line of the result is empty, and none
    holds "-->", which would end the cue early."""
    if from_srt:
        text = _ASS_OVERRIDE.sub("", text)
    out = _Out()
    position = 0
    while position < len(text):
        start = text.find("<", position)
        if start < 0:
            out.text(text[position:])
            break
        end = text.find(">", start)
        newline = text.find("\n", start)
        if end < 0 or (0 <= newline < end):
            out.text(text[position : start + 1])  # a lone "<" is text
            position = start + 1
            continue
        out.text(text[position:start])
        position = end + 1
        tag = text[start + 1 : end]
        dropped_to = _tag(out, tag, text, position)
        if dropped_to is not None:
            position = dropped_to
    out.close_to("")  # close whatever is still open
    # Text never holds a bare ">" and no tag written ends in "-": "-->" cannot appear.
    lines = [line.strip() for line in "".join(out.parts).split("\n")]
    return "\n".join(line for line in lines if _visible(line)), frozenset(out.removed)


def _tag(out: _Out, tag: str, text: str, after: int) -> int | None:
    """Emit what `<tag>` becomes; the position to go on from when the element's content is dropped too."""
    timestamp = _TIMESTAMP.match(tag)
    if timestamp is not None:
        out.parts.append(f"<{format_timestamp(clock_seconds(*timestamp.group('h', 'm', 's', 'ms')))}>")
        return None
    match = _TAG.match(tag)
    if match is None:
        if tag.startswith(("!", "?")):  # <!-- comments -->, <!DOCTYPE>, <?xml?>: markup, never text
            out.removed.add("markup")
        else:
            out.text(f"<{tag}>")  # "a < b > c" is text: shown as written
        return None
    name = match["name"].lower()
    if match["close"]:
        if name in out.open:
            out.close_to(name)
        return None
    if name in DROPPED_CONTENT:
        out.removed.add(name)
        closing = re.compile(rf"</\s*{re.escape(name)}\s*>", re.IGNORECASE).search(text, after)
        return len(text) if closing is None else closing.end()
    if name in ALLOWED_TAGS:
        _open(out, name, match)
    else:
        out.removed.add(name)
    return None


def _open(out: _Out, name: str, match: re.Match[str]) -> None:
    """An allowed start tag, with the classes and the annotation WebVTT gives it meaning."""
    if len(out.open) >= MAX_NESTING:
        out.removed.add("nesting")
        return
    if name == "rt" and "ruby" not in out.open:
        out.removed.add("rt")
        return
    if name in {"ruby", "rt"} and out.open and out.open[-1] == "rt":
        out.close_to("rt")  # an rt ends at the next rt or the ruby's end
    classes = [c for c in (match["classes"] or "").split(".") if c]
    kept = [c for c in classes if _CLASS.match(c)]
    if len(kept) != len(classes):
        out.removed.add("class")
    annotation = ""
    rest = (match["rest"] or "").strip()
    if name == "v":
        voice = escape_text(html.unescape(rest)[:MAX_ANNOTATION].strip().rstrip("-"))
        annotation = f" {voice}" if voice else ""
    elif name == "lang":
        try:
            annotation = f" {language_tag(rest)}"
        except InvalidLanguageTag:
            out.removed.add("lang")
            return
    elif rest:
        out.removed.add("attributes")
    out.parts.append(f"<{name}{''.join('.' + c for c in kept)}{annotation}>")
    out.open.append(name)


def _visible(line: str) -> bool:
    """Whether the line shows anything once its tags are set aside (an empty line would end the cue)."""
    return bool(re.sub(r"<[^>]*>", "", line).strip())


def clock_seconds(hours: str | None, minutes: str, seconds: str, millis: str) -> float:
    return int(hours or 0) * 3600 + int(minutes) * 60 + int(seconds) + int(millis) / 1000


def format_timestamp(seconds: float) -> str:
    """HH:MM:SS.mmm (hours always written: every player reads them)."""
    millis = round(seconds * 1000)
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    secs, millis = divmod(millis, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}.{millis:03d}"
