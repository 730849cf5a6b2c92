"""The API's requests and responses as pydantic models: validation and the OpenAPI document both come from here."""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator
from pydantic.json_schema import SkipJsonSchema

from lambdas.api.errors import ErrorKind
from lambdas.jobs.model import Job, JobEvent, RenditionName, UtcDatetime
from lambdas.media.ladder import Fit
from lambdas.media.policy import AUDIO_FILE_EXTENSIONS, FILE_EXTENSIONS
from lambdas.media.presets import PRESET_NAME_PATTERN, PresetOutput
from lambdas.storage.ports import MAX_PART_SIZE, MAX_PARTS, MIN_PART_SIZE

DEFAULT_PART_SIZE = 8 * 2**20
MAX_PRESIGNED_PARTS = 100
# Containers users upload; anything else is refused before a byte is sent. The key never carries the
# extension (uploads/{owner}/{job_id}/source): the probe decides what the file really is.
VIDEO_EXTENSIONS = frozenset(extension for names in FILE_EXTENSIONS.values() for extension in names)
# What an upload's file name may end with: a video container, or an audio file (audio outputs only).
UPLOAD_EXTENSIONS = VIDEO_EXTENSIONS | AUDIO_FILE_EXTENSIONS
MAX_RENDITIONS = 16


def _any_case(word: str) -> str:
    return "".join(f"[{c.lower()}{c.upper()}]" if c.isalpha() else c for c in word)


# The same rule as CreateUpload's validator, for the OpenAPI document (JSON Schema regexes have no (?i)).
# The validator enforces it, so a bad name gets a readable message rather than a regex.
FILE_NAME_PATTERN = (
    r"^[^/\\\u0000-\u001f\u007f]+\.(?:" + "|".join(_any_case(e) for e in sorted(UPLOAD_EXTENSIONS)) + ")$"
)

OutputChoice = PresetOutput
PresetName = Annotated[str, StringConstraints(pattern=PRESET_NAME_PATTERN)]
# type/subtype with the characters RFC 6838 allows; parameters (charset…) mean nothing for video.
ContentType = Annotated[
    str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}$")
]


class _Request(BaseModel):
    # Strict: "5" is not 5 and true is not 1; unknown fields are typos, not silently ignored.
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class _Response(BaseModel):
    model_config = ConfigDict(frozen=True)


class OutputRequest(_Request):
    """What a job makes: a preset (and its fit), narrowed or extended by the other fields."""

    priority: Annotated[int, Field(ge=1, le=10)] = 5
    preset: PresetName | None = Field(None, description="A preset of GET /presets; null: web (today's ladder).")
    fit: Fit | None = Field(
        None, description="How the picture goes into a vertical or square preset's frame: pad (default) or crop."
    )
    renditions: (
        Annotated[
            list[RenditionName], Field(min_length=1, max_length=MAX_RENDITIONS, json_schema_extra={"uniqueItems": True})
        ]
        | None
    ) = Field(None, description="Rungs of the preset to produce (never above the source's resolution); null: all.")
    outputs: (
        Annotated[list[OutputChoice], Field(min_length=1, max_length=6, json_schema_extra={"uniqueItems": True})] | None
    ) = Field(None, description="What to produce; null: the preset's outputs (web: hls, mp4 and thumbnails).")
    mp4_renditions: (
        Annotated[
            list[RenditionName], Field(min_length=1, max_length=MAX_RENDITIONS, json_schema_extra={"uniqueItems": True})
        ]
        | None
    ) = Field(
        None, description="Rungs that get a progressive MP4 download (with mp4 in outputs); null: the middle one."
    )
    loudnorm: bool = Field(False, description="EBU R128 two-pass loudness normalisation of the audio downloads.")
    private: bool = Field(
        False, description="Playback and download URLs signed and short-lived; the unsigned URLs answer 403."
    )

    @field_validator("renditions", "outputs", "mp4_renditions")
    @classmethod
    def _unique(cls, value: list[str] | None) -> list[str] | None:
        if value is not None and len(set(value)) != len(value):
            raise ValueError("must not repeat a value")
        return value


ClipModeChoice = Literal["exact", "fast"]
ClipSeconds = Annotated[float, Field(ge=0, le=7 * 24 * 3600, allow_inf_nan=False)]


class ClipRange(_Request):
    """A range of the source, in seconds from its first frame."""

    start_s: ClipSeconds
    end_s: ClipSeconds
    mode: ClipModeChoice = Field(
        "exact",
        description="exact: frame-accurate, re-encoded; fast: stream copy from the keyframe at or before start.",
    )


