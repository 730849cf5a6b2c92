"""What the API needs besides the job repository: multipart uploads with presigned parts, and the workflow."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field

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


class WorkflowError(Exception):
    """Base of the workflow's typed errors."""


class WorkflowUnavailable(WorkflowError):
    """The workflow service throttled, failed or could not be reached."""


class WorkflowRefused(WorkflowError):
    """The workflow service refused the request: no such state machine, too many executions, input or name
    refused, access denied… Repeating it as is will not help; the fault is the deployment's, not the caller's."""


class Workflow(Protocol):
    """The transcode workflow (Step Functions): executions by deterministic name."""

    def start(self, name: str, payload: Mapping[str, Any]) -> str:
        """Start an execution named `name` and return its ARN. Starting the same name with the same
        payload again returns the same execution (an API retry must not run the job twice).
        WorkflowUnavailable (worth retrying) or WorkflowRefused (not)."""
        ...

    def stop(self, execution_arn: str, *, cause: str) -> None:
        """Stop the execution; one that has already ended, or does not exist, is not an error.
        WorkflowUnavailable or WorkflowRefused."""
        ...
