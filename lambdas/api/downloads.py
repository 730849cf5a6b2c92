"""A job's downloadable files: what each is called, and a short-lived link that saves it under a readable name.

`downloads(job)` is the one place a file gets its download name (`720p.mp4`, `audio.m4a`, `audio.mp3`,
`audio-16k.wav`, `captions-<lang>.vtt`); the link is an S3 presigned GET whose `response-content-disposition`
makes the browser save it as `<the upload's file name stem>-<name>` (RFC 6266, with RFC 5987's `filename*` for
names that are not ASCII). The link is presigned for every job, private or not: it is bound to one key and
expires in minutes. On AWS the API's role needs s3:GetObject on the outputs bucket (a presigned URL carries the
signer's permissions).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from pathlib import PurePosixPath
from typing import Annotated, Any
from urllib.parse import quote

from aws_lambda_powertools.event_handler import APIGatewayRestResolver
from aws_lambda_powertools.event_handler.openapi.params import Path as PathParam
from pydantic import BaseModel, ConfigDict, Field

from lambdas.api.access import owned_job
from lambdas.api.error_responses import documented
from lambdas.api.errors import NotFound
from lambdas.api.models import _Response
from lambdas.jobs.model import JOB_ID_PATTERN, Clock, Job, JobStatus, OutputFile, OutputKind, UtcDatetime, utc_now
from lambdas.jobs.ports import JobRepository
from lambdas.storage.ports import DownloadLinks

# Long enough to start the download (S3 checks the signature when the request arrives, not while it streams).
DOWNLOAD_URL_TTL_S = 300
DOWNLOAD_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
# The saved file's name stays well under the 255 bytes file systems allow, whatever the upload was called.
MAX_STEM_CHARS = 120

MATROSKA_TYPE = "video/x-matroska"
_AUDIO_NAMES = {
    OutputKind.AUDIO: ("audio.m4a", "audio/mp4"),
    OutputKind.MP3: ("audio.mp3", "audio/mpeg"),
    OutputKind.WAV16K: ("audio-16k.wav", "audio/wav"),
}
MP4_TYPE = "video/mp4"
VTT_TYPE = "text/vtt"


class Downloadable(BaseModel):
    """One file a job's owner may download."""

    model_config = ConfigDict(frozen=True)

    name: str
    key: str
    kind: OutputKind
    content_type: str
    size_bytes: int
    rendition: str | None = None


def downloads(job: Job) -> tuple[Downloadable, ...]:
    """Every downloadable file of the job, by its download name: one MP4 per rung that has one, each audio
    download, each caption track (as WebVTT). Streams, thumbnails and reports are not downloads."""
    found: dict[str, Downloadable] = {}
    for file in _files(job):
        item = _downloadable(job, file)
        if item is not None and item.name not in found:
            found[item.name] = item
    return tuple(found.values())


def _files(job: Job) -> Iterable[OutputFile]:
    yield from job.outputs.files if job.outputs else ()
    # The audio downloads are on the job as soon as they are stored, before the job completes (audio.ready).
    yield from job.audio_files


def _downloadable(job: Job, file: OutputFile) -> Downloadable | None:
    common: dict[str, Any] = {"key": file.key, "kind": file.kind, "size_bytes": file.size_bytes}
    if file.kind is OutputKind.MP4:
        # A rung's progressive MP4 (`720p.mp4`), or a fast clip's copy: `clip.mp4`, or `clip.mkv` for codecs
        # MP4 cannot carry.
        path = PurePosixPath(file.key)
        rendition = file.rendition or path.stem
        matroska = path.suffix == ".mkv"
        return Downloadable(
            name=f"{rendition}{'.mkv' if matroska else '.mp4'}",
            content_type=MATROSKA_TYPE if matroska else MP4_TYPE,
            rendition=file.rendition,
            **common,
        )
    if file.kind in _AUDIO_NAMES:
        name, content_type = _AUDIO_NAMES[file.kind]
        return Downloadable(name=name, content_type=content_type, **common)
    if file.kind is OutputKind.CAPTIONS:
        return Downloadable(name=f"captions-{_caption_language(job, file)}.vtt", content_type=VTT_TYPE, **common)
    return None


def _caption_language(job: Job, file: OutputFile) -> str:
    """The caption track's language (BCP 47, as the owner gave it), from the job's captions; else from the key."""
    for caption in job.captions:
        if caption.key == file.key:
            return _safe_token(caption.language)
    return _safe_token(file.rendition or PurePosixPath(file.key).stem)


def _safe_token(value: str) -> str:
    cleaned = "".join(c if c.isascii() and (c.isalnum() or c in "-_") else "-" for c in value).strip("-")
    return cleaned or "und"


def saved_name(job: Job, name: str) -> str:
    """The name the browser saves a download as: `<upload's file name stem>-<name>` (a clip: its job id)."""
    stem = PurePosixPath(job.upload.file_name).stem if job.upload is not None else job.job_id
    stem = stem.strip() or job.job_id
    return f"{stem[:MAX_STEM_CHARS]}-{name}"


