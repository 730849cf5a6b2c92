"""The TokenRegistry contract: one suite that every implementation (in-memory fake, DynamoDB adapter) passes."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from lambdas.auth.identity import Identity, Role
from lambdas.auth.ports import TokenExists, TokenNotFound, TokenRegistry
from lambdas.auth.tokens import new_token, token_id

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def someone() -> str:
    return f"user-{uuid.uuid4().hex[:12]}"


class TokenRegistryContract:
    """Subclass it and provide a `registry` fixture: the TokenRegistry under test, over an empty table."""

    @pytest.fixture
    def registry(self) -> TokenRegistry:
        raise NotImplementedError

    def test_a_registered_token_stands_for_its_identity(self, registry: TokenRegistry) -> None:
        token, who = new_token(), Identity(owner=someone(), role=Role.ADMIN, max_priority=3)
        record = registry.register(token, who, T0)
        assert (record.token_id, record.identity, record.created_at) == (token_id(token), who, T0)
        assert registry.identity_of(token) == who
        assert registry.identity_of(new_token()) is None

    def test_a_tokens_email_is_part_of_its_identity(self, registry: TokenRegistry) -> None:
        owner = someone()
        token, who = new_token(), Identity(owner=owner, email=f"{owner}@example.com")
        registry.register(token, who, T0)
        assert registry.identity_of(token) == who
        (listed,) = [r for r in registry.tokens() if r.identity.owner == owner]
        assert listed.identity.email == who.email

    def test_tokens_are_listed_by_id_oldest_first_never_the_token(self, registry: TokenRegistry) -> None:
        tokens = [new_token() for _ in range(3)]
        owners = [someone() for _ in tokens]
        for n, (token, owner) in enumerate(zip(tokens, owners, strict=True)):
            registry.register(token, Identity(owner=owner, max_priority=n + 1), T0 - timedelta(days=n))
        listed = [r for r in registry.tokens() if r.identity.owner in owners]
        assert [(r.token_id, r.identity.owner, r.identity.max_priority) for r in listed] == [
            (token_id(tokens[n]), owners[n], n + 1) for n in (2, 1, 0)
        ]
        assert not any(token in r.model_dump_json() for r in listed for token in tokens)

    def test_a_revoked_token_is_refused_and_no_longer_listed(self, registry: TokenRegistry) -> None:
        token, keep = new_token(), new_token()
        who = Identity(owner=someone())
        registry.register(token, who, T0)
        registry.register(keep, who, T0)

        assert registry.revoke(token_id(token)).identity == who

        assert registry.identity_of(token) is None
        assert registry.identity_of(keep) == who
        assert token_id(token) not in {r.token_id for r in registry.tokens()}
        with pytest.raises(TokenNotFound):
            registry.revoke(token_id(token))

    def test_an_unknown_id_is_not_found(self, registry: TokenRegistry) -> None:
        with pytest.raises(TokenNotFound, match="0123456789abcdef"):
            registry.revoke("0123456789abcdef")

    def test_a_token_is_registered_once(self, registry: TokenRegistry) -> None:
        token = new_token()
        registry.register(token, Identity(owner=someone()), T0)
        with pytest.raises(TokenExists):
            registry.register(token, Identity(owner=someone(), role=Role.ADMIN), T0)
        assert registry.identity_of(token) is not None
        assert registry.identity_of(token).role is Role.USER  # type: ignore[union-attr]
