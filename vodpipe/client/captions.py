"""Adding a caption file to a completed job: create the caption, PUT the file to its URL, complete it."""

from __future__ import annotations

from contextlib import suppress
from pathlib import Path

import httpx

from vodpipe.client.api import ApiClient, Json
from vodpipe.client.errors import ClientError

FORMATS = {".vtt": "vtt", ".webvtt": "vtt", ".srt": "srt"}


class CaptionFileError(ClientError):
    """The file cannot be sent: unreadable, or of a format the API does not take."""


def caption_format(path: Path, given: str | None = None) -> str:
    """ "vtt" or "srt": as given, else from the file's extension."""
    if given:
        return given
    try:
        return FORMATS[path.suffix.lower()]
    except KeyError:
        raise CaptionFileError(f"{path.name}: say --format vtt or srt (the extension does not tell)") from None


def add_caption(
    api: ApiClient,
    job_id: str,
    path: Path,
    *,
    language: str,
    label: str | None = None,
    default: bool = False,
    file_format: str | None = None,
    transport: httpx.BaseTransport | None = None,
) -> Json:
    """The caption, ready: created, its file uploaded to the presigned URL, and completed. The API's 422 (a
    malformed file, naming the line) is raised as the ApiError it is; the pending caption is then deleted."""
    try:
        data = path.read_bytes()
    except OSError as error:
        raise CaptionFileError(f"{path}: {error.strerror or error}") from None
    created = api.create_caption(
        job_id, language, label=label, file_format=caption_format(path, file_format), default=default
    )
    caption_id = created["caption"]["caption_id"]
    try:
        with httpx.Client(timeout=60.0, transport=transport) as http:
            response = http.put(created["upload_url"], content=data)
        if response.status_code >= 300:
            raise ClientError(f"uploading {path.name} failed: HTTP {response.status_code}")
        return api.complete_caption(job_id, caption_id)
    except BaseException:
        with suppress(ClientError):
            api.delete_caption(job_id, caption_id)  # no pending caption left behind
        raise


def describe(caption: Json) -> str:
    """`cap_… en "English" (default) ready: 42 cues, removed script, img`."""
    default = " (default)" if caption.get("default") else ""
    status = caption.get("status")
    detail = f": {caption.get('cue_count')} cues" if status == "ready" else ""
    removed = caption.get("removed") or []
    cleaned = f", removed {', '.join(removed)}" if removed else ""
    return f'{caption["caption_id"]} {caption["language"]} "{caption["label"]}"{default} {status}{detail}{cleaned}'
