"""Who a token stands for: its owner, role and priority tier, and how the authorizer's context carries them."""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from lambdas.queue.order import HIGHEST, LOWEST

# Owners are path segments of upload keys (`uploads/{owner}/…`): nothing that could climb out of one.
OWNER_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"

# The authorizer's context keys (requestContext.authorizer.<key> in the API function's event).
OWNER_KEY, ROLE_KEY, MAX_PRIORITY_KEY, EMAIL_KEY = "owner", "role", "max_priority", "email"
# Where a job's owner is told it ended (lambdas/notify); a plain shape check, the mail server is the judge.
EMAIL_PATTERN = r"^[^@\s]{1,64}@[^@\s]{1,252}\.[^@\s.]{2,63}$"


class Role(StrEnum):
    USER = "user"
    ADMIN = "admin"


class Identity(BaseModel):
    """A token's rights. `max_priority` is the most urgent priority it may ask for: priority 1 is the most urgent,
    so 4 allows 4 to 10 and the default, 1, allows any. Admins may ask for any priority whatever their tier."""

    model_config = ConfigDict(frozen=True)

    owner: Annotated[str, StringConstraints(pattern=OWNER_PATTERN)]
    role: Role = Role.USER
    max_priority: Annotated[int, Field(ge=HIGHEST, le=LOWEST)] = HIGHEST
    email: Annotated[str, StringConstraints(pattern=EMAIL_PATTERN, max_length=320)] | None = None

    @property
    def is_admin(self) -> bool:
        return self.role is Role.ADMIN

    def context(self) -> dict[str, str | int]:
        """The authorizer's context: strings and numbers only, as API Gateway allows (it passes them on as strings)."""
        values: dict[str, str | int] = {
            OWNER_KEY: self.owner,
            ROLE_KEY: self.role.value,
            MAX_PRIORITY_KEY: self.max_priority,
        }
        if self.email:
            values[EMAIL_KEY] = self.email
        return values

    @classmethod
    def from_values(
        cls, owner: object, role: object = None, max_priority: object = None, email: object = None
    ) -> Identity | None:
        """An identity from stored or passed-on values; a missing role is "user", a missing tier 1; None if any
        value is invalid (an unknown role, a tier outside 1..10, an owner that is not path-safe)."""
        if not isinstance(owner, str) or isinstance(max_priority, bool):
            return None
        values: dict[str, Any] = {"owner": owner}
        if role not in (None, ""):
            values["role"] = role
        if max_priority not in (None, ""):
            text = str(max_priority).strip()
            if not text.isdigit():
                return None
            values["max_priority"] = int(text)
        if email not in (None, ""):
            values["email"] = email
        try:
            return cls.model_validate(values)
        except ValidationError:
            return None

    @classmethod
    def from_context(cls, authorizer: Mapping[str, Any]) -> Identity | None:
        """The identity in requestContext.authorizer; the owner falls back to principalId (older authorizers)."""
        owner = authorizer.get(OWNER_KEY) or authorizer.get("principalId")
        return cls.from_values(
            owner, authorizer.get(ROLE_KEY), authorizer.get(MAX_PRIORITY_KEY), authorizer.get(EMAIL_KEY)
        )
