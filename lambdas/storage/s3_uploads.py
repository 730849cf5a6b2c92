"""UploadStore on S3 multipart uploads; presigned part URLs use Signature Version 4."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from lambdas.aws_errors import SdkErrors, SdkFailure
from lambdas.storage.ports import (
    CompletedObject,
    PartsRejected,
    UploadedPart,
    UploadError,
    UploadNotFound,
    UploadStore,
    UploadStoreUnavailable,
)

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

_NOT_FOUND = frozenset({"NoSuchUpload", "NoSuchKey", "NoSuchBucket", "404"})
_REJECTED = frozenset({"InvalidPart", "InvalidPartOrder", "EntityTooSmall", "EntityTooLarge", "MalformedXML"})


def _etag(value: str) -> str:
    return value.strip('"')


def _not_found(failure: SdkFailure) -> UploadError:
    return UploadNotFound(f"{failure.where}: {failure.message}")


def _rejected(failure: SdkFailure) -> UploadError:
    return PartsRejected(failure.message)


_ERRORS = SdkErrors[UploadError](
    dict.fromkeys(_NOT_FOUND, _not_found) | dict.fromkeys(_REJECTED, _rejected), transient=UploadStoreUnavailable
)
_translated = _ERRORS.translated


class S3UploadStore:
    def __init__(self, client: S3Client, presigner: S3Client | None = None) -> None:
        """`presigner`: a client configured with signature_version="s3v4" (the default `client` otherwise)."""
        self._client, self._presigner = client, presigner or client

    def start(self, bucket: str, key: str, *, content_type: str, metadata: Mapping[str, str]) -> str:
        with _translated(f"s3://{bucket}/{key}"):
            response = self._client.create_multipart_upload(
                Bucket=bucket, Key=key, ContentType=content_type, Metadata=dict(metadata)
            )
        return response["UploadId"]

    def presign_part(self, bucket: str, key: str, upload_id: str, part_number: int, expires_in: int) -> str:
        # Signed locally (no request): the URL is bound to this bucket, key, upload and part number.
        return self._presigner.generate_presigned_url(
            "upload_part",
            Params={"Bucket": bucket, "Key": key, "UploadId": upload_id, "PartNumber": part_number},
            ExpiresIn=expires_in,
            HttpMethod="PUT",
        )

    def list_parts(self, bucket: str, key: str, upload_id: str) -> list[UploadedPart]:
        parts: list[UploadedPart] = []
        arguments: dict[str, Any] = {"Bucket": bucket, "Key": key, "UploadId": upload_id}
        with _translated(f"s3://{bucket}/{key}"):
            while True:
                response = self._client.list_parts(**arguments)
                parts.extend(
                    UploadedPart(part_number=p["PartNumber"], etag=_etag(p["ETag"]), size=p["Size"])
                    for p in response.get("Parts", [])
                )
                if not response.get("IsTruncated"):
                    break
                arguments["PartNumberMarker"] = response["NextPartNumberMarker"]
        return sorted(parts, key=lambda part: part.part_number)

    def complete(self, bucket: str, key: str, upload_id: str, parts: Sequence[tuple[int, str]]) -> CompletedObject:
        with _translated(f"s3://{bucket}/{key}"):
            response = self._client.complete_multipart_upload(
                Bucket=bucket,
                Key=key,
                UploadId=upload_id,
                MultipartUpload={"Parts": [{"PartNumber": n, "ETag": f'"{_etag(etag)}"'} for n, etag in parts]},
            )
        etag = response.get("ETag")
        return CompletedObject(etag=_etag(etag) if etag else None)

    def abort(self, bucket: str, key: str, upload_id: str) -> None:
        try:
            with _translated(f"s3://{bucket}/{key}"):
                self._client.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id)
        except UploadNotFound:
            return


if TYPE_CHECKING:

    def _implements_port(store: S3UploadStore) -> UploadStore:
        return store
