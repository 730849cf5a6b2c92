"""Typed media errors; the state machine's Catch matches them by class name, so never rename one."""

from __future__ import annotations

import re
from collections.abc import Sequence

# Markers in ffmpeg/ffprobe stderr. "Invalid data found" alone means "not a format we know" when
# probing, but damage once a probe has succeeded.
_REFUSED = ("not on whitelist", "Not detecting m3u8", "Unsafe file name")
_DAMAGED = (
    "moov atom not found",
    "truncat",
    "corrupt",
    "partial file",
    "End of file",
    "rror while decoding",
    "Invalid NAL unit",
    "ould not find codec parameters",
)


class MediaError(Exception):
    """Base class. `str(error)` is written for the person who uploaded the file."""

    def __init__(self, message: str, *, stderr_tail: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.message = message
        # The last lines ffmpeg/ffprobe wrote, for logs and support; paths in them are our temp dir only.
        self.stderr_tail = stderr_tail

    def located(self, where: str) -> None:
        """Say where it happened ("Encoding chunk 3/20 …"), once, in front of the message."""
        if not self.message.startswith(where):
            self.message = f"{where}: {self.message}"
            self.args = (self.message, *self.args[1:])


# Lines that only say that something failed, not what: the line before them is the one worth reading.
_GENERIC = (
    "Conversion failed!",
    "Error closing file",
    "Exiting normally",
    "Error opening output files",
    "Error while filtering",
    "Error reinitializing filters",
    "Failed to inject frame into filter network",
    "Error sending frames to consumers",
    "Task finished with error code",
    "Terminating thread with return code",
    "Nothing was written into output file",
    "Error initializing output stream",
    "Error while opening encoder",
    "Error while decoding stream",
    "Error splitting the input into NAL units",
    "Error while processing the decoded data",
    "Failed to configure output pad",
    "Failed to configure input pad",
)
_ADDRESS = re.compile(r" @ 0x[0-9a-fA-F]+")
_PATH = re.compile(r"(?:file:)?(?:/[^\s/:'\",()\[\]]+)+/([^\s/:'\",()\[\]]+)")
_SAID_LIMIT = 240


def ffmpeg_said(stderr_tail: Sequence[str]) -> str | None:
    """ffmpeg's own last error line, fit to show a user: no memory addresses, no directories, one line."""
    lines = [line.strip() for line in stderr_tail if line.strip()]
    specific = [line for line in lines if not any(g in line for g in _GENERIC)]
    if not lines:
        return None
    chosen = (specific or lines)[-1]
    text = _PATH.sub(lambda match: match.group(1), _ADDRESS.sub("", chosen))
    return text if len(text) <= _SAID_LIMIT else text[: _SAID_LIMIT - 1] + "…"


class SourceUnreadable(MediaError):
    """The upload is truncated, empty or corrupt."""


class UnsupportedInput(MediaError):
    """Not a container or codec we accept; playlists and concat lists land here too."""


class NoVideoStream(MediaError):
    """The file holds no video (audio only, images, subtitles)."""


class NoAudioStream(MediaError):
    """The file holds no sound, and the job asks for audio outputs only."""


class PolicyViolation(MediaError):
    """The file is valid but outside the limits (size, duration, resolution, frame rate)."""

    def __init__(self, field: str, message: str, *, limit: object = None, actual: object = None) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.limit = limit
        self.actual = actual


class TranscodeFailed(MediaError):
    """ffmpeg failed on a file that probed fine (time-out, resource limit, encoder error)."""


class EncoderKilled(TranscodeFailed):
    """ffmpeg was killed from outside (not by our time-out): worth another try, the state machine retries it."""


_MESSAGES: dict[type[MediaError], str] = {
    UnsupportedInput: "The file is not a video format we accept (playlists and lists of files are refused).",
    SourceUnreadable: "The file could not be read: it looks truncated or corrupt.",
    TranscodeFailed: "Processing the video failed.",
}


def classify_failure(stderr_tail: Sequence[str], *, stage: str) -> MediaError:
    """The typed error a failed ffprobe (`stage="probe"`) or ffmpeg run stands for."""
    text = "\n".join(stderr_tail)
    kind: type[MediaError]
    if any(marker in text for marker in _REFUSED):
        kind = UnsupportedInput
    elif any(marker in text for marker in _DAMAGED):
        kind = SourceUnreadable
    elif "Invalid data found" in text:
        kind = UnsupportedInput if stage == "probe" else SourceUnreadable
    else:
        kind = SourceUnreadable if stage == "probe" else TranscodeFailed
    message = _MESSAGES[kind]
    said = ffmpeg_said(stderr_tail)
    if said:
        message = f"{message} {'ffprobe' if stage == 'probe' else 'ffmpeg'} said: {said}"
    return kind(message, stderr_tail=tuple(stderr_tail))
