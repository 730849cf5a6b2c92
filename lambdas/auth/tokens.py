"""Bearer tokens: made at random, known by their SHA-256 only, read strictly from the `Authorization` header."""

from __future__ import annotations

import hashlib
import re
import secrets

from lambdas.auth.identity import Identity
from lambdas.auth.ports import TokenStore

_BEARER = re.compile(r"^Bearer\s+(?P<token>[A-Za-z0-9._~+/=-]{16,512})\s*$", re.IGNORECASE)
# A token's public id: a prefix of its hash, enough to tell tokens apart (64 bits), useless to guess one.
TOKEN_ID_LENGTH = 16
TOKEN_ID_PATTERN = rf"^[0-9a-f]{{{TOKEN_ID_LENGTH}}}$"


def new_token() -> str:
    """An opaque random token; the user it stands for is whatever its stored item says."""
    return secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def token_id(token: str) -> str:
    """The id administrators list and revoke a token by (the token itself is shown once, when it is made)."""
    return token_id_of_hash(token_hash(token))


def token_id_of_hash(digest: str) -> str:
    return digest[:TOKEN_ID_LENGTH]


def bearer_token(header: str | None) -> str | None:
    """The token in an `Authorization: Bearer <token>` header; None for anything else."""
    if not header:
        return None
    match = _BEARER.fullmatch(header.strip())
    return match["token"] if match else None


def authenticate(store: TokenStore, header: str | None) -> Identity | None:
    """Who a bearer `Authorization` header stands for, or None (missing, malformed or unknown)."""
    token = bearer_token(header)
    return None if token is None else store.identity_of(token)
