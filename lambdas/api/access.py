"""What a caller's role and tier allow: admins' routes, and the priorities a token may ask for."""

from __future__ import annotations

from lambdas.api.errors import Forbidden
from lambdas.api.owner import Caller
from lambdas.queue.order import LOWEST


def require_admin(caller: Caller) -> None:
    """Forbidden (403) unless the caller's token has the admin role."""
    if not caller.is_admin:
        raise Forbidden(
            f"this needs an admin token: {caller.owner}'s token has the role {caller.role.value} "
            "(`vodpipe admin tokens create --role admin` makes one)",
            field="Authorization",
        )


def check_priority(caller: Caller, priority: int, field: str = "priority") -> None:
    """Forbidden (403), naming `field`, when `priority` is more urgent (a lower number) than the caller's tier
    allows; admins may ask for any priority."""
    if caller.is_admin or priority >= caller.max_priority:
        return
    raise Forbidden(
        f"priority {priority} is above your tier: this token may request priority {caller.max_priority} to {LOWEST} "
        "(1 is the most urgent)",
        field=field,
    )
