"""The token store as the authorizer needs it; the DynamoDB adapter and the test fake both implement it."""

from __future__ import annotations

from typing import Protocol


class TokenStore(Protocol):
    def owner_of(self, token: str) -> str | None:
        """The user a token belongs to; None if it is unknown."""
        ...
