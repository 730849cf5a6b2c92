"""Bearer tokens: made at random, known by their SHA-256 only, read strictly from the `Authorization` header."""

from __future__ import annotations

import hashlib
import re
import secrets

from lambdas.auth.ports import TokenStore

# Owners are path segments of upload keys (`uploads/{owner}/…`): nothing that could climb out of one.
OWNER_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
_BEARER = re.compile(r"^Bearer\s+(?P<token>[A-Za-z0-9._~+/=-]{16,512})\s*$", re.IGNORECASE)


def new_token() -> str:
    """An opaque random token; the user it stands for is whatever its stored item says."""
    return secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def bearer_token(header: str | None) -> str | None:
    """The token in an `Authorization: Bearer <token>` header; None for anything else."""
    if not header:
        return None
    match = _BEARER.fullmatch(header.strip())
    return match["token"] if match else None


def authenticate(store: TokenStore, header: str | None) -> str | None:
    """The owner named by a bearer `Authorization` header, or None (missing, malformed or unknown)."""
    token = bearer_token(header)
    if token is None:
        return None
    owner = store.owner_of(token)
    return owner if owner is not None and re.fullmatch(OWNER_PATTERN, owner) else None
