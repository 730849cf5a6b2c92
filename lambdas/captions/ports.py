"""The small-object store captions need: presigned single PUTs, bounded reads, text writes and deletes."""

from __future__ import annotations

from typing import Protocol


class CaptionFiles(Protocol):
    """Objects by bucket and key; the errors are the media store's (lambdas/storage/ports.py): ObjectNotFound,
    StoreAccessDenied, StoreUnavailable."""

    def presign_put(self, bucket: str, key: str, *, expires_in: int) -> str:
        """A URL that lets its holder PUT one object at `key` for `expires_in` seconds."""
        ...

    def read(self, bucket: str, key: str, *, max_bytes: int) -> bytes:
        """At most `max_bytes` + 1 bytes of the object (one more than allowed says it is too large)."""
        ...

    def write(self, bucket: str, key: str, body: bytes, *, content_type: str, cache_control: str) -> None:
        """Store `body` at `key`, replacing what was there."""
        ...

    def delete(self, bucket: str, key: str) -> None:
        """Remove the object; one already gone is not an error."""
        ...
