"""The media store as the pipeline needs it; the S3 adapter and the in-memory fake both implement it."""

from __future__ import annotations

from collections.abc import Mapping
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
