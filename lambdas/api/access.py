"""What a caller may reach: their own jobs, admins' routes, and the priorities a token may ask for."""

from __future__ import annotations

from lambdas.api.errors import Forbidden, NotFound, unavailable
from lambdas.api.owner import Caller
from lambdas.jobs.model import Job
from lambdas.jobs.ports import JobNotFound, JobRepository
from lambdas.queue.order import LOWEST


def owned_job(repository: JobRepository, owner: str, job_id: str) -> Job:
    """The caller's own job, or 404 (another owner's job is "not found" too: ids are never confirmed)."""
    try:
        with unavailable():
            return repository.get_for_owner(owner, job_id)
    except JobNotFound:
        raise NotFound(f"job {job_id} not found") from None


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
