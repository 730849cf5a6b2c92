"""A token's identity: the authorizer's context as API Gateway passes it on, stored items old and new."""

from __future__ import annotations

import pytest

from lambdas.auth.identity import Identity, Role


def test_the_context_round_trips_through_api_gateways_strings() -> None:
    who = Identity(owner="carol", role=Role.ADMIN, max_priority=4)
    passed_on = {"principalId": "carol"} | {key: str(value) for key, value in who.context().items()}
    assert Identity.from_context(passed_on) == who
    assert who.is_admin
    assert not Identity(owner="alice").is_admin


def test_missing_values_read_as_a_user_without_a_tier() -> None:
    assert Identity.from_context({"principalId": "alice"}) == Identity(owner="alice", role=Role.USER, max_priority=1)
    assert Identity.from_values("alice", "", "") == Identity(owner="alice")


@pytest.mark.parametrize(
    ("owner", "role", "max_priority"),
    [
        ("../bob", None, None),
        (None, "user", 1),
        ("alice", "root", None),
        ("alice", "ADMIN", None),
        ("alice", None, "0"),
        ("alice", None, 11),
        ("alice", None, "1.5"),
        ("alice", None, True),
    ],
)
def test_invalid_values_are_no_identity(owner: object, role: object, max_priority: object) -> None:
    assert Identity.from_values(owner, role, max_priority) is None
