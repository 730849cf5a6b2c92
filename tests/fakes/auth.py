"""An in-memory TokenStore for unit tests: the same lookups as the DynamoDB store, by the token's hash."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lambdas.auth.tokens import token_hash

if TYPE_CHECKING:
    from lambdas.auth.ports import TokenStore


class InMemoryTokenStore:
    def __init__(self) -> None:
        self._owners: dict[str, str] = {}

    def add(self, token: str, owner: str) -> None:
        self._owners[token_hash(token)] = owner

    def owner_of(self, token: str) -> str | None:
        return self._owners.get(token_hash(token))


if TYPE_CHECKING:

    def _implements_port(store: InMemoryTokenStore) -> TokenStore:
        return store
