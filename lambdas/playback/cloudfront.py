"""UrlSigner on AWS: CloudFront signed URLs (canned policy) by the key pair of the deployment's key group.

The public key is in the CDK app (DeploymentConfig.private_playback_public_key, made a CloudFront PublicKey in
the `private/*` behaviour's trusted key group); the private key stays in Secrets Manager, read on first use.
CloudFront verifies RSA-SHA1 signatures (PKCS #1 v1.5) over the policy; botocore builds the policy and the URL.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from urllib.parse import quote

from botocore.signers import CloudFrontSigner
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa


class CloudFrontUrlSigner:
    def __init__(self, base_url: str, key_pair_id: str, private_key_pem: Callable[[], str]) -> None:
        """`base_url`: the distribution (https://dxxxx.cloudfront.net); `key_pair_id`: the PublicKey's id."""
        if not base_url.startswith("https://"):
            raise ValueError("CloudFront signed URLs need the distribution's https:// URL")
        self._base, self._key_pair_id, self._pem = base_url.rstrip("/"), key_pair_id, private_key_pem

    @cached_property
    def _signer(self) -> CloudFrontSigner:
        key = serialization.load_pem_private_key(self._pem().encode(), password=None)
        if not isinstance(key, rsa.RSAPrivateKey):
            raise ValueError("CloudFront key groups take RSA keys: the private key is not one")

        def rsa_sha1(message: bytes) -> bytes:
            return key.sign(message, padding.PKCS1v15(), hashes.SHA1())  # noqa: S303 - what CloudFront verifies

        return CloudFrontSigner(self._key_pair_id, rsa_sha1)

    def sign(self, key: str, expires_at: datetime) -> str:
        url = f"{self._base}/{quote(key, safe='/')}"
        return str(self._signer.generate_presigned_url(url, date_less_than=expires_at))

    def sign_prefix(self, prefix: str, expires_at: datetime) -> CloudFrontGrant:
        """A custom policy whose resource is `{distribution}/{prefix}*` (CloudFront's `*` matches any characters)."""
        if not prefix.endswith("/"):
            raise ValueError("a prefix grant covers a directory: the prefix must end with /")
        base = f"{self._base}/{quote(prefix, safe='/')}"
        policy = self._signer.build_policy(f"{base}*", date_less_than=expires_at)
        signed = str(self._signer.generate_presigned_url(base, policy=policy))
        return CloudFrontGrant(self._base, prefix, signed.split("?", 1)[1])


@dataclass(frozen=True)
class CloudFrontGrant:
    base: str
    prefix: str
    query: str  # Policy=…&Signature=…&Key-Pair-Id=…

    def url(self, key: str) -> str:
        if not key.startswith(self.prefix):
            raise ValueError(f"{key!r} is not under the granted {self.prefix!r}")
        # `$` and `%` kept: a DASH template ($Number%05d$) is filled in by the player before it requests.
        return f"{self.base}/{quote(key, safe='/$%')}?{self.query}"
