"""Fakes of the private-playback ports (lambdas/playback/ports.py)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from lambdas.playback.ports import ManifestNotFound, ManifestReader, PrefixGrant, UrlSigner


class FakeSigner:
    """Signs by naming the key and the expiry: what a test can check, not a secret."""

    def __init__(self) -> None:
        self.signed: list[tuple[str, datetime]] = []

    def sign(self, key: str, expires_at: datetime) -> str:
        self.signed.append((key, expires_at))
        return f"https://media.example/{key}?expires={int(expires_at.timestamp())}&signature=fake"

    def sign_prefix(self, prefix: str, expires_at: datetime) -> PrefixGrant | None:
        del prefix, expires_at
        return None  # like S3: one object per signature


class FakePrefixSigner(FakeSigner):
    """A signer with prefix grants, as CloudFront's: one grant per manifest answer, recorded."""

    def __init__(self) -> None:
        super().__init__()
        self.grants: list[tuple[str, datetime]] = []

    def sign_prefix(self, prefix: str, expires_at: datetime) -> FakeGrant:
        self.grants.append((prefix, expires_at))
        return FakeGrant(prefix, int(expires_at.timestamp()))


@dataclass(frozen=True)
class FakeGrant:
    prefix: str
    expires: int

    def url(self, key: str) -> str:
        assert key.startswith(self.prefix)
        return f"https://cdn.example/{key}?grant={self.prefix}&expires={self.expires}"


class DictManifests:
    def __init__(self, texts: dict[str, str] | None = None) -> None:
        self.texts = dict(texts or {})

    def read(self, key: str) -> str:
        if key not in self.texts:
            raise ManifestNotFound(key)
        return self.texts[key]


def _implements_ports(
    signer: FakeSigner, prefixed: FakePrefixSigner, grant: FakeGrant, manifests: DictManifests
) -> tuple[UrlSigner, UrlSigner, PrefixGrant, ManifestReader]:
    return signer, prefixed, grant, manifests
