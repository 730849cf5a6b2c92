"""The storage ports: the media store the pipeline reads and writes, and the multipart upload store of the API."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Protocol

from pydantic import BaseModel, ConfigDict, Field


class StoreError(Exception):
    """Base of every typed media store error."""

    def __init__(self, message: str, *, bucket: str = "", key: str = "") -> None:
        super().__init__(message)
        self.bucket, self.key = bucket, key


class ObjectNotFound(StoreError):
    """No such object (or bucket)."""


class StoreAccessDenied(StoreError):
    """The function's role may not do this: a deployment error, never retried."""


class StoreUnavailable(StoreError):
    """Throttled, timed out or unreachable: worth retrying later."""


class ObjectInfo(BaseModel):
    model_config = ConfigDict(frozen=True)

    bucket: str
    key: str
    size: int = Field(ge=0)
    etag: str | None = None  # without the quotes S3 puts around it
    content_type: str | None = None
    cache_control: str | None = None
    metadata: dict[str, str] = Field(default_factory=dict)  # user metadata, keys lower-case


class MediaStore(Protocol):
    """Objects by bucket and key. Writes to an existing key replace it (deterministic keys make retries safe)."""

    def download(self, bucket: str, key: str, path: Path) -> ObjectInfo:
        """Write the object to `path` (created or replaced); ObjectNotFound."""
        ...

    def upload(
        self,
        path: Path,
        bucket: str,
        key: str,
        *,
        content_type: str,
        cache_control: str,
        metadata: Mapping[str, str] | None = None,
    ) -> ObjectInfo:
        """Store the file at `key`, replacing what was there; returns what was stored."""
        ...

    def head(self, bucket: str, key: str) -> ObjectInfo:
        """The object's size, etag, headers and user metadata; ObjectNotFound."""
        ...

    def list_prefix(self, bucket: str, prefix: str) -> list[ObjectInfo]:
        """Every object under `prefix`, in key order (metadata and headers not filled in)."""
        ...

    def delete_prefix(self, bucket: str, prefix: str) -> int:
        """Delete every object under `prefix` (non-empty); the number deleted."""
        ...


def check_prefix(prefix: str) -> None:
    # An empty prefix would empty the bucket: never what a caller means.
    if not prefix:
        raise ValueError("prefix must not be empty")


# S3's multipart limits.
MIN_PART_SIZE = 5 * 2**20
MAX_PART_SIZE = 5 * 2**30
MAX_PARTS = 10_000


class UploadError(Exception):
    """Base of the upload store's typed errors."""


class UploadNotFound(UploadError):
    """No such multipart upload: completed or aborted already (or never started)."""


class PartsRejected(UploadError):
    """Completing was refused: a part is missing, its ETag does not match, or a part before the last is too small."""


class UploadStoreUnavailable(UploadError):
    """Throttled, failed or unreachable: worth retrying."""


class UploadedPart(BaseModel):
    model_config = ConfigDict(frozen=True)

    part_number: int = Field(ge=1, le=MAX_PARTS)
    etag: str  # as S3 reports it, quotes removed
    size: int = Field(ge=0)


class CompletedObject(BaseModel):
    model_config = ConfigDict(frozen=True)

    etag: str | None = None


class UploadStore(Protocol):
    """Multipart uploads to a bucket: started and completed by the API, parts PUT by the client directly."""

    def start(self, bucket: str, key: str, *, content_type: str, metadata: Mapping[str, str]) -> str:
        """Begin a multipart upload at `key`; its upload id."""
        ...

    def presign_part(self, bucket: str, key: str, upload_id: str, part_number: int, expires_in: int) -> str:
        """A URL that lets its holder PUT exactly this part of this upload for `expires_in` seconds."""
        ...

    def list_parts(self, bucket: str, key: str, upload_id: str) -> list[UploadedPart]:
        """The parts received so far, by part number; UploadNotFound."""
        ...

    def complete(self, bucket: str, key: str, upload_id: str, parts: Sequence[tuple[int, str]]) -> CompletedObject:
        """Assemble the object from (part number, etag) in order; UploadNotFound, PartsRejected."""
        ...

    def abort(self, bucket: str, key: str, upload_id: str) -> None:
        """Discard the upload and its parts; an upload already gone is not an error."""
        ...


class DownloadLinks(Protocol):
    """Short-lived links to one stored object each, for a user's browser (no request is made to sign one)."""

    def presign_download(self, bucket: str, key: str, *, expires_in: int, disposition: str, content_type: str) -> str:
        """A GET URL for `key`, valid `expires_in` seconds, answered with these Content-Disposition and -Type."""
        ...
