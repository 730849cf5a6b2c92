"""An in-memory TokenRegistry for unit tests: the same lookups as the DynamoDB store, by the token's hash."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from lambdas.auth.identity import Identity, Role
from lambdas.auth.ports import TokenExists, TokenNotFound, TokenRecord
from lambdas.auth.tokens import token_hash, token_id_of_hash

if TYPE_CHECKING:
    from lambdas.auth.ports import TokenRegistry


@dataclass(frozen=True)
class _Stored:
    """As the table holds it: raw values, read back into an Identity on each lookup (an invalid one reads as None)."""

    owner: str
    role: str | None
    max_priority: int | None
    created_at: datetime
    listed: bool
    email: str | None = None


class InMemoryTokenStore:
    def __init__(self) -> None:
        self._tokens: dict[str, _Stored] = {}  # by hash

    def add(
        self,
        token: str,
        owner: str,
        *,
        role: Role | str | None = None,
        max_priority: int | None = None,
        created_at: datetime | None = None,
    ) -> None:
        """A token item as any writer may have left it, unlisted (like those made before listing existed)."""
        role = role.value if isinstance(role, Role) else role
        moment = created_at or datetime(2026, 1, 1, tzinfo=UTC)
        self._tokens[token_hash(token)] = _Stored(owner, role, max_priority, moment, listed=False)

    def identity_of(self, token: str) -> Identity | None:
        stored = self._tokens.get(token_hash(token))
        if stored is None:
            return None
        return Identity.from_values(stored.owner, stored.role, stored.max_priority, stored.email)

    def register(self, token: str, identity: Identity, created_at: datetime) -> TokenRecord:
        digest = token_hash(token)
        token_id = token_id_of_hash(digest)
        if digest in self._tokens or any(token_id_of_hash(d) == token_id for d in self._tokens):
            raise TokenExists(f"token id {token_id} is taken")
        self._tokens[digest] = _Stored(
            identity.owner, identity.role.value, identity.max_priority, created_at, listed=True, email=identity.email
        )
        return TokenRecord(token_id=token_id, identity=identity, created_at=created_at)

    def tokens(self) -> list[TokenRecord]:
        records = [self._record(digest, stored) for digest, stored in self._tokens.items() if stored.listed]
        return sorted((r for r in records if r is not None), key=lambda r: (r.created_at, r.token_id))

    def revoke(self, token_id: str) -> TokenRecord:
        for digest, stored in list(self._tokens.items()):
            record = self._record(digest, stored)
            if stored.listed and record is not None and record.token_id == token_id:
                del self._tokens[digest]
                return record
        raise TokenNotFound(token_id)

    @staticmethod
    def _record(digest: str, stored: _Stored) -> TokenRecord | None:
        identity = Identity.from_values(stored.owner, stored.role, stored.max_priority, stored.email)
        if identity is None:
            return None
        return TokenRecord(token_id=token_id_of_hash(digest), identity=identity, created_at=stored.created_at)


if TYPE_CHECKING:

    def _implements_port(store: InMemoryTokenStore) -> TokenRegistry:
        return store
