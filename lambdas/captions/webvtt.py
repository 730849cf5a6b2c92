"""Caption files (WebVTT or SubRip) read strictly, checked against the video, and written as clean WebVTT.

A file is refused with the line at fault (`CaptionRejected.line`); what is merely unsafe or unknown (markup
WebVTT does not define, STYLE/REGION/NOTE blocks, unknown cue settings) is removed and counted instead.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from lambdas.captions.markup import clock_seconds, escape_text, format_timestamp, sanitise_cue_text
from lambdas.jobs.model import CaptionFormat

MAX_CAPTION_BYTES = 2 * 2**20  # a feature film's subtitles are ~100 KB; ten times a long one
MAX_CUES = 20_000
MAX_CUE_CHARS = 4_000  # of one cue's text as uploaded: a few lines on screen are ~100
MAX_ID_CHARS = 128

_VTT_TS = r"(?:[0-9]{2,}:)?[0-5][0-9]:[0-5][0-9]\.[0-9]{3}"
_VTT_TIMING = re.compile(rf"^(?P<start>{_VTT_TS})[ \t]+-->[ \t]+(?P<end>{_VTT_TS})(?:[ \t]+(?P<settings>.*))?$")
# SubRip: comma (or, from some tools, dot) before the milliseconds, 1-3 digits of them; optional X1:… box.
_SRT_TS = r"[0-9]{1,3}:[0-5]?[0-9]:[0-5]?[0-9][,.][0-9]{1,3}"
_SRT_TIMING = re.compile(rf"^(?P<start>{_SRT_TS})[ \t]*-->[ \t]*(?P<end>{_SRT_TS})(?:[ \t]+.*)?$")
_TS_PARTS = re.compile(r"^(?:(?P<h>[0-9]+):)?(?P<m>[0-9]{1,2}):(?P<s>[0-9]{1,2})[,.](?P<ms>[0-9]{1,3})$")
_SETTINGS = {
    "vertical": re.compile(r"^(?:rl|lr)$"),
    "line": re.compile(r"^(?:-?[0-9]+|(?:[0-9]{1,2}(?:\.[0-9]+)?|100(?:\.0+)?)%)(?:,(?:start|center|end))?$"),
    "position": re.compile(r"^(?:[0-9]{1,2}(?:\.[0-9]+)?|100(?:\.0+)?)%(?:,(?:line-left|center|line-right))?$"),
    "size": re.compile(r"^(?:[0-9]{1,2}(?:\.[0-9]+)?|100(?:\.0+)?)%$"),
    "align": re.compile(r"^(?:start|center|end|left|right)$"),
}


class CaptionRejected(ValueError):
    """The file cannot be a caption track; `line` (1-based) is where, when one line is at fault."""

    def __init__(self, reason: str, line: int | None = None) -> None:
        self.reason, self.line = reason, line
        super().__init__(f"line {line}: {reason}" if line is not None else reason)


@dataclass(frozen=True)
class Cue:
    start_s: float
    end_s: float
    text: str  # clean WebVTT cue text
    identifier: str = ""
    settings: str = ""
    line: int = 0  # of its timing line in the uploaded file


@dataclass(frozen=True)
class CaptionTrack:
    cues: tuple[Cue, ...]
    removed: frozenset[str]  # what sanitising took out: tag names, "style", "region", "note", "settings"…
    trimmed_cues: int  # cues cut back to the video's end

    def render(self) -> str:
        """The track as a WebVTT file: a bare header, then the cues in start order."""
        blocks = ["WEBVTT"]
        for cue in self.cues:
            timing = f"{format_timestamp(cue.start_s)} --> {format_timestamp(cue.end_s)}"
            if cue.settings:
                timing += f" {cue.settings}"
            head = [cue.identifier] if cue.identifier else []
            blocks.append("\n".join([*head, timing, cue.text]))
        return "\n\n".join(blocks) + "\n"


def read_caption(data: bytes, file_format: CaptionFormat, *, duration_s: float | None) -> CaptionTrack:
    """The clean track of an uploaded file; CaptionRejected with the line at fault."""
    text = _decode(data)
    lines = text.split("\n")
    blocks = _blocks(lines)
    removed: set[str] = set()
    if file_format is CaptionFormat.VTT:
        cues = list(_vtt_cues(lines, blocks, removed))
    else:
        cues = list(_srt_cues(blocks, removed))
    if not cues:
        raise CaptionRejected("the file holds no cue with text")
    if len(cues) > MAX_CUES:
        raise CaptionRejected(f"the file holds {len(cues)} cues; at most {MAX_CUES} are accepted")
    trimmed = 0
    if duration_s is not None:
        cues, trimmed = _inside(cues, duration_s)
    cues.sort(key=lambda cue: (cue.start_s, cue.end_s))  # WebVTT wants start order; files are not always
    return CaptionTrack(cues=tuple(cues), removed=frozenset(removed), trimmed_cues=trimmed)


def _decode(data: bytes) -> str:
    if len(data) > MAX_CAPTION_BYTES:
        raise CaptionRejected(f"the file is {len(data)} bytes; the limit is {MAX_CAPTION_BYTES}")
    if not data.strip():
        raise CaptionRejected("the file is empty")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise CaptionRejected("the file is not UTF-8 text (save it as UTF-8)", line) from None
    if "\x00" in text:
        raise CaptionRejected("the file holds NUL bytes: not a text file", text[: text.index("\x00")].count("\n") + 1)
    return text.replace("\r\n", "\n").replace("\r", "\n")


@dataclass(frozen=True)
class _Block:
    first: int  # index of its first line
    lines: tuple[str, ...]


def _blocks(lines: list[str]) -> list[_Block]:
    blocks: list[_Block] = []
    current: list[str] = []
    first = 0
    for index, line in enumerate(lines):
        if line.strip():
            if not current:
                first = index
            current.append(line)
        elif current:
            blocks.append(_Block(first, tuple(current)))
            current = []
    if current:
        blocks.append(_Block(first, tuple(current)))
    return blocks


def _vtt_cues(lines: list[str], blocks: list[_Block], removed: set[str]) -> Iterator[Cue]:
    header = lines[0]
    if not (header == "WEBVTT" or header.startswith(("WEBVTT ", "WEBVTT\t"))):
        raise CaptionRejected('a WebVTT file starts with "WEBVTT" (is it SubRip? say format "srt")', 1)
    seen_cue = False
    for block in blocks[1:] if blocks and blocks[0].first == 0 else blocks:
        head = block.lines[0]
        kind = head.split(None, 1)[0] if head.split() else ""
        if kind == "NOTE" and "-->" not in head:
            removed.add("note")
            continue
        if kind in {"STYLE", "REGION"} and "-->" not in head and not seen_cue:
            removed.add(kind.lower())  # style sheets may fetch (url(), @import); regions are dropped with them
            continue
        seen_cue = True
        cue = _vtt_cue(block, removed)
        if cue.text:
            yield cue


def _vtt_cue(block: _Block, removed: set[str]) -> Cue:
    identifier = ""
    timing_at = 0
    if "-->" not in block.lines[0]:
        identifier = block.lines[0].strip()
        timing_at = 1
        if len(block.lines) < 2 or "-->" not in block.lines[1]:
            raise CaptionRejected(
                f"expected a cue timing line (00:00:01.000 --> 00:00:02.000), found {_shown(block.lines[0])}",
                block.first + 1,
            )
    line_number = block.first + timing_at + 1
    match = _VTT_TIMING.match(block.lines[timing_at].strip())
    if match is None:
        raise CaptionRejected(
            f"malformed cue timing {_shown(block.lines[timing_at])} (expected 00:00:01.000 --> 00:00:02.000)",
            line_number,
        )
    payload = block.lines[timing_at + 1 :]
    if any("-->" in line for line in payload):
        offset = next(i for i, line in enumerate(payload) if "-->" in line)
        raise CaptionRejected(
            "a cue timing line inside a cue's text: put a blank line before it", line_number + 1 + offset
        )
    settings = _settings(match["settings"] or "", removed)
    text = "\n".join(payload)
    return _cue(
        match["start"], match["end"], text, line_number, identifier=identifier, settings=settings, removed=removed
    )


def _srt_cues(blocks: list[_Block], removed: set[str]) -> Iterator[Cue]:
    for block in blocks:
        timing_at = 0
        if "-->" not in block.lines[0]:
            if not block.lines[0].strip().isdigit() or len(block.lines) < 2:
                raise CaptionRejected(
                    f"expected a cue number or a timing line (00:00:01,000 --> 00:00:02,000), "
                    f"found {_shown(block.lines[0])}",
                    block.first + 1,
                )
            timing_at = 1
        line_number = block.first + timing_at + 1
        match = _SRT_TIMING.match(block.lines[timing_at].strip())
        if match is None:
            raise CaptionRejected(
                f"malformed cue timing {_shown(block.lines[timing_at])} (expected 00:00:01,000 --> 00:00:02,000)",
                line_number,
            )
        payload = block.lines[timing_at + 1 :]
        if any("-->" in line for line in payload):
            offset = next(i for i, line in enumerate(payload) if "-->" in line)
            raise CaptionRejected(
                "a cue timing line inside a cue's text: put a blank line before it", line_number + 1 + offset
            )
        cue = _cue(
            match["start"],
            match["end"],
            "\n".join(payload),
            line_number,
            identifier="",
            settings="",
            removed=removed,
            from_srt=True,
        )
        if cue.text:
            yield cue


def _cue(
    start: str,
    end: str,
    text: str,
    line: int,
    *,
    identifier: str,
    settings: str,
    removed: set[str],
    from_srt: bool = False,
) -> Cue:
    start_s, end_s = _seconds(start, line), _seconds(end, line)
    if end_s <= start_s:
        raise CaptionRejected(f"the cue ends ({end.strip()}) before or when it starts ({start.strip()})", line)
    if len(text) > MAX_CUE_CHARS:
        raise CaptionRejected(f"the cue's text is longer than {MAX_CUE_CHARS} characters", line)
    clean, gone = sanitise_cue_text(text, from_srt=from_srt)
    removed |= gone
    identifier = escape_text(identifier)[:MAX_ID_CHARS]  # escaped: it can hold no "-->"
    return Cue(start_s, end_s, clean, identifier, settings, line)


def _seconds(value: str, line: int) -> float:
    match = _TS_PARTS.match(value.strip())
    if match is None:  # the timing patterns only let through what this reads
        raise CaptionRejected(f"malformed timestamp {_shown(value)}", line)
    return clock_seconds(match["h"], match["m"], match["s"], match["ms"].ljust(3, "0"))


def _settings(text: str, removed: set[str]) -> str:
    kept: dict[str, str] = {}
    for token in text.split():
        name, _, value = token.partition(":")
        pattern = _SETTINGS.get(name)
        if pattern is None or not pattern.match(value) or name in kept:
            removed.add("settings")  # region:… (regions are dropped), unknown or malformed settings
            continue
        kept[name] = value
    return " ".join(f"{name}:{value}" for name, value in kept.items())


def _inside(cues: list[Cue], duration_s: float) -> tuple[list[Cue], int]:
    inside: list[Cue] = []
    trimmed = 0
    for given in cues:
        cue = given
        if cue.start_s >= duration_s:
            raise CaptionRejected(
                f"the cue starts at {format_timestamp(cue.start_s)}, after the video ends "
                f"({format_timestamp(duration_s)})",
                cue.line,
            )
        if cue.end_s > duration_s:  # on screen until the video ends: cut back, not refused
            cue = Cue(cue.start_s, duration_s, cue.text, cue.identifier, cue.settings, cue.line)
            trimmed += 1
        inside.append(cue)
    return inside, trimmed


def _shown(line: str) -> str:
    value = line.strip()
    return repr(value if len(value) <= 60 else value[:57] + "…")
