"""In-memory CaptionFiles for unit tests: the same behaviour and errors as the S3 adapter."""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import urlencode

from lambdas.storage.ports import ObjectNotFound

if TYPE_CHECKING:
    from lambdas.captions.ports import CaptionFiles


class InMemoryCaptionFiles:
    """Objects as bytes with their headers; presigned URLs are `memory://` URLs that `put` accepts."""

    def __init__(self) -> None:
        self.objects: dict[tuple[str, str], tuple[bytes, str, str]] = {}  # body, content type, cache control
        self.presigned: list[tuple[str, str, int]] = []
        self.fail_next: list[Exception] = []

    def _hook(self) -> None:
        if self.fail_next:
            raise self.fail_next.pop(0)

    def presign_put(self, bucket: str, key: str, *, expires_in: int) -> str:
        self._hook()
        self.presigned.append((bucket, key, expires_in))
        return f"memory://{bucket}/{key}?{urlencode({'expires': expires_in})}"

    def put(self, url: str, body: bytes) -> None:
        """What a client's PUT to a presigned URL does (not part of the port)."""
        bucket, key = url.removeprefix("memory://").split("?", 1)[0].split("/", 1)
        self.objects[(bucket, key)] = (body, "application/octet-stream", "")

    def read(self, bucket: str, key: str, *, max_bytes: int) -> bytes:
        self._hook()
        try:
            return self.objects[(bucket, key)][0][: max_bytes + 1]
        except KeyError:
            raise ObjectNotFound(f"s3://{bucket}/{key} does not exist", bucket=bucket, key=key) from None

    def write(self, bucket: str, key: str, body: bytes, *, content_type: str, cache_control: str) -> None:
        self._hook()
        self.objects[(bucket, key)] = (body, content_type, cache_control)

    def delete(self, bucket: str, key: str) -> None:
        self._hook()
        self.objects.pop((bucket, key), None)

    def text(self, bucket: str, key: str) -> str:
        return self.objects[(bucket, key)][0].decode()


if TYPE_CHECKING:

    def _implements_port(files: InMemoryCaptionFiles) -> CaptionFiles:
        return files
