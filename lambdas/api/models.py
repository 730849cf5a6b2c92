"""The API's requests and responses as pydantic models: validation and the OpenAPI document both come from here."""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator
from pydantic.json_schema import SkipJsonSchema

from lambdas.api.errors import ErrorKind
from lambdas.jobs.model import Job, JobEvent, UtcDatetime
from lambdas.media.ladder import RENDITION_NAMES
from lambdas.media.policy import FILE_EXTENSIONS
from lambdas.storage.ports import MAX_PART_SIZE, MAX_PARTS, MIN_PART_SIZE

DEFAULT_PART_SIZE = 8 * 2**20
MAX_PRESIGNED_PARTS = 100
# Containers users upload; anything else is refused before a byte is sent. The key never carries the
# extension (uploads/{owner}/{job_id}/source): the probe decides what the file really is.
VIDEO_EXTENSIONS = frozenset(extension for names in FILE_EXTENSIONS.values() for extension in names)


def _any_case(word: str) -> str:
    return "".join(f"[{c.lower()}{c.upper()}]" if c.isalpha() else c for c in word)


# The same rule as CreateUpload's validator, for the OpenAPI document (JSON Schema regexes have no (?i)).
# The validator enforces it, so a bad name gets a readable message rather than a regex.
FILE_NAME_PATTERN = (
    r"^[^/\\\u0000-\u001f\u007f]+\.(?:" + "|".join(_any_case(e) for e in sorted(VIDEO_EXTENSIONS)) + ")$"
)

if TYPE_CHECKING:
    RenditionChoice = str
else:
    # The ladder's names as a Literal: validation names them in its message, the document lists them as an enum.
    RenditionChoice = Literal[RENDITION_NAMES]
OutputChoice = Literal["hls", "mp4", "thumbnails"]
# type/subtype with the characters RFC 6838 allows; parameters (charset…) mean nothing for video.
ContentType = Annotated[
    str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}$")
]


class _Request(BaseModel):
    # Strict: "5" is not 5 and true is not 1; unknown fields are typos, not silently ignored.
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class _Response(BaseModel):
    model_config = ConfigDict(frozen=True)


class CreateUpload(_Request):
    """A new job and the multipart upload of its source."""

    file_name: Annotated[str, StringConstraints(min_length=1, max_length=255)] = Field(
        description="The uploader's file name; its extension must be a video container (mp4, mov, mkv, webm…).",
        json_schema_extra={"pattern": FILE_NAME_PATTERN},
    )
    size: Annotated[int, Field(gt=0, description="Exact size of the file in bytes (at most the deployment's limit).")]
    content_type: ContentType | None = None
    priority: Annotated[int, Field(ge=1, le=10)] = 5
    renditions: (
        Annotated[
            list[RenditionChoice],
            Field(min_length=1, max_length=len(RENDITION_NAMES), json_schema_extra={"uniqueItems": True}),
        ]
        | None
    ) = Field(None, description="Rungs of the ladder to produce (never above the source's resolution); null: all.")
    outputs: (
        Annotated[list[OutputChoice], Field(min_length=1, max_length=3, json_schema_extra={"uniqueItems": True})] | None
    ) = Field(None, description="What to produce; null: hls, mp4 and thumbnails.")
    part_size: Annotated[int, Field(ge=MIN_PART_SIZE, le=MAX_PART_SIZE)] | None = Field(
        None, description="Bytes per part (default 8 MiB); raised if the file would need more than 10,000 parts."
    )

    @field_validator("file_name")
    @classmethod
    def _video_file_name(cls, value: str) -> str:
        if any(ord(char) < 32 or char in "/\\\x7f" for char in value):
            raise ValueError("file_name must be a plain file name (no path, no control characters)")
        extension = PurePosixPath(value).suffix.lower().lstrip(".")
        if extension not in VIDEO_EXTENSIONS:
            accepted = ", ".join(sorted(VIDEO_EXTENSIONS))
            raise ValueError(f"unsupported file type {extension or '(none)'!r}; accepted: {accepted}")
        return value

    @field_validator("renditions", "outputs")
    @classmethod
    def _unique(cls, value: list[str] | None) -> list[str] | None:
        if value is not None and len(set(value)) != len(value):
            raise ValueError("must not repeat a value")
        return value


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
