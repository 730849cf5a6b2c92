"""A MediaStore for unit tests, backed by a directory: same behaviour and exceptions as the S3 adapter."""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from lambdas.storage.ports import MediaStore, ObjectInfo, ObjectNotFound, check_prefix


class DirectoryMediaStore:
    """Objects are files under `root/<bucket>/<key>`; their headers are kept in memory beside them."""

    def __init__(self, root: Path) -> None:
        self._root = root
        self._headers: dict[tuple[str, str], ObjectInfo] = {}
        # Test hooks: every (operation, bucket, key) in order, and errors to raise on the next calls.
        self.calls: list[tuple[str, str, str]] = []
        self.fail_next: list[Exception] = []

    def _path(self, bucket: str, key: str) -> Path:
        if not key or key.startswith("/") or ".." in key.split("/"):
            raise ValueError(f"invalid key {key!r}")
        return self._root / bucket / key

    def _record(self, operation: str, bucket: str, key: str) -> None:
        self.calls.append((operation, bucket, key))
        if self.fail_next:
            raise self.fail_next.pop(0)

    def _info(self, bucket: str, key: str) -> ObjectInfo:
        path = self._path(bucket, key)
        if not path.is_file():
            raise ObjectNotFound(f"s3://{bucket}/{key} does not exist", bucket=bucket, key=key)
        data = path.read_bytes()
        headers = self._headers.get((bucket, key)) or ObjectInfo(bucket=bucket, key=key, size=0)
        return headers.model_copy(
            update={"size": len(data), "etag": hashlib.md5(data, usedforsecurity=False).hexdigest()}
        )

    def _store(self, bucket: str, key: str, **headers: object) -> ObjectInfo:
        self._headers[(bucket, key)] = ObjectInfo.model_validate({"bucket": bucket, "key": key, "size": 0, **headers})
        return self._info(bucket, key)

    def put_bytes(self, bucket: str, key: str, data: bytes, *, metadata: Mapping[str, str] | None = None) -> ObjectInfo:
        """Seed an object as an uploader would (not part of the port)."""
        path = self._path(bucket, key)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        return self._store(bucket, key, metadata={k.lower(): v for k, v in (metadata or {}).items()})

    def read_bytes(self, bucket: str, key: str) -> bytes:
        """An object's content (not part of the port)."""
        return self._path(bucket, key).read_bytes()

    def download(self, bucket: str, key: str, path: Path) -> ObjectInfo:
        self._record("download", bucket, key)
        info = self._info(bucket, key)
        shutil.copyfile(self._path(bucket, key), path)
        return info

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
        self._record("upload", bucket, key)
        target = self._path(bucket, key)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
        return self._store(
            bucket,
            key,
            content_type=content_type,
            cache_control=cache_control,
            metadata={k.lower(): v for k, v in (metadata or {}).items()},
        )

    def head(self, bucket: str, key: str) -> ObjectInfo:
        self._record("head", bucket, key)
        return self._info(bucket, key)

    def list_prefix(self, bucket: str, prefix: str) -> list[ObjectInfo]:
        self._record("list", bucket, prefix)
        base = self._root / bucket
        keys = sorted(p.relative_to(base).as_posix() for p in base.rglob("*") if p.is_file()) if base.is_dir() else []
        return [
            ObjectInfo(bucket=bucket, key=key, size=info.size, etag=info.etag)
            for key in keys
            if key.startswith(prefix)
            for info in [self._info(bucket, key)]
        ]

    def delete_prefix(self, bucket: str, prefix: str) -> int:
        check_prefix(prefix)
        objects = self.list_prefix(bucket, prefix)
        for info in objects:
            self._path(bucket, info.key).unlink()
            self._headers.pop((bucket, info.key), None)
        return len(objects)


if TYPE_CHECKING:

    def _implements_port(store: DirectoryMediaStore) -> MediaStore:
        return store


class RecordingDownloadLinks:
    """DownloadLinks that records what it signed; the URL shows the bucket, key and expiry."""

    def __init__(self) -> None:
        self.signed: list[dict[str, object]] = []

    def presign_download(self, bucket: str, key: str, *, expires_in: int, disposition: str, content_type: str) -> str:
        self.signed.append(
            {"bucket": bucket, "key": key, "expires_in": expires_in, "disposition": disposition, "type": content_type}
        )
        return f"https://s3.example/{bucket}/{key}?X-Amz-Expires={expires_in}"
