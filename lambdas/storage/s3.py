"""MediaStore on S3: boto3 from `lambdas.aws`, S3 errors turned into typed store errors by their code."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from lambdas.aws_errors import SdkErrors, SdkFailure
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
_DELETE_BATCH = 1000


def _not_found(failure: SdkFailure) -> StoreError:
    return ObjectNotFound(f"{failure.where} does not exist", **failure.fields)


def _denied(failure: SdkFailure) -> StoreError:
    return StoreAccessDenied(f"{failure.where}: access denied ({failure.code})", **failure.fields)


def _unavailable(failure: SdkFailure) -> StoreError:
    reason = f"S3 is unavailable ({failure.code})" if failure.code else failure.reason
    return StoreUnavailable(f"{failure.where}: {reason}", **failure.fields)


_ERRORS = SdkErrors[StoreError](
    dict.fromkeys(_NOT_FOUND, _not_found) | dict.fromkeys(_DENIED, _denied), transient=_unavailable
)


def translate(error: BaseException, bucket: str, key: str) -> StoreError | None:
    """The typed error for an SDK failure, or None if it is not one this adapter knows."""
    return _ERRORS.translate(error, f"s3://{bucket}/{key}", bucket=bucket, key=key)


def _translated(bucket: str, key: str) -> AbstractContextManager[None]:
    """`with _translated(bucket, key):` re-raises known SDK failures as store errors."""
    return _ERRORS.translated(f"s3://{bucket}/{key}", bucket=bucket, key=key)


def _etag(value: str | None) -> str | None:
    return value.strip('"') if value else None


class S3MediaStore:
    def __init__(self, client: S3Client) -> None:
        self._client = client

    def download(self, bucket: str, key: str, path: Path) -> ObjectInfo:
        # head types its own failures: outside the block, so they are not read a second time.
        info = self.head(bucket, key)
        with _translated(bucket, key):
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
        with _translated(bucket, key):
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
        with _translated(bucket, key):
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
        with _translated(bucket, prefix):
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
            with _translated(bucket, prefix):
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
