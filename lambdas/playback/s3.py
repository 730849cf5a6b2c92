"""S3 adapters of private playback: presigned GETs as the UrlSigner where no CloudFront exists (LocalStack, or a
deployment that chooses it), and the reader of stored manifests."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from lambdas.jobs.model import Clock, utc_now
from lambdas.playback.ports import ManifestNotFound, PlaybackUnavailable

S3_MAX_PRESIGN_S = 7 * 24 * 3600  # SigV4 presigned URLs live at most a week
MAX_MANIFEST_BYTES = 8 * 2**20  # a two-hour source's MPD listing every segment stays far below this


class S3PresignedUrls:
    def __init__(self, client: Any, bucket: str, *, clock: Clock = utc_now) -> None:
        """`client`: an s3v4 client whose endpoint players can reach (the URL names it)."""
        self._client, self._bucket, self._clock = client, bucket, clock

    def sign(self, key: str, expires_at: datetime) -> str:
        seconds = math.ceil((expires_at - self._clock()).total_seconds())
        expires_in = max(1, min(S3_MAX_PRESIGN_S, seconds))
        return str(
            self._client.generate_presigned_url(
                "get_object", Params={"Bucket": self._bucket, "Key": key}, ExpiresIn=expires_in
            )
        )

    def sign_prefix(self, prefix: str, expires_at: datetime) -> None:
        """S3 signs one object per URL: every segment is signed on its own."""
        del prefix, expires_at


class S3ManifestReader:
    def __init__(self, client: Any, bucket: str) -> None:
        self._client, self._bucket = client, bucket

    def read(self, key: str) -> str:
        try:
            response = self._client.get_object(Bucket=self._bucket, Key=key)
            body: bytes = response["Body"].read(MAX_MANIFEST_BYTES + 1)
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code", "")
            if code in {"NoSuchKey", "404", "NotFound"}:
                raise ManifestNotFound(key) from None
            raise PlaybackUnavailable(f"reading {key}: {code}") from error
        except BotoCoreError as error:
            raise PlaybackUnavailable(f"reading {key}: {error}") from error
        if len(body) > MAX_MANIFEST_BYTES:
            raise PlaybackUnavailable(f"{key} is larger than a manifest can be")
        return body.decode()