def content_disposition(file_name: str) -> str:
    """`attachment` with the file name: quoted ASCII for every client, plus RFC 5987's UTF-8 `filename*` when the
    name is not plain ASCII (RFC 6266 section 4.3: clients that understand `filename*` prefer it)."""
    fallback = ascii_file_name(file_name)
    header = f'attachment; filename="{fallback}"'
    if fallback != file_name:
        header += f"; filename*=UTF-8''{quote(file_name, safe='')}"
    return header


def ascii_file_name(file_name: str) -> str:
    """The name in printable ASCII: accents dropped (é → e), anything else that is not printable ASCII, and the
    characters a quoted-string or a file system would misread (" \\ % / : * ? < > |), as `_`."""
    decomposed = unicodedata.normalize("NFKD", file_name)
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    return "".join(c if 32 <= ord(c) < 127 and c not in '"\\%/:*?<>|' else "_" for c in plain)


class DownloadLink(_Response):
    name: str = Field(description="The download's name (GET /jobs/{id}/downloads/{name})")
    url: str = Field(description="A presigned GET: saves the file as `file_name`; expires at `expires_at`.")
    expires_at: UtcDatetime
    file_name: str = Field(description="The name the file is saved as (Content-Disposition: attachment)")
    size_bytes: int
    content_type: str


class DownloadEntry(_Response):
    name: str
    file_name: str
    size_bytes: int
    content_type: str
    rendition: str | None = None


class DownloadList(_Response):
    job_id: str
    status: JobStatus
    downloads: list[DownloadEntry]


class DownloadService:
    """The caller's own jobs' downloads (another owner's job is not found, as everywhere in the API)."""

    def __init__(
        self,
        repository: JobRepository,
        links: DownloadLinks,
        outputs_bucket: str,
        *,
        expires_in_s: int = DOWNLOAD_URL_TTL_S,
        clock: Clock = utc_now,
    ) -> None:
        self._repository, self._links, self._bucket = repository, links, outputs_bucket
        self._expires_in, self._clock = expires_in_s, clock

    def _job(self, owner: str, job_id: str) -> Job:
        return owned_job(self._repository, owner, job_id)

    def list(self, owner: str, job_id: str) -> DownloadList:
        job = self._job(owner, job_id)
        return DownloadList(
            job_id=job.job_id,
            status=job.status,
            downloads=[
                DownloadEntry(
                    name=item.name,
                    file_name=saved_name(job, item.name),
                    size_bytes=item.size_bytes,
                    content_type=item.content_type,
                    rendition=item.rendition,
                )
                for item in downloads(job)
            ],
        )

    def link(self, owner: str, job_id: str, name: str) -> DownloadLink:
        job = self._job(owner, job_id)
        available = downloads(job)
        item = next((d for d in available if d.name == name), None)
        if item is None:
            offered = ", ".join(d.name for d in available) or "none yet"
            raise NotFound(f"name: job {job_id} has no download {name!r} (it has: {offered})", field="name")
        file_name = saved_name(job, item.name)
        now = self._clock()
        url = self._links.presign_download(
            self._bucket,
            item.key,
            expires_in=self._expires_in,
            disposition=content_disposition(file_name),
            content_type=item.content_type,
        )
        return DownloadLink(
            name=item.name,
            url=url,
            expires_at=_whole_second(now) + timedelta(seconds=self._expires_in),
            file_name=file_name,
            size_bytes=item.size_bytes,
            content_type=item.content_type,
        )


def _whole_second(moment: datetime) -> datetime:
    # The URL's X-Amz-Date has whole seconds: the expiry said is never later than S3's.
    return moment.replace(microsecond=0)


JobIdParam = Annotated[str, PathParam(pattern=JOB_ID_PATTERN, description="The job's id")]
NameParam = Annotated[
    str, PathParam(pattern=DOWNLOAD_NAME_PATTERN, description="A download's name, as GET …/downloads lists it")
]


def add_download_routes(
    app: APIGatewayRestResolver, service: Callable[[], DownloadService], owner: Callable[[], str]
) -> None:
    @app.get(
        "/jobs/<job_id>/downloads",
        summary="The job's downloadable files",
        description="One progressive MP4 per rung that has one (`mp4_renditions`), the audio downloads and the "
        "caption tracks, each with the name it is saved under.",
        responses=documented(200, "The downloads (empty until they are made)", 404),
        tags=["jobs"],
        operation_id="list_downloads",
    )
    def list_downloads(job_id: JobIdParam) -> DownloadList:
        return service().list(owner(), job_id)

    @app.get(
        "/jobs/<job_id>/downloads/<name>",
        summary="A short-lived link that saves one download",
        description=f"A presigned GET, valid {DOWNLOAD_URL_TTL_S // 60} minutes, answered with "
        "`Content-Disposition: attachment` and the file name `<upload's name>-<name>`.",
        responses=documented(200, "The link", 404),
        tags=["jobs"],
        operation_id="get_download",
    )
    def get_download(job_id: JobIdParam, name: NameParam) -> DownloadLink:
        return service().link(owner(), job_id, name)
