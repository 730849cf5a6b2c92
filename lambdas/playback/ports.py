"""What private playback needs from the outside: a URL signer for media files, a reader of stored manifests."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol


class UrlSigner(Protocol):
    """Signs a GET of one object of the outputs bucket, valid until `expires_at` and for nothing else.

    Two adapters: CloudFront signed URLs on AWS (lambdas/playback/cloudfront.py), S3 presigned GETs where no
    CloudFront exists (lambdas/playback/s3.py). The deployment's settings pick one.
    """

    def sign(self, key: str, expires_at: datetime) -> str: ...

    def sign_prefix(self, prefix: str, expires_at: datetime) -> PrefixGrant | None:
        """One signature for every object under `prefix` until `expires_at`, or None where the signer has none
        (S3 presigns one object at a time). A long video's manifests then need one signature, not thousands."""
        ...


class PrefixGrant(Protocol):
    def url(self, key: str) -> str:
        """`key` (under the granted prefix; it may hold a DASH `$Number%05d$` template) as a signed URL."""
        ...


class ManifestReader(Protocol):
    """The text of a stored manifest; ManifestNotFound when there is none."""

    def read(self, key: str) -> str: ...


class SecretReader(Protocol):
    """A secret's current value (Secrets Manager on AWS)."""

    def read(self, name: str) -> str: ...


class ManifestNotFound(Exception):
    pass


class PlaybackUnavailable(Exception):
    """A dependency (the store, the secret) failed transiently: answer 503, not 404."""
