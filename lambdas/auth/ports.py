"""The token store as the authorizer needs it, and as the admin tools manage it; the DynamoDB adapter and the test
fake both implement it."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from pydantic import BaseModel, ConfigDict

from lambdas.auth.identity import Identity
from lambdas.jobs.model import UtcDatetime


class TokenNotFound(Exception):
    def __init__(self, token_id: str) -> None:
        self.token_id = token_id
        super().__init__(f"no token with id {token_id}")


class TokenExists(Exception):
    """A token (or its public id) is registered already: draw another."""


class TokenStoreUnavailable(Exception):
    """The store could not answer (its table missing, throttled, unreachable): not the same as an unknown token.

    The authorizer must fail on it rather than refuse: API Gateway then answers 500 to that request, where an
    "Unauthorized" would answer 401 to every caller, and cache it, while the store is away."""


class TokenRecord(BaseModel):
    """A registered token as administrators see it: never the token, nor its hash."""

    model_config = ConfigDict(frozen=True)

    token_id: str
    identity: Identity
    created_at: UtcDatetime


class TokenStore(Protocol):
    def identity_of(self, token: str) -> Identity | None:
        """Who a token stands for; None if it is unknown (or its item invalid); TokenStoreUnavailable if the store
        could not be read."""
        ...


class TokenRegistry(TokenStore, Protocol):
    """Tokens as the admin tools manage them: registered, listed (without reading every job), revoked by id."""

    def register(self, token: str, identity: Identity, created_at: datetime) -> TokenRecord:
        """Store a new token's hash with its identity; TokenExists if the token or its id is taken."""
        ...

    def tokens(self) -> list[TokenRecord]:
        """Every registered token, oldest first (tokens made before listing existed are not among them)."""
        ...

    def revoke(self, token_id: str) -> TokenRecord:
        """Remove a token by its public id: the authorizer refuses it from then on (once its cached answer
        expires); TokenNotFound if there is none."""
        ...
