"""DownloadLinks on S3: presigned GETs (Signature Version 4) that override the answer's headers."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lambdas.storage.ports import DownloadLinks

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client


class S3DownloadLinks:
    def __init__(self, presigner: S3Client) -> None:
        """`presigner`: a client configured with signature_version="s3v4"."""
        self._presigner = presigner

    def presign_download(self, bucket: str, key: str, *, expires_in: int, disposition: str, content_type: str) -> str:
        # The response-* overrides are part of what is signed: nobody can change the saved name or type.
        return self._presigner.generate_presigned_url(
            "get_object",
            Params={
                "Bucket": bucket,
                "Key": key,
                "ResponseContentDisposition": disposition,
                "ResponseContentType": content_type,
            },
            ExpiresIn=expires_in,
            HttpMethod="GET",
        )


if TYPE_CHECKING:

    def _implements_port(links: S3DownloadLinks) -> DownloadLinks:
        return links
