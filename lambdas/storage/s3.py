"""MediaStore on S3: boto3 from `lambdas.aws`, S3 errors turned into typed store errors by their code."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError, HTTPClientError
from botocore.exceptions import ConnectionError as SdkConnectionError

from lambdas.storage.ports import (
    MediaStore,
    ObjectInfo,
    ObjectNotFound,
    StoreAccessDenied,
    StoreError,
    StoreUnavailable,
    check_prefix,
)

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

# Error codes as S3 (and HeadObject, which has no body, as bare HTTP statuses) report them.
_NOT_FOUND = frozenset({"NoSuchKey", "NoSuchBucket", "NotFound", "404"})
_DENIED = frozenset({"AccessDenied", "Forbidden", "403", "AllAccessDisabled", "InvalidAccessKeyId"})
# Throttling and server-side failures: worth retrying (shared with the API's upload store).
TRANSIENT_CODES = frozenset(
    {
        "SlowDown",
        "ServiceUnavailable",
        "503",
        "InternalError",
        "500",
        "RequestTimeout",
        "RequestTimeoutException",
        "Throttling",
        "ThrottlingException",
        "RequestLimitExceeded",
        "TooManyRequestsException",
    }
)
_DELETE_BATCH = 1000


def _root_cause(error: BaseException) -> BaseException:
    """boto3's transfer manager wraps the ClientError (S3UploadFailedError): look through the chain."""
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, ClientError | HTTPClientError | SdkConnectionError):
            return seen
        seen = seen.__cause__ or seen.__context__
    return error


def translate(error: BaseException, bucket: str, key: str) -> StoreError | None:
    """The typed error for an SDK failure, or None if it is not one this adapter knows."""
    cause = _root_cause(error)
    where = f"s3://{bucket}/{key}"
    if isinstance(cause, HTTPClientError | SdkConnectionError):
        return StoreUnavailable(f"{where}: connection failed ({type(cause).__name__})", bucket=bucket, key=key)
    if not isinstance(cause, ClientError):
        return None
    code = str(cause.response.get("Error", {}).get("Code", ""))
    if code in _NOT_FOUND:
        return ObjectNotFound(f"{where} does not exist", bucket=bucket, key=key)
    if code in _DENIED:
        return StoreAccessDenied(f"{where}: access denied ({code})", bucket=bucket, key=key)
    if code in TRANSIENT_CODES:
        return StoreUnavailable(f"{where}: S3 is unavailable ({code})", bucket=bucket, key=key)
    return None


class _Translated:
    """`with _Translated(bucket, key):` re-raises known SDK failures as store errors."""

    def __init__(self, bucket: str, key: str) -> None:
        self._bucket, self._key = bucket, key

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: Any) -> None:
        if error is None or isinstance(error, StoreError):
            return
        typed = translate(error, self._bucket, self._key)
        if typed is not None:
            raise typed from error


def _etag(value: str | None) -> str | None:
    return value.strip('"') if value else None


class S3MediaStore:
    def __init__(self, client: S3Client) -> None:
        self._client = client

    def download(self, bucket: str, key: str, path: Path) -> ObjectInfo:
        with _Translated(bucket, key):
            info = self.head(bucket, key)
            # Parallel ranged GETs for large sources. Not pinned with VersionId: that needs
            # s3:GetObjectVersion, which the workers are not granted.
            self._client.download_file(bucket, key, str(path))
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
        extra: dict[str, Any] = {"ContentType": content_type, "CacheControl": cache_control}
        if metadata:
            extra["Metadata"] = dict(metadata)
        with _Translated(bucket, key):
            self._client.upload_file(str(path), bucket, key, ExtraArgs=extra)
        # The transfer manager does not return the ETag; asking for it would double the requests.
        return ObjectInfo(
            bucket=bucket,
            key=key,
            size=path.stat().st_size,
            content_type=content_type,
            cache_control=cache_control,
            metadata={k.lower(): v for k, v in (metadata or {}).items()},
        )

    def head(self, bucket: str, key: str) -> ObjectInfo:
        with _Translated(bucket, key):
            response = self._client.head_object(Bucket=bucket, Key=key)
        return ObjectInfo(
            bucket=bucket,
            key=key,
            size=response["ContentLength"],
            etag=_etag(response.get("ETag")),
            content_type=response.get("ContentType"),
            cache_control=response.get("CacheControl"),
            metadata={k.lower(): v for k, v in response.get("Metadata", {}).items()},
        )

    def _objects(self, bucket: str, prefix: str) -> Iterator[ObjectInfo]:
        paginator = self._client.get_paginator("list_objects_v2")
        with _Translated(bucket, prefix):
            for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
                for item in page.get("Contents", []):
                    yield ObjectInfo(bucket=bucket, key=item["Key"], size=item["Size"], etag=_etag(item.get("ETag")))

    def list_prefix(self, bucket: str, prefix: str) -> list[ObjectInfo]:
        return list(self._objects(bucket, prefix))

    def delete_prefix(self, bucket: str, prefix: str) -> int:
        check_prefix(prefix)
        keys = [info.key for info in self._objects(bucket, prefix)]
        for start in range(0, len(keys), _DELETE_BATCH):
            batch = keys[start : start + _DELETE_BATCH]
            with _Translated(bucket, prefix):
                response = self._client.delete_objects(
                    Bucket=bucket, Delete={"Objects": [{"Key": k} for k in batch], "Quiet": True}
                )
            errors = response.get("Errors", [])
            if errors:
                first = errors[0]
                raise translate(
                    ClientError({"Error": {"Code": first.get("Code", ""), "Message": ""}}, "DeleteObjects"),
                    bucket,
                    first.get("Key", prefix),
                ) or StoreError(f"s3://{bucket}/{prefix}: {len(errors)} objects not deleted", bucket=bucket)
        return len(keys)


if TYPE_CHECKING:

    def _implements_port(store: S3MediaStore) -> MediaStore:
        return store
