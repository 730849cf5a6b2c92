"""Token administration: a new token for a user (shown once), the tokens by id, revoking one."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from lambdas.auth.identity import EMAIL_PATTERN, OWNER_PATTERN, Identity, Role
from lambdas.auth.ports import TokenExists, TokenRecord, TokenRegistry
from lambdas.auth.tokens import new_token
from lambdas.jobs.model import utc_iso, utc_now
from lambdas.queue.order import HIGHEST, LOWEST

_DRAWS = 3  # a new token whose id is taken (2^-64 odds) is drawn again
MAX_EMAIL_LENGTH = 320  # as Identity.email allows


class InvalidTokenRequest(ValueError):
    """A user id, role or tier a token cannot have; the message says what is allowed."""


@dataclass(frozen=True)
class IssuedToken:
    token: str
    record: TokenRecord

    def document(self) -> dict[str, Any]:
        return {"token": self.token} | record_document(self.record)


def record_document(record: TokenRecord) -> dict[str, Any]:
    """A token as `vodpipe admin tokens list --json` prints it (never the token)."""
    return {
        "token_id": record.token_id,
        "user": record.identity.owner,
        "role": record.identity.role.value,
        "max_priority": record.identity.max_priority,
        "email": record.identity.email,
        "created_at": utc_iso(record.created_at),
    }


def identity(
    user: str, role: Role | str = Role.USER, max_priority: int = HIGHEST, email: str | None = None
) -> Identity:
    """The identity a new token stands for, or InvalidTokenRequest naming the value at fault."""
    if not re.fullmatch(OWNER_PATTERN, user):
        raise InvalidTokenRequest(
            f"owner (user id) {user!r} must be 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or "
            "digit: it names the user's upload prefix"
        )
    roles = {r.value: r for r in Role}
    if str(role) not in roles:
        raise InvalidTokenRequest(f"role {str(role)!r} must be one of: {', '.join(roles)}")
    if not HIGHEST <= max_priority <= LOWEST:
        raise InvalidTokenRequest(
            f"max priority {max_priority} must be {HIGHEST} to {LOWEST}: the most urgent priority the user may ask "
            f"for ({HIGHEST}, the default, allows any)"
        )
    if email is not None and (len(email) > MAX_EMAIL_LENGTH or not re.fullmatch(EMAIL_PATTERN, email)):
        raise InvalidTokenRequest(
            f"email {email!r} is not an email address (name@example.com): the user's job completion and failure "
            "emails go there"
        )
    return Identity(owner=user, role=roles[str(role)], max_priority=max_priority, email=email)


def issue_token(
    registry: TokenRegistry,
    user: str,
    *,
    role: Role | str = Role.USER,
    max_priority: int = HIGHEST,
    email: str | None = None,
    now: datetime | None = None,
) -> IssuedToken:
    """A new token for `user` (whose job emails go to `email`, if any), registered: the token is in the answer and
    nowhere else (only its hash is kept)."""
    who = identity(user, role, max_priority, email)
    for draw in range(_DRAWS):
        token = new_token()
        try:
            return IssuedToken(token, registry.register(token, who, now or utc_now()))
        except TokenExists:
            if draw == _DRAWS - 1:
                raise
    raise AssertionError("unreachable")  # pragma: no cover
