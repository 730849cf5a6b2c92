"""In-memory UploadStore and Workflow for unit tests: the same behaviour and errors as the S3 and SFN adapters."""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlencode, urlsplit

from lambdas.storage.ports import (
    MIN_PART_SIZE,
    CompletedObject,
    PartsRejected,
    UploadedPart,
    UploadNotFound,
    UploadStore,
)
from lambdas.workflow.ports import ExecutionState, Workflow


@dataclass
class _Multipart:
    bucket: str
    key: str
    content_type: str
    metadata: dict[str, str]
    parts: dict[int, bytes] = field(default_factory=dict)


def _md5(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


class InMemoryUploadStore:
    """Multipart uploads held in memory. Presigned URLs are `memory://` URLs that `put_part` accepts
    (and refuses once expired, as S3 does); `now` is the store's clock in epoch seconds for that check."""

    def __init__(self, *, min_part_size: int = MIN_PART_SIZE) -> None:
        self._uploads: dict[str, _Multipart] = {}
        self._ids = itertools.count(1)
        self.min_part_size = min_part_size
        self.objects: dict[tuple[str, str], tuple[bytes, dict[str, str]]] = {}
        self.presigned: list[tuple[str, int, int]] = []  # (upload id, part number, expires_in)
        self.now = 0.0
        self.fail_next: list[Exception] = []

    def _hook(self) -> None:
        if self.fail_next:
            raise self.fail_next.pop(0)

    def _upload(self, upload_id: str, bucket: str, key: str) -> _Multipart:
        upload = self._uploads.get(upload_id)
        if upload is None or (upload.bucket, upload.key) != (bucket, key):
            raise UploadNotFound(f"s3://{bucket}/{key}: no upload {upload_id}")
        return upload

    def start(self, bucket: str, key: str, *, content_type: str, metadata: Mapping[str, str]) -> str:
        self._hook()
        upload_id = f"upload-{next(self._ids)}"
        self._uploads[upload_id] = _Multipart(bucket, key, content_type, dict(metadata))
        return upload_id

    def presign_part(self, bucket: str, key: str, upload_id: str, part_number: int, expires_in: int) -> str:
        self.presigned.append((upload_id, part_number, expires_in))
        query = urlencode({"uploadId": upload_id, "partNumber": part_number, "expires": self.now + expires_in})
        return f"memory://{bucket}/{key}?{query}"

    def put_part(self, url: str, data: bytes) -> str:
        """What a client's PUT to a presigned URL does; the part's ETag (PermissionError once expired)."""
        parsed = urlsplit(url)
        query = {name: values[0] for name, values in parse_qs(parsed.query).items()}
        if float(query["expires"]) < self.now:
            raise PermissionError("Request has expired")
        upload = self._upload(query["uploadId"], parsed.netloc, parsed.path.lstrip("/"))
        upload.parts[int(query["partNumber"])] = data
        return _md5(data)

    def list_parts(self, bucket: str, key: str, upload_id: str) -> list[UploadedPart]:
        self._hook()
        upload = self._upload(upload_id, bucket, key)
        return [
            UploadedPart(part_number=n, etag=_md5(data), size=len(data)) for n, data in sorted(upload.parts.items())
        ]

    def complete(self, bucket: str, key: str, upload_id: str, parts: Sequence[tuple[int, str]]) -> CompletedObject:
        self._hook()
        upload = self._upload(upload_id, bucket, key)
        numbers = [n for n, _ in parts]
        if numbers != sorted(set(numbers)):
            raise PartsRejected("The list of parts was not in ascending order.")
        for index, (number, etag) in enumerate(parts):
            data = upload.parts.get(number)
            if data is None or _md5(data) != etag.strip('"'):
                raise PartsRejected("One or more of the specified parts could not be found.")
            if index < len(parts) - 1 and len(data) < self.min_part_size:
                raise PartsRejected("Your proposed upload is smaller than the minimum allowed size.")
        body = b"".join(upload.parts[n] for n in numbers)
        self.objects[(bucket, key)] = (body, upload.metadata)
        del self._uploads[upload_id]
        digests = b"".join(hashlib.md5(upload.parts[n], usedforsecurity=False).digest() for n in numbers)
        return CompletedObject(etag=f"{_md5(digests)}-{len(numbers)}")

    def abort(self, bucket: str, key: str, upload_id: str) -> None:
        self._hook()
        self._uploads.pop(upload_id, None)

    def is_open(self, upload_id: str) -> bool:
        return upload_id in self._uploads


@dataclass
class Execution:
    arn: str
    name: str
    payload: dict[str, Any]
    status: str = "RUNNING"
    cause: str | None = None


class InMemoryWorkflow:
    """Executions held in memory. `fail_next` holds errors the next calls of `start` or `stop` raise, one each:
    WorkflowUnavailable for an outage, WorkflowRefused for a request Step Functions refuses (as the adapter types
    them)."""

    def __init__(self, state_machine_arn: str = "arn:aws:states:us-east-1:000000000000:stateMachine:transcode") -> None:
        self._arn = state_machine_arn
        self.executions: dict[str, Execution] = {}
        self.fail_next: list[Exception] = []

    def start(self, name: str, payload: Mapping[str, Any]) -> str:
        if self.fail_next:
            raise self.fail_next.pop(0)
        existing = self.executions.get(name)
        if existing is not None:
            return existing.arn
        prefix, _, machine = self._arn.rpartition(":stateMachine:")
        arn = f"{prefix}:execution:{machine}:{name}"
        self.executions[name] = Execution(arn=arn, name=name, payload=dict(payload))
        return arn

    def execution_arn(self, name: str) -> str:
        prefix, _, machine = self._arn.rpartition(":stateMachine:")
        return f"{prefix}:execution:{machine}:{name}"

    def describe(self, execution_arn: str) -> ExecutionState | None:
        for execution in self.executions.values():
            if execution.arn == execution_arn:
                return ExecutionState(status=execution.status, cause=execution.cause)
        return None

    def stop(self, execution_arn: str, *, cause: str) -> None:
        if self.fail_next:
            raise self.fail_next.pop(0)
        for execution in self.executions.values():
            if execution.arn == execution_arn and execution.status == "RUNNING":
                execution.status, execution.cause = "ABORTED", cause

    def run(self, name: str, arn: str | None = None) -> None:
        """Record an execution started elsewhere (the upload's EventBridge rule), for tests."""
        prefix, _, machine = self._arn.rpartition(":stateMachine:")
        self.executions[name] = Execution(arn=arn or f"{prefix}:execution:{machine}:{name}", name=name, payload={})


if TYPE_CHECKING:

    def _implements_ports(store: InMemoryUploadStore, workflow: InMemoryWorkflow) -> tuple[UploadStore, Workflow]:
        return store, workflow
