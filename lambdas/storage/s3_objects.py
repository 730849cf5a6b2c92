"""CaptionFiles on S3: single-object PUT presigning (Signature Version 4), ranged reads, puts and deletes."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from lambdas.aws_errors import error_code
from lambdas.storage.s3 import _translated

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

    from lambdas.captions.ports import CaptionFiles


class S3SmallObjects:
    def __init__(self, client: S3Client, presigner: S3Client | None = None) -> None:
        self._client = client
        self._presigner = presigner or client

    def presign_put(self, bucket: str, key: str, *, expires_in: int) -> str:
        # No Content-Type is signed: any client (curl -T, a browser's fetch) can PUT; the content is checked.
        with _translated(bucket, key):
            return self._presigner.generate_presigned_url(
                "put_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=expires_in, HttpMethod="PUT"
            )

    def read(self, bucket: str, key: str, *, max_bytes: int) -> bytes:
        try:
            with _translated(bucket, key):
                # One byte more than allowed is asked for: a larger object is seen without reading it all.
                response: Any = self._client.get_object(Bucket=bucket, Key=key, Range=f"bytes=0-{max_bytes}")
                body: bytes = response["Body"].read(max_bytes + 1)
                return body
        except ClientError as error:
            if error_code(error) == "InvalidRange":  # what S3 answers a range over an empty object
                return b""
            raise

    def write(self, bucket: str, key: str, body: bytes, *, content_type: str, cache_control: str) -> None:
        with _translated(bucket, key):
            self._client.put_object(
                Bucket=bucket, Key=key, Body=body, ContentType=content_type, CacheControl=cache_control
            )

    def delete(self, bucket: str, key: str) -> None:
        with _translated(bucket, key):
            self._client.delete_object(Bucket=bucket, Key=key)


if TYPE_CHECKING:

    def _implements_port(store: S3SmallObjects) -> CaptionFiles:
        return store