class CreateUpload(OutputRequest):
    """A new job and the multipart upload of its source."""

    file_name: Annotated[str, StringConstraints(min_length=1, max_length=255)] = Field(
        description="The uploader's file name; its extension must be a video container (mp4, mov, mkv, webm…) or, "
        "for audio outputs only, an audio file (mp3, m4a, wav, flac, opus).",
        json_schema_extra={"pattern": FILE_NAME_PATTERN},
    )
    size: Annotated[int, Field(gt=0, description="Exact size of the file in bytes (at most the deployment's limit).")]
    content_type: ContentType | None = None
    part_size: Annotated[int, Field(ge=MIN_PART_SIZE, le=MAX_PART_SIZE)] | None = Field(
        None, description="Bytes per part (default 8 MiB); raised if the file would need more than 10,000 parts."
    )
    clip: ClipRange | None = Field(None, description="Make only this range of the upload (a clip job).")

    @field_validator("file_name")
    @classmethod
    def _video_file_name(cls, value: str) -> str:
        if any(ord(char) < 32 or char in "/\\\x7f" for char in value):
            raise ValueError("file_name must be a plain file name (no path, no control characters)")
        extension = file_extension(value)
        if extension not in UPLOAD_EXTENSIONS:
            accepted = ", ".join(sorted(UPLOAD_EXTENSIONS))
            raise ValueError(f"unsupported file type {extension or '(none)'!r}; accepted: {accepted}")
        return value

    @property
    def audio_file(self) -> bool:
        """The file name says sound only (mp3, wav…): such an upload may ask for audio outputs only."""
        return file_extension(self.file_name) in AUDIO_FILE_EXTENSIONS


def file_extension(file_name: str) -> str:
    return PurePosixPath(file_name).suffix.lower().lstrip(".")


class CreateClip(OutputRequest, ClipRange):
    """A clip of one of the caller's jobs: a job of its own, cut from that job's original source."""


class PartNumbers(_Request):
    part_numbers: Annotated[
        list[Annotated[int, Field(ge=1, le=MAX_PARTS)]], Field(min_length=1, max_length=MAX_PRESIGNED_PARTS)
    ]


class PartETag(_Request):
    part_number: Annotated[int, Field(ge=1, le=MAX_PARTS)]
    etag: Annotated[str, StringConstraints(min_length=1, max_length=128)]


class CompleteUpload(_Request):
    """Parts as the client saw them (ETags from the PUT responses); omitted: the server lists what arrived."""

    parts: Annotated[list[PartETag], Field(min_length=1, max_length=MAX_PARTS)] | None = None


class PartUrl(_Response):
    part_number: int
    url: str


class UploadPart(_Response):
    part_number: int
    etag: str
    size: int


class PresignedParts(_Response):
    parts: list[PartUrl]
    expires_at: UtcDatetime


class UploadParts(_Response):
    """What S3 has received: the source of truth to resume an interrupted upload."""

    job_id: str
    upload_id: str
    part_size: int
    part_count: int
    parts: list[UploadPart]


class PublicJob(Job):
    """The job as users see it: every Job field but the execution ARN (it names the account)."""

    model_config = ConfigDict(title="Job")

    execution_arn: SkipJsonSchema[str | None] = Field(None, exclude=True)
    notify_email: SkipJsonSchema[str | None] = Field(None, exclude=True)
    queue_position: int | None = Field(
        None, ge=0, description="A QUEUED job's place in the queue (0: the next to start); null otherwise."
    )
    estimated_start_at: UtcDatetime | None = Field(
        None, description="When a QUEUED job should start, from the recent throughput; null if unknown."
    )


class QueuePlace(_Response):
    position: int
    estimated_start_at: UtcDatetime | None = None


def public_job(job: Job, place: QueuePlace | None = None) -> PublicJob:
    extra = {"queue_position": place.position, "estimated_start_at": place.estimated_start_at} if place else {}
    return PublicJob.model_validate(dict(job) | extra)


class PriorityChange(_Request):
    """A waiting job's new priority (1 most urgent .. 10 bulk)."""

    priority: int = Field(ge=1, le=10, description="1-3 high, 4-7 normal, 8-10 bulk; within the caller's tier.")


class UploadCreated(_Response):
    job: PublicJob
    upload_id: str
    key: str
    part_size: int
    part_count: int
    parts: list[PartUrl] = Field(description="Presigned URLs for the first (at most 100) parts.")
    expires_at: UtcDatetime


class JobPage(_Response):
    jobs: list[PublicJob]
    next_cursor: str | None = None


class JobEvents(_Response):
    events: list[JobEvent]


class ErrorBody(_Response):
    """Every 4xx and 5xx the function answers."""

    error: ErrorKind
    message: str
    field: str | None = Field(description="The request field at fault (`size`, `parts[0].etag`…), or null.")
